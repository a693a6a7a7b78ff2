#!/bin/sh
# Ours, in place of the distribution's script of the same name: runs kafka.tools.StorageTool.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
