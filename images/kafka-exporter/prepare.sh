#!/bin/sh
# Builds the kafka_exporter stand-in (src/main.go, ours) with IBM/sarama and the Prometheus client from the
# Go module proxy into $OUT/kafka_exporter. Cached: with the same source already built it does nothing.
#
# Why a stand-in: the pin is danielqsj/kafka-exporter:v1.9.0, and the Go module proxy reachable here refuses
# github.com/danielqsj/kafka_exporter (403 "This module version is not available" for v1.9.0, v1.8.0 and
# the version list).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../go-build.sh"
SARAMA=v1.61.1
PROMETHEUS=v1.23.2
key="sarama $SARAMA prometheus $PROMETHEUS $(sha256sum "$here/src/main.go" | cut -d' ' -f1)"
if go_cached kafka_exporter "$key"; then
  echo "kafka_exporter stand-in: cached in $OUT"
  exit 0
fi

go_workdir kafka-exporter-standin
cp "$here/src/main.go" main.go
go get "github.com/IBM/sarama@$SARAMA" "github.com/prometheus/client_golang@$PROMETHEUS"
go mod tidy
nice go build -trimpath -ldflags "-s -w" -o "$OUT/kafka_exporter.tmp" .
go_done kafka_exporter "$key" "kafka_exporter stand-in"
