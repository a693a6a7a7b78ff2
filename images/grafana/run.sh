#!/bin/bash -e
# Ours, as the grafana/grafana image's /run.sh: check the folders, turn every GF_<NAME>__FILE variable into
# GF_<NAME> read from that file, then start the server (here: the payment-platform Grafana STAND-IN).
PERMISSIONS_OK=0
if [ ! -r "$GF_PATHS_CONFIG" ]; then
  echo "GF_PATHS_CONFIG='$GF_PATHS_CONFIG' is not readable."
  PERMISSIONS_OK=1
fi
if [ ! -w "$GF_PATHS_DATA" ]; then
  echo "GF_PATHS_DATA='$GF_PATHS_DATA' is not writable."
  PERMISSIONS_OK=1
fi
if [ ! -r "$GF_PATHS_HOME" ]; then
  echo "GF_PATHS_HOME='$GF_PATHS_HOME' is not readable."
  PERMISSIONS_OK=1
fi
if [ $PERMISSIONS_OK -eq 1 ]; then
  echo "You may have issues with file permissions, more information here: http://docs.grafana.org/installation/docker/#migrate-to-v51-or-later"
fi
if [ ! -d "$GF_PATHS_PLUGINS" ]; then
  mkdir "$GF_PATHS_PLUGINS"
fi

for VAR_NAME in $(env | grep '^GF_[^=]\+__FILE=.\+' | sed -r "s/([^=]*)__FILE=.*/\1/g"); do
  VAR_NAME_FILE="$VAR_NAME"__FILE
  if [ "${!VAR_NAME}" ]; then
    echo >&2 "ERROR: Both $VAR_NAME and $VAR_NAME_FILE are set (but are exclusive)"
    exit 1
  fi
  echo "Getting secret $VAR_NAME from ${!VAR_NAME_FILE}"
  export "$VAR_NAME"="$(<"${!VAR_NAME_FILE}")"
  unset "$VAR_NAME_FILE"
done

export HOME="$GF_PATHS_HOME"

exec grafana server \
  --homepath="$GF_PATHS_HOME" \
  --config="$GF_PATHS_CONFIG" \
  --packaging=docker \
  "$@" \
  cfg:default.log.mode="console" \
  cfg:default.paths.data="$GF_PATHS_DATA" \
  cfg:default.paths.logs="$GF_PATHS_LOGS" \
  cfg:default.paths.plugins="$GF_PATHS_PLUGINS" \
  cfg:default.paths.provisioning="$GF_PATHS_PROVISIONING"
