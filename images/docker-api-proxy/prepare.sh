#!/bin/sh
# Builds docker-api-proxy (src/main.go, ours, Go standard library only) into $OUT/docker-api-proxy, after its
# unit tests (src/main_test.go: the allow-list and the Env redaction) pass. Cached: with the same source already
# built it does nothing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../go-build.sh"
key="$(go env GOVERSION) $(cat "$here/src/main.go" "$here/src/main_test.go" | sha256sum | cut -d' ' -f1)"
if go_cached docker-api-proxy "$key"; then
  echo "docker-api-proxy: cached in $OUT"
  exit 0
fi

go_workdir docker-api-proxy
cp "$here/src/main.go" "$here/src/main_test.go" .
go vet .
nice go test -count=1 .
nice go build -trimpath -ldflags "-s -w" -o "$OUT/docker-api-proxy.tmp" .
go_done docker-api-proxy "$key" "docker-api-proxy"
