#!/bin/sh
# Builds the cAdvisor server (src/main.go, ours) against cAdvisor's libraries from the Go module proxy into
# $OUT/cadvisor. Cached: with the same version and source already built it does nothing.
#
# Version: the pin is ghcr.io/google/cadvisor:v0.60.6. Its main package lives in the separate module
# github.com/google/cadvisor/cmd, which the proxy reachable here does not serve (404 for every version);
# github.com/google/cadvisor and github.com/google/cadvisor/lib are served at v0.60.6, the same release.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../go-build.sh"
VERSION=v0.60.6
key="$VERSION $(sha256sum "$here/src/main.go" | cut -d' ' -f1)"
if go_cached cadvisor "$key"; then
  echo "cadvisor $VERSION: cached in $OUT"
  exit 0
fi

go_workdir "cadvisor-$VERSION"
cp "$here/src/main.go" main.go
go get "github.com/google/cadvisor@$VERSION" "github.com/google/cadvisor/lib@$VERSION"
go mod tidy
nice go build -trimpath -o "$OUT/cadvisor.tmp" -ldflags "-s -w \
  -X github.com/google/cadvisor/lib/version.Version=$VERSION \
  -X github.com/google/cadvisor/lib/version.Revision=payment-local" .
go_done cadvisor "$key" "cadvisor $VERSION"
