"""cachefleet's Python tools: the libraries behind the entry points in scripts/ (`cachefleet`,
`lab.sh`), the end-to-end tests (tests/e2e) and the benchmarks (bench/). Run by /usr/bin/python3;
only the standard library, plus boto3 and redis-py (Debian's) where a module says so.

Entry points in scripts/ import the package directly (Python puts the script's own directory on
sys.path). Everything else puts scripts/ on PYTHONPATH: ctest does it for the e2e tests
(tests/CMakeLists.txt), bench/README.md's commands do it for the benchmarks, and the package
does it for the client processes it starts itself (procs.module_argv).

  slots           Redis Cluster slots: key_slot (CRC16), slot range text, CLUSTER NODES parsing
  procs           local processes: liveness, /proc, PR_SET_PDEATHSIG, stop by PID, `python -m`
  ports           free node-port ranges, reserved across concurrent labs
  lab             the lab (orchestrator + 3 agents): configs, start, stop, restart, state
  lab_cli         scripts/lab.sh's commands (up, down, status, demo)
  rediscli        redis-cli helpers (cluster check, CLUSTER NODES, write / read keys)
  aws             boto3 ElastiCache clients (the lab's keys or any endpoint)
  resp            a minimal pipelined RESP2 connection
  dataset         a deterministic data set: load / verify per slot owner, topology readers
  workload        a RedisCluster client under load (in-process, or `python3 -m cftools.workload`)
  watch           `cachefleet watch` / `operations`: the operations endpoint and progress lines
  errors          exit codes shared by the command lines
  drill           `cachefleet drill`: the Drill (discovery, action, recovery, report)
  drill_client    the drill's writing client: resolvers, standalone and cluster writers
  drill_load      that client in its own process (LoadProcess) and its records
  drill_analysis  outage windows, load summary, lost-write verification
  drill_local     lab-local actions: kill a primary / a host, restart an agent
  drill_report    the drill report for humans
"""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
