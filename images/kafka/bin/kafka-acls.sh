#!/bin/sh
# Ours, in place of the distribution's script of the same name: runs org.apache.kafka.tools.AclCommand.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.AclCommand "$@"
