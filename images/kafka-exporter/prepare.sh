#!/bin/sh
# Builds the kafka_exporter stand-in (src/main.go, ours) with IBM/sarama and the Prometheus client from the
# Go module proxy into $OUT/kafka_exporter. Cached: with the same source already built it does nothing.
#
# Why a stand-in: the pin is danielqsj/kafka-exporter:v1.9.0, and the Go module proxy reachable here refuses
# github.com/danielqsj/kafka_exporter (403 "This module version is not available" for v1.9.0, v1.8.0 and
# the version list).
set -eu
: "${OUT:?set OUT to the artifacts folder (scripts/images.py does)}"
SARAMA=v1.61.1
PROMETHEUS=v1.23.2
here=$(cd "$(dirname "$0")" && pwd)
key="sarama $SARAMA prometheus $PROMETHEUS $(sha256sum "$here/src/main.go" | cut -d' ' -f1)"
stamp="$OUT/kafka_exporter.version"
if [ -x "$OUT/kafka_exporter" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
  echo "kafka_exporter stand-in: cached in $OUT"
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform"
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}" GOCACHE="${GOCACHE:-$cache/go/build}"
# sum.golang.org is not reachable here; the proxy's content is trusted as the module source.
export GOSUMDB=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
work="$cache/go/work/kafka-exporter-standin"
mkdir -p "$work" "$OUT"
cp "$here/src/main.go" "$work/main.go"
cd "$work"
[ -f go.mod ] || go mod init payment-local/kafka-exporter >/dev/null 2>&1
go get "github.com/IBM/sarama@$SARAMA" "github.com/prometheus/client_golang@$PROMETHEUS"
go mod tidy
start=$(date +%s)
nice go build -trimpath -ldflags "-s -w" -o "$OUT/kafka_exporter.tmp" .
mv "$OUT/kafka_exporter.tmp" "$OUT/kafka_exporter"
echo "$key" >"$stamp"
echo "kafka_exporter stand-in: built in $(($(date +%s) - start)) s"
