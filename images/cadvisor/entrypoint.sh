#!/bin/sh
# Ours, as the official image's /usr/bin/entrypoint.sh (v0.60.6): cAdvisor logging to stderr, then the
# container's command as its flags.
set -e
exec /usr/bin/cadvisor -logtostderr "$@"
