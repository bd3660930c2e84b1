#!/usr/bin/python3
"""How long CreateReplicationGroup takes, compared with `redis-cli --cluster create`.

  PYTHONPATH=scripts /usr/bin/python3 bench/create_bench.py [--runs 5]

cachefleet: a private lab (orchestrator + 3 agents on free ports in a temp dir, binaries from
build/ or CACHEFLEET_AGENT_BIN / CACHEFLEET_ORCHESTRATOR_BIN) — time from the
CreateReplicationGroup call (boto3) to the first DescribeReplicationGroups that says
`available` (polled every 10 ms), for a cluster-mode-enabled group of 3 shards x 1 replica;
the group is deleted (and awaited) between runs.

redis-cli: 6 plain redis-server processes already running (cluster-enabled, started on free
ports with repl-diskless-sync-delay 0 and the agents' cluster-node-timeout), then the wall time
of `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`. It returns once slots
are assigned and the config agrees; it does not wait for replicas to sync, so a second column
adds the time until every node says cluster_state:ok and every replica master_link_status:up
(what our `available` waits for).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cftools.aws import lab_client
from cftools.lab import CLUSTER_NODE_TIMEOUT_MS, WARM_POOL, Lab, default_binaries
from cftools.ports import release_reservations, reserve_port_ranges
from cftools.procs import set_pdeathsig, terminate_pid
from cftools.rediscli import redis_cli

REPO = Path(__file__).resolve().parents[1]

SHARDS, REPLICAS = 3, 1


def bench_cachefleet(lab: Lab, runs: int, timeout_s: float) -> list[float | None]:
    """Seconds from Create to available per run; None for a run that did not become available
    within timeout_s (reported, and the benchmark goes on with a fresh group id)."""
    c = lab_client(lab)
    times: list[float | None] = []
    for i in range(runs):
        gid = f"bench-{i}"
        # Start every run in the same state: each agent's warm pool refilled (a CME group of
        # 3 x 1 takes 2 nodes per host) — the steady state of a lab that is not hammered.
        warm = lab.wait_warm(per_host=2, timeout_s=20)
        t0 = time.perf_counter()
        c.create_replication_group(
            ReplicationGroupId=gid, ReplicationGroupDescription="bench", Engine="redis",
            CacheNodeType="cache.t3.micro", CacheParameterGroupName="default.redis7.cluster.on",
            NumNodeGroups=SHARDS, ReplicasPerNodeGroup=REPLICAS, AutomaticFailoverEnabled=True)
        st = "creating"
        while True:
            st = c.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]["Status"]
            if st != "creating" or time.perf_counter() - t0 > timeout_s:
                break
            time.sleep(0.01)
        dt = time.perf_counter() - t0
        if st != "available":
            times.append(None)
            print(f"  cachefleet run {i + 1}: FAILED: status {st} after {dt:.1f} s; "
                  f"orchestrator log tail:\n{lab.log_tail('orchestrator', 6)}", flush=True)
            continue
        times.append(dt)
        print(f"  cachefleet run {i + 1}: {dt:.3f} s"
              f"{' (warm pool not refilled in time: cold start)' if lab.warm_pool and not warm else ''}",
              flush=True)
        c.delete_replication_group(ReplicationGroupId=gid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                c.describe_replication_groups(ReplicationGroupId=gid)
            except c.exceptions.ReplicationGroupNotFoundFault:
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"{gid}: not deleted after 120 s")
    return times


def _wait_ping(port: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if redis_cli("127.0.0.1", port, "PING").stdout.strip() == "PONG":
            return
        time.sleep(0.02)
    raise SystemExit(f"redis-server on {port} did not answer PING")


def _healthy(ports: list[int]) -> bool:
    for p in ports:
        info = redis_cli("127.0.0.1", p, "CLUSTER", "INFO").stdout
        if "cluster_state:ok" not in info:
            return False
        repl = redis_cli("127.0.0.1", p, "INFO", "replication").stdout
        if "role:slave" in repl and "master_link_status:up" not in repl:
            return False
    return True


def bench_redis_cli(runs: int, node_timeout_ms: int) -> list[tuple[float, float]]:
    results = []
    for i in range(runs):
        (start, end), = reserve_port_ranges(1, SHARDS * (1 + REPLICAS))
        ports = list(range(start, end + 1))
        tmp = Path(tempfile.mkdtemp(prefix="cf-bench-redis-"))
        procs = []
        try:
            for p in ports:
                d = tmp / str(p)
                d.mkdir()
                procs.append(subprocess.Popen(
                    ["redis-server", "--port", str(p), "--bind", "127.0.0.1",
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(node_timeout_ms),
                     "--repl-diskless-sync-delay", "0", "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--dir", str(d), "--logfile", str(d / "redis.log")],
                    cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, preexec_fn=set_pdeathsig))
            for p in ports:
                _wait_ping(p)
            t0 = time.perf_counter()
            r = subprocess.run(["redis-cli", "--cluster", "create",
                                *[f"127.0.0.1:{p}" for p in ports],
                                "--cluster-replicas", str(REPLICAS), "--cluster-yes"],
                               capture_output=True, text=True, timeout=120)
            t_create = time.perf_counter() - t0
            if r.returncode != 0:
                raise SystemExit(f"redis-cli --cluster create failed:\n{r.stdout}{r.stderr}")
            while not _healthy(ports):
                if time.perf_counter() - t0 > 60:
                    raise SystemExit("redis-cli cluster never became healthy")
                time.sleep(0.01)
            t_healthy = time.perf_counter() - t0
            results.append((t_create, t_healthy))
            print(f"  redis-cli run {i + 1}: create {t_create:.3f} s, healthy {t_healthy:.3f} s",
                  flush=True)
        finally:
            for pr in procs:
                terminate_pid(pr.pid, grace_s=5, popen=pr)
            release_reservations([start])
            shutil.rmtree(tmp, ignore_errors=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60.0, help="per-run limit (s)")
    ap.add_argument("--cold", action="store_true",
                    help="also measure agents without a warm pool (every node cold-started)")
    args = ap.parse_args()
    agent, orch = default_binaries()
    cache = Path(os.environ.get("CACHEFLEET_BUILD_DIR", REPO / "build")) / "CMakeCache.txt"
    if cache.exists() and "CMAKE_BUILD_TYPE:STRING=Release" not in cache.read_text():
        print("warning: build/ is not a Release build (scripts/build.sh makes one)", flush=True)
    print(f"binaries: {orch}, {agent}")
    ours = {}
    node_timeout = CLUSTER_NODE_TIMEOUT_MS
    for warm in ((WARM_POOL, 0) if args.cold else (WARM_POOL,)):
        tmp = tempfile.mkdtemp(prefix="cf-bench-lab-")
        try:
            with Lab(tmp, detach=False, ports_per_agent=20, warm_pool=warm) as lab:
                node_timeout = lab.cluster_node_timeout_ms
                print(f"cachefleet (agents' warm_pool_cluster_nodes={warm}): "
                      f"CreateReplicationGroup {SHARDS} shards x {REPLICAS} replica -> available "
                      f"(Describe every 10 ms), {args.runs} runs")
                ours[warm] = bench_cachefleet(lab, args.runs, args.timeout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"redis-cli --cluster create on 6 running nodes (--cluster-replicas 1, "
          f"cluster-node-timeout {node_timeout} ms, repl-diskless-sync-delay 0), {args.runs} runs")
    theirs = bench_redis_cli(args.runs, node_timeout)

    rows = [(f"cachefleet Create -> available" + (" (warm pool)" if w else " (cold)"), ts)
            for w, ts in ours.items()]
    rows += [("redis-cli --cluster create (returns)", [t for t, _ in theirs]),
             ("redis-cli create -> healthy", [h for _, h in theirs])]
    print()
    hdr = f"{'':46}" + "".join(f"{'run ' + str(i + 1):>9}" for i in range(args.runs)) + \
        f"{'median':>10}"
    print(hdr)
    print("-" * len(hdr))
    for name, ts in rows:
        ok = [t for t in ts if t is not None]
        med = f"{statistics.median(ok):10.3f}" if ok else f"{'-':>10}"
        print(f"{name:46}" + "".join(f"{t:9.3f}" if t is not None else f"{'stuck':>9}"
                                     for t in ts) + med)
    main_runs = ours[WARM_POOL]
    ok = [t for t in main_runs if t is not None]
    stuck = sum(1 for ts in ours.values() for t in ts if t is None)
    if stuck:
        print(f"\n{stuck} cachefleet run(s) did not become available; medians are over the "
              "runs that did")
    if not ok:
        return 1
    med = statistics.median(ok)
    print(f"\ncachefleet median (lab configuration, warm pool {WARM_POOL}) {med:.3f} s "
          f"(goal <= 1.0 s): {'MET' if med <= 1.0 else 'NOT MET'}")
    return 0 if stuck == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
