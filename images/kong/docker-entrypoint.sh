#!/bin/sh
# Ours, as the kong image's /docker-entrypoint.sh does for its settings: every KONG_<NAME>_FILE variable
# becomes KONG_<NAME>, read from that file (setting both is an error); then the command runs (by default
# `kong docker-start`, the payment-platform Kong STAND-IN in the foreground).
set -eu
for assignment in $(env | sed -n 's/^\(KONG_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
  direct=$(printenv "$assignment" || true)
  file=$(printenv "${assignment}_FILE")
  if [ -n "$direct" ]; then
    echo "error: both $assignment and ${assignment}_FILE are set (but are exclusive)" >&2
    exit 1
  fi
  value=$(cat "$file")
  export "$assignment=$value"
  unset "${assignment}_FILE"
done
exec "$@"
