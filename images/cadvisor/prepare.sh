#!/bin/sh
# Builds the cAdvisor server (src/main.go, ours) against cAdvisor's libraries from the Go module proxy into
# $OUT/cadvisor. Cached: with the same version and source already built it does nothing.
#
# Version: the pin is ghcr.io/google/cadvisor:v0.60.6. Its main package lives in the separate module
# github.com/google/cadvisor/cmd, which the proxy reachable here does not serve (404 for every version);
# github.com/google/cadvisor and github.com/google/cadvisor/lib are served at v0.60.6, the same release.
set -eu
: "${OUT:?set OUT to the artifacts folder (scripts/images.py does)}"
VERSION=v0.60.6
here=$(cd "$(dirname "$0")" && pwd)
key="$VERSION $(sha256sum "$here/src/main.go" | cut -d' ' -f1)"
stamp="$OUT/cadvisor.version"
if [ -x "$OUT/cadvisor" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
  echo "cadvisor $VERSION: cached in $OUT"
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform"
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}" GOCACHE="${GOCACHE:-$cache/go/build}"
# sum.golang.org is not reachable here; the proxy's content is trusted as the module source.
export GOSUMDB=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
work="$cache/go/work/cadvisor-$VERSION"
mkdir -p "$work" "$OUT"
cp "$here/src/main.go" "$work/main.go"
cd "$work"
[ -f go.mod ] || go mod init payment-local/cadvisor >/dev/null 2>&1
go get "github.com/google/cadvisor@$VERSION" "github.com/google/cadvisor/lib@$VERSION"
go mod tidy
start=$(date +%s)
nice go build -trimpath -o "$OUT/cadvisor.tmp" -ldflags "-s -w \
  -X github.com/google/cadvisor/lib/version.Version=$VERSION \
  -X github.com/google/cadvisor/lib/version.Revision=payment-local" .
mv "$OUT/cadvisor.tmp" "$OUT/cadvisor"
echo "$key" >"$stamp"
echo "cadvisor $VERSION: built in $(($(date +%s) - start)) s"
