#!/usr/bin/env bash
# docker-entrypoint.sh of payment-local/postgres: the part of the official image's entrypoint the platform
# relies on, written anew (components/postgres.py runs `docker-entrypoint.sh postgres -c ...` as 999:999):
#
# * `docker-entrypoint.sh -c x=y` means `postgres -c x=y`; any other command runs as given.
# * Started as root, it makes PGDATA postgres-owned and re-runs itself as postgres (setpriv, not gosu).
# * On an empty PGDATA, initdb as POSTGRES_USER (default postgres) with the password from POSTGRES_PASSWORD or
#   the file named by POSTGRES_PASSWORD_FILE (required unless POSTGRES_HOST_AUTH_METHOD=trust), extra
#   POSTGRES_INITDB_ARGS, and a final `host all all all <POSTGRES_HOST_AUTH_METHOD or scram-sha-256>` line
#   in pg_hba.conf, as the official image does. A volume that already holds a cluster is used as is.
#
# Not implemented, and refused rather than ignored: POSTGRES_DB other than the user name, and scripts in
# /docker-entrypoint-initdb.d (the official image runs both through a temporary server).
set -Eeuo pipefail

die() { echo "docker-entrypoint.sh: error: $*" >&2; exit 1; }

# VAR from VAR or VAR_FILE (not both), like the official file_env.
file_env() {
    local var="$1" file_var="${1}_FILE" default="${2:-}"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        die "both $var and $file_var are set (they are exclusive)"
    fi
    local value="$default"
    if [ -n "${!var:-}" ]; then
        value="${!var}"
    elif [ -n "${!file_var:-}" ]; then
        value="$(<"${!file_var}")"
    fi
    export "$var"="$value"
    unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
    exec "$@"
fi

mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" 2>/dev/null || :
mkdir -p /var/run/postgresql 2>/dev/null || :
chmod 03775 /var/run/postgresql 2>/dev/null || :

if [ "$(id -u)" = '0' ]; then
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    if [ "$POSTGRES_DB" != "$POSTGRES_USER" ]; then
        die "POSTGRES_DB is not supported by this local image (it is $POSTGRES_DB, not $POSTGRES_USER)"
    fi
    if [ -n "$(ls -A /docker-entrypoint-initdb.d 2>/dev/null)" ]; then
        die "/docker-entrypoint-initdb.d scripts are not supported by this local image"
    fi
    if [ -z "$POSTGRES_PASSWORD" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != 'trust' ]; then
        die "the database is uninitialised and no superuser password is given: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE"
    fi
    echo "docker-entrypoint.sh: initialising $PGDATA" >&2
    # The password goes through a pipe, never a file or a command line.
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
    auth="${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption)}"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    unset POSTGRES_PASSWORD
    echo "docker-entrypoint.sh: $PGDATA initialised" >&2
fi

exec "$@"
