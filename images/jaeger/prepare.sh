#!/bin/sh
# Builds Jaeger v2 (`cmd/jaeger`) from its Go module into $OUT: jaeger-linux and sampling-strategies.json,
# the two files the official image copies. Cached: with the same version already in $OUT it does nothing.
#
# Version: the official image the program pins is jaegertracing/jaeger:2.22.0. The Go module is tagged with
# the v1 numbers of each release (v1.76.0 is the commit released as v2.13.0), and the Go module proxy
# reachable here serves up to v1.76.0, so this builds Jaeger v2.13.0.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../go-build.sh"
MODULE=github.com/jaegertracing/jaeger
VERSION=v1.76.0
RELEASE=v2.13.0

if go_cached jaeger-linux "$VERSION" && [ -f "$OUT/sampling-strategies.json" ]; then
  echo "jaeger $RELEASE ($MODULE@$VERSION): cached in $OUT"
  exit 0
fi

go_workdir "jaeger-$VERSION"
go get "$MODULE/cmd/jaeger@$VERSION"
# The one replace directive of Jaeger's own go.mod (a `go get` of it as a dependency ignores it).
go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
nice go build -trimpath -o "$OUT/jaeger-linux.tmp" \
  -ldflags "-s -w -X $MODULE/internal/version.latestVersion=$RELEASE" "$MODULE/cmd/jaeger"
cp "$GOMODCACHE/$MODULE@$VERSION/cmd/jaeger/sampling-strategies.json" "$OUT/sampling-strategies.json"
chmod 0644 "$OUT/sampling-strategies.json"
go_done jaeger-linux "$VERSION" "jaeger $RELEASE"
