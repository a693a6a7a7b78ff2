#!/bin/sh
# Builds Jaeger v2 (`cmd/jaeger`) from its Go module into $OUT: jaeger-linux and sampling-strategies.json,
# the two files the official image copies. Cached: with the same version already in $OUT it does nothing.
#
# Version: the official image the program pins is jaegertracing/jaeger:2.22.0. The Go module is tagged with
# the v1 numbers of each release (v1.76.0 is the commit released as v2.13.0), and the Go module proxy
# reachable here serves up to v1.76.0, so this builds Jaeger v2.13.0.
set -eu
: "${OUT:?set OUT to the artifacts folder (scripts/images.py does)}"
MODULE=github.com/jaegertracing/jaeger
VERSION=v1.76.0
RELEASE=v2.13.0

stamp="$OUT/jaeger.version"
if [ -x "$OUT/jaeger-linux" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSION" ]; then
  echo "jaeger $RELEASE ($MODULE@$VERSION): cached in $OUT"
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform"
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}" GOCACHE="${GOCACHE:-$cache/go/build}"
# sum.golang.org is not reachable here; the proxy's content is trusted as the module source.
export GOSUMDB=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
work="$cache/go/work/jaeger-$VERSION"
mkdir -p "$work" "$OUT"
cd "$work"
[ -f go.mod ] || go mod init payment-local/jaeger-build >/dev/null 2>&1
go get "$MODULE/cmd/jaeger@$VERSION"
# The one replace directive of Jaeger's own go.mod (a `go get` of it as a dependency ignores it).
go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
start=$(date +%s)
nice go build -trimpath -o "$OUT/jaeger-linux.tmp" \
  -ldflags "-s -w -X $MODULE/internal/version.latestVersion=$RELEASE" "$MODULE/cmd/jaeger"
mv "$OUT/jaeger-linux.tmp" "$OUT/jaeger-linux"
cp "$GOMODCACHE/$MODULE@$VERSION/cmd/jaeger/sampling-strategies.json" "$OUT/sampling-strategies.json"
chmod 0644 "$OUT/sampling-strategies.json"
echo "$VERSION" >"$stamp"
echo "jaeger $RELEASE: built in $(($(date +%s) - start)) s"
