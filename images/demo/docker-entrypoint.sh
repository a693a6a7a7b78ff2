#!/bin/sh
# /docker-entrypoint.sh of payment-local/demo: runs the command as given, as the official image's does once its
# /docker-entrypoint.d scripts (which edit only /etc/nginx's default config) are done.
set -eu
exec "$@"
