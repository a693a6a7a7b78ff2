#!/bin/sh
# docker-entrypoint.sh of payment-local/redis: the official redis image's entrypoint behaviour, written anew.
# * `docker-entrypoint.sh --opt` or `docker-entrypoint.sh x.conf` means `redis-server ...`.
# * Started as root, it makes /data redis-owned and re-runs itself as redis (setpriv, not gosu).
# * A default umask 0022 becomes 0077: what Redis writes is its own.
# * Without a config file that sets `protected-mode`, `--protected-mode no` is appended, as the official image
#   does (its Redis is reached over a container network). components/redis.py sets it in its config.
set -eu

case "${1:-}" in
    -* | *.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$(umask)" = '0022' ]; then
    umask 0077
fi

if [ "${1:-}" = 'redis-server' ]; then
    protected=1
    if [ -f "${2:-}" ] && grep -q '^protected-mode' "$2"; then
        protected=
    fi
    for arg; do
        case "$arg" in --protected-mode) protected= ;; esac
    done
    if [ -n "$protected" ]; then
        set -- "$@" --protected-mode no
    fi
fi

exec "$@"
