#!/usr/bin/env bash
# The Pulumi toolchain for machines that cannot download Pulumi's release binaries: the CLI, the Python
# language host (with pulumi-language-python-exec beside it) and the docker, tls and random provider plugins,
# built with the ordinary Go toolchain from Go modules (tools/toolchain/), then installed with
# `pulumi plugin install resource NAME VERSION --file BIN`.
#
#   scripts/toolchain.sh install   build what is missing (cached), install the plugins, print the versions
#   scripts/toolchain.sh bin       print the folder holding `pulumi` (ours, or the one already on PATH)
#
# Where a Pulumi CLI is already on PATH (a laptop with Pulumi installed) nothing is built: `install` only
# makes sure the plugins are there, with `pulumi plugin install` downloading them the usual way.
#
# Binaries are cached outside the repository under ~/.cache/payment-platform/toolchain/<key>/, the key being
# a hash of everything that decides them (tools/toolchain/, this script, the plugin versions in
# requirements.txt, the Go version), so a second run takes seconds and a change to any input builds afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform"
# The Go module and build caches the image builds use too (images/*/prepare.sh).
export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}" GOCACHE="${GOCACHE:-$CACHE/go/build}"
export GOSUMDB=off          # sum.golang.org is out of reach; the committed go.sum files pin every module
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local
export PULUMI_SKIP_UPDATE_CHECK=true

# The plugin versions are the ones the Python SDKs request (their pulumi-plugin.json says the same).
plugin_version() { sed -n "s/^pulumi-$1==\([0-9.]*\).*/\1/p" "$ROOT/requirements.txt"; }
PLUGINS=(docker tls random)

key() {
  {
    find tools/toolchain scripts/toolchain.sh -type f -print0 | sort -z | xargs -0 sha256sum
    for p in "${PLUGINS[@]}"; do echo "$p $(plugin_version "$p")"; done
    go version 2>/dev/null || echo "no Go"  # `bin` must answer on a machine without Go too
  } | sha256sum | cut -c1-16
}

# bin/ holds the CLI and the language host (the CLI looks for the host beside itself); the plugins are kept
# apart in plugins/ and reach the CLI through `pulumi plugin install`: a plugin on PATH would win over the
# installed one, with a warning on every run.
ours() { echo "$CACHE/toolchain/$(key)/bin"; }

# A Pulumi CLI on PATH that is not one of our builds means a machine with Pulumi installed: use it.
system_pulumi() {
  local found
  found=$(command -v pulumi 2>/dev/null) || return 1
  case "$found" in "$CACHE"/toolchain/*) return 1 ;; esac
  dirname "$found"
}

log() { printf '[toolchain] %s\n' "$*" >&2; }

# The folder of a module in the module cache, downloading it first (`go list -m` alone does not download).
module_dir() { go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p'; }

build_cli() {
  local bin=$1 work="$CACHE/toolchain-build/pulumi" version sdk_dir
  rm -rf "$work" && mkdir -p "$work" && cp -r tools/toolchain/pulumi/. "$work/"
  version=$(cd "$work" && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
  sdk_dir=$(cd "$work" && module_dir github.com/pulumi/pulumi/sdk/v3)
  log "building the Pulumi CLI $version and the Python language host"
  (cd "$work" &&
    go build -o "$bin/pulumi" -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi &&
    go build -o "$bin/pulumi-language-python" -ldflags "-s -w -X main.version=${version#v}" ./language-python)
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$bin/"
}

# Copies each module of tools/toolchain/upstreams.txt into the build folder with our files laid over it,
# builds each plugin once to generate its schema, then again with the schema embedded.
build_providers() {
  local bin=$1 work="$CACHE/toolchain-build/providers" dir module version src p v
  rm -rf "$work" && mkdir -p "$work/upstream" && cp -r tools/toolchain/providers/. "$work/"
  while read -r dir module version; do
    case "$dir" in '' | \#*) continue ;; esac
    src=$(cd "$work" && module_dir "$module@$version")
    [ -d "$src" ] || { log "could not download $module@$version"; exit 1; }
    cp -r "$src" "$work/upstream/$dir" && chmod -R u+w "$work/upstream/$dir"
    cp -r "tools/toolchain/providers/_shims/$dir/." "$work/upstream/$dir/"
  done <tools/toolchain/upstreams.txt
  rm -rf "$work/_shims"
  for p in "${PLUGINS[@]}"; do
    v=$(plugin_version "$p")
    : >"$work/cmd/pulumi-resource-$p/schema.json"
    log "building pulumi-resource-$p $v (schema pass)"
    (cd "$work" && go build -tags no_compose -o "$work/stage1/" -ldflags "-X main.version=$v" "./cmd/pulumi-resource-$p")
    (cd "$work" && "$work/stage1/pulumi-resource-$p" tfgen schema --out "$work/schema-$p" --skip-docs --skip-examples >/dev/null)
    cp "$work/schema-$p/schema.json" "$work/cmd/pulumi-resource-$p/schema.json"
    log "building pulumi-resource-$p $v"
    (cd "$work" && go build -tags no_compose -o "$bin/" -ldflags "-s -w -X main.version=$v" "./cmd/pulumi-resource-$p")
  done
}

# Our plugins go in with `pulumi plugin install --file` (skipped when that very binary is installed already);
# with a system CLI ($2 = system) missing plugins are downloaded the usual way.
install_plugins() {
  local plugins=$1 system=$2 p v installed
  for p in "${PLUGINS[@]}"; do
    v=$(plugin_version "$p")
    installed="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-$p-v$v/pulumi-resource-$p"
    if [ -z "$system" ]; then
      if ! cmp -s "$installed" "$plugins/pulumi-resource-$p"; then
        "$(dirname "$plugins")/bin/pulumi" plugin install resource "$p" "$v" --file "$plugins/pulumi-resource-$p" --reinstall >/dev/null
      fi
    elif [ ! -x "$installed" ]; then
      pulumi plugin install resource "$p" "$v"
    fi
  done
}

# Named so, not `install`, which would shadow the coreutils command build_cli uses.
setup() {
  local start=$SECONDS bin top="" system=""
  if system=$(system_pulumi); then
    log "using the Pulumi CLI on PATH ($system/pulumi); nothing to build"
    bin=$system
  else
    command -v go >/dev/null || { log "building the toolchain needs Go (https://go.dev/dl/)"; exit 1; }
    bin=$(ours)
    top=$(dirname "$bin")
    if [ ! -x "$top/plugins/pulumi-resource-${PLUGINS[-1]}" ]; then
      log "cold build into $top (takes several minutes; later runs reuse it)"
      rm -rf "$top.partial" && mkdir -p "$top.partial/bin" "$top.partial/plugins"
      build_cli "$top.partial/bin"
      build_providers "$top.partial/plugins"
      rm -rf "$top" && mv "$top.partial" "$top"
    fi
  fi
  install_plugins "${top:+$top/plugins}" "${system:+system}"
  PATH="$bin:$PATH" pulumi version >&2
  PATH="$bin:$PATH" pulumi plugin ls >&2
  log "ready in $((SECONDS - start)) s: export PATH=\"$bin:\$PATH\""
}

case "${1:-}" in
  install) setup ;;
  bin) system_pulumi || ours ;;
  *)
    echo "usage: scripts/toolchain.sh install|bin" >&2
    exit 2
    ;;
esac
