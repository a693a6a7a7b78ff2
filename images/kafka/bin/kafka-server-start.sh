#!/bin/sh
# Ours, in place of the distribution's script: the broker/controller (kafka.Kafka) with a server.properties
# file, a 1 GiB heap unless KAFKA_HEAP_OPTS says otherwise, and log4j2.yaml (console) for its logs.
set -eu
if [ $# -lt 1 ]; then
  echo "USAGE: $0 server.properties [--override property=value]*" >&2
  exit 1
fi
: "${KAFKA_HEAP_OPTS:=-Xmx1G -Xms1G}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}"
export KAFKA_HEAP_OPTS KAFKA_LOG4J_OPTS
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
