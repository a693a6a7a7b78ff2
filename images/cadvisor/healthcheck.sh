#!/bin/sh
# Ours, as the official image's /usr/bin/healthcheck.sh: probe /healthz on the port cAdvisor was started
# with (--port / -port on PID 1's command line, 8080 by default).
port=8080
if [ -r /proc/1/cmdline ]; then
  for arg in $(tr '\0' ' ' </proc/1/cmdline); do
    case "$arg" in
      -port=* | --port=*) port="${arg#*=}" ;;
    esac
  done
fi
wget --quiet --tries=1 --spider "http://localhost:${port}/healthz" || exit 1
