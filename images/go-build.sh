# Sourced (not run) by the prepare.sh of the images whose program is built with Go on the host (cadvisor,
# jaeger, kafka-exporter): the up-to-date check, the Go environment and the work module, written once.
# Not an image folder itself (no Dockerfile), so scripts/images.py passes it by.
#
#   go_cached BIN KEY        true when $OUT/BIN was built from KEY (versions and source hashes)
#   go_workdir NAME          Go environment set, cd into a work module of that name in the cache
#   go_done BIN KEY LABEL    move $OUT/BIN.tmp into place, record KEY, report the build time

: "${OUT:?set OUT to the artifacts folder (scripts/images.py does)}"
GO_CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform"
GO_BUILD_START=$(date +%s)

go_cached() {
  [ -x "$OUT/$1" ] && [ "$(cat "$OUT/$1.version" 2>/dev/null)" = "$2" ]
}

go_workdir() {
  # The module and build caches `make toolchain` uses too. sum.golang.org is not reachable here; the
  # proxy's content is trusted as the module source.
  export GOMODCACHE="${GOMODCACHE:-$GO_CACHE_ROOT/go/mod}" GOCACHE="${GOCACHE:-$GO_CACHE_ROOT/go/build}"
  export GOSUMDB=off GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
  mkdir -p "$GO_CACHE_ROOT/go/work/$1" "$OUT"
  cd "$GO_CACHE_ROOT/go/work/$1"
  [ -f go.mod ] || go mod init "payment-local/$1" >/dev/null 2>&1
  GO_BUILD_START=$(date +%s)
}

go_done() {
  mv "$OUT/$1.tmp" "$OUT/$1"
  echo "$2" >"$OUT/$1.version"
  echo "$3: built in $(($(date +%s) - GO_BUILD_START)) s"
}
