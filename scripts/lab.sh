#!/usr/bin/env bash
# The cachefleet lab on this machine: one orchestrator and three agents (host-a/lab-a,
# host-b/lab-b, host-c/lab-c) on 127.0.0.1, all state under one directory.
#
#   scripts/lab.sh up              build if needed, start everything, print endpoint + keys
#   scripts/lab.sh status          what runs (PIDs, ports, hosts, replication groups)
#   scripts/lab.sh demo            up, then create a 3-shard cluster with the AWS CLI, check it,
#                                  write/read 1000 keys; the group is left running
#   scripts/lab.sh down [--purge]  stop the daemons and their redis-servers by PID
#                                  (--purge also removes the lab directory)
#
# CACHEFLEET_LAB_DIR overrides the lab directory (default: <repo>/.lab).
# CACHEFLEET_LAB_NO_BUILD=1 skips the build step; CACHEFLEET_AGENT_BIN /
# CACHEFLEET_ORCHESTRATOR_BIN point at other binaries (default: build/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The commands are scripts/cftools/lab_cli.py, run as a module of the package beside this file.
export PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"
cmd="${1:-}"
case "$cmd" in
  up|demo)
    if [ -z "${CACHEFLEET_LAB_NO_BUILD:-}" ] &&
       ! /usr/bin/python3 -m cftools.lab_cli running >/dev/null 2>&1; then
      "$ROOT/scripts/build.sh"
    fi
    ;;
  down|status|running) ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
exec /usr/bin/python3 -m cftools.lab_cli "$@"
