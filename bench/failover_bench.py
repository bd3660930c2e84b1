#!/usr/bin/python3
"""Failover: the write outage a client sees, cachefleet against Redis Cluster's and Sentinel's
own failure handling, in one run.

  PYTHONPATH=scripts /usr/bin/python3 bench/failover_bench.py [--runs 5] [--rate 500] [--json FILE]

A client (scripts/cftools/drill*.py: redis-py in its own process, unique sequenced SETs at --rate
writes/s, every --wait-every-th followed by WAIT 1 200) writes continuously; the outage is the
time from the first write that failed or took over --blocked-ms to the first successful write
after it, summed over such windows (cluster mode: only writes to the failed shard's slots).
Every acknowledged write is read back afterwards; lost writes are split by WAIT-confirmed vs
primary-only. Rows:

  cachefleet, cluster mode disabled (3 nodes) and enabled (3 shards x 1 replica), each run being
  one `cachefleet drill` (Drill):
    test-failover   TestFailover                                  goal <= 1 s (median)
    kill-primary    SIGKILL of the primary's redis-server         goal <= 1 s (median)
    kill-host       SIGKILL of the agent hosting the primary and of all its redis-servers
                                                                  goal <= 3 s
    switchover      ModifyReplicationGroup PrimaryClusterId       goal <= 0.5 s, 0 lost writes
  references, on plain redis-servers started here (same settings as the lab's nodes):
    redis-cluster   `redis-cli --cluster create` 3 masters x 1 replica, cluster-node-timeout
                    5000: SIGKILL of a master, Redis Cluster's own detection and election
    sentinel        1 primary + 2 replicas, 3 sentinels (`redis-server --sentinel`; Debian's
                    redis-sentinel is the same binary), down-after-milliseconds 1000, quorum 2:
                    SIGKILL of the primary; the client re-resolves through the sentinels
    cluster-manual  CLUSTER FAILOVER (no FORCE) on a replica of the redis-cli cluster: the
                    reference for a planned switch-over in cluster mode
    failover-cmd    FAILOVER TO <replica> TIMEOUT 5000 on the sentinel setup's primary, the
                    client resolving by ROLE: the reference for a planned switch-over with
                    cluster mode disabled

Flags: --runs N (5), --rate (500), --wait-every (10), --blocked-ms (100), --modes cmd,cme,
--actions test-failover,kill-primary,kill-host,switchover, --refs
redis-cluster,sentinel,cluster-manual,failover-cmd (or none), --side both|ours|refs,
--json FILE (failover_bench.json), --keep-going (record a failed run and go on).

cachefleet's lab is started here (orchestrator + 3 agents on free ports in a temp dir;
binaries from build/ or CACHEFLEET_AGENT_BIN / CACHEFLEET_ORCHESTRATOR_BIN, or
CACHEFLEET_BUILD_DIR) and everything is torn down by PID.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cftools.aws import lab_client
from cftools.drill import Drill
from cftools.drill_analysis import load_summary, outage, verify
from cftools.drill_load import R_SLOT, LoadProcess
from cftools.errors import DrillError, LabError
from cftools.lab import (ACCESS_KEY_ID, CLUSTER_NODE_TIMEOUT_MS, REGION, SECRET_ACCESS_KEY, Lab,
                          default_binaries)
from cftools.ports import release_reservations, reserve_port_ranges
from cftools.procs import set_pdeathsig, terminate_pid
from cftools.rediscli import cluster_nodes, redis_cli

REPO = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"
# The lab nodes' settings that matter here (CONFIG GET on an agent's node).
CONF = {"cluster-node-timeout": str(CLUSTER_NODE_TIMEOUT_MS), "repl-diskless-sync": "yes",
        "repl-diskless-sync-delay": "0", "appendonly": "no", "save": "",
        "protected-mode": "no", "cluster-allow-replica-migration": "no"}
GOALS = {"test-failover": 1000.0, "kill-primary": 1000.0, "kill-host": 3000.0,
         "switchover": 500.0}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_for(cond, what: str, timeout_s: float = 60.0, poll_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(poll_s)
    raise RuntimeError(f"timeout ({timeout_s:g} s) waiting for {what}")


def cli(port: int, *args: str) -> str:
    return redis_cli(HOST, port, *args, timeout_s=10).stdout


def info_field(text: str, field: str) -> str | None:
    for ln in text.splitlines():
        if ln.startswith(field + ":"):
            return ln.split(":", 1)[1].strip()
    return None


def run_summary(kind: str, rep: dict) -> dict:
    """The numbers of one run that the tables use."""
    ld, lo, o = rep.get("load", {}), rep.get("lost", {}), rep.get("outage", {})
    return {"kind": kind, "outage_ms": o.get("ms"), "windows": len(o.get("windows", [])),
            "max_gap_ms": o.get("max_gap_ms"),
            "recovered": o.get("recovered"),
            "time_to_available_ms": rep.get("time_to_available_ms"),
            "time_to_new_primary_ms": rep.get("time_to_new_primary_ms"),
            "failed_writes": ld.get("failed"), "errors": ld.get("errors_by_kind"),
            "acknowledged": ld.get("acknowledged"), "wait_confirmed": ld.get("wait_confirmed"),
            "lost_wait_confirmed": lo.get("lost_wait_confirmed"),
            "lost_primary_only": lo.get("lost_primary_only"),
            "rejoined_ms": rep.get("old_primary_rejoined_ms"), "ok": rep.get("ok"),
            "error": rep.get("error")}


# ---------------------------------------------------------------------------------------------
# Plain redis-servers (the references)


class Servers:
    """redis-server processes started here, by PID, in a temp dir, dying with this process."""

    def __init__(self, count: int, name: str):
        (self.start_port, end), = reserve_port_ranges(1, count)
        self.ports = list(range(self.start_port, end + 1))
        self.tmp = Path(tempfile.mkdtemp(prefix=f"cf-failover-bench-{name}-"))
        self.procs: dict[int, subprocess.Popen] = {}

    def conf_path(self, port: int) -> Path:
        return self.tmp / str(port) / "redis.conf"

    def write_conf(self, port: int, extra: list[str]) -> None:
        d = self.tmp / str(port)
        d.mkdir(exist_ok=True)
        lines = [f"port {port}", f"bind {HOST}", f"dir {d}", "daemonize no",
                 "logfile redis.log"]
        for k, v in CONF.items():
            lines.append(f'{k} "{v}"' if v == "" else f"{k} {v}")
        (d / "redis.conf").write_text("\n".join(lines + extra) + "\n")

    def start(self, port: int, sentinel: bool = False) -> None:
        argv = ["redis-server", str(self.conf_path(port))] + (["--sentinel"] if sentinel else [])
        self.procs[port] = subprocess.Popen(
            argv, cwd=self.tmp / str(port), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=set_pdeathsig)
        wait_for(lambda: cli(port, "PING").strip() == "PONG", f"{port} PING", 20)

    def kill9(self, port: int) -> float:
        p = self.procs[port]
        t = time.monotonic()
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        return t

    def close(self) -> None:
        for p in self.procs.values():
            terminate_pid(p.pid, grace_s=5, popen=p)
        release_reservations([self.start_port])
        shutil.rmtree(self.tmp, ignore_errors=True)


class RedisClusterRef:
    """3 masters x 1 replica made by `redis-cli --cluster create --cluster-replicas 1`."""

    def __init__(self):
        self.s = Servers(6, "cluster")
        for p in self.s.ports:
            self.s.write_conf(p, ["cluster-enabled yes", "cluster-config-file nodes.conf",
                                  f"cluster-announce-ip {HOST}"])
            self.s.start(p)
        r = subprocess.run(["redis-cli", "--cluster", "create",
                            *[f"{HOST}:{p}" for p in self.s.ports], "--cluster-replicas", "1",
                            "--cluster-yes"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {r.stdout[-1500:]}")
        wait_for(self.healthy, "the redis-cli cluster healthy", 60, 0.2)

    def nodes(self, port: int) -> list[dict]:
        return cluster_nodes(HOST, port)

    def healthy(self) -> bool:
        for p in self.s.ports:
            if "cluster_state:ok" not in cli(p, "CLUSTER", "INFO"):
                return False
            try:
                ns = self.nodes(p)
            except LabError:
                return False
            if len(ns) != 6 or any(f in n["flags"] for n in ns
                                   for f in ("fail", "fail?", "handshake", "noaddr")):
                return False
            masters = [n for n in ns if "master" in n["flags"]]
            if len(masters) != 3 or any(not m["slots"] for m in masters):
                return False  # e.g. a restarted old master that has not learnt it lost
            if any(sum(1 for n in ns if n["master"] == m["id"]) != 1 for m in masters):
                return False
            repl = cli(p, "INFO", "replication")
            if info_field(repl, "role") == "slave" and \
                    info_field(repl, "master_link_status") != "up":
                return False
        return True

    def master_with_replica(self, i: int) -> tuple[int, int, set[int]]:
        """The i-th master (by lowest slot, rotating) and one of its replicas, with its slots."""
        ns = self.nodes(self.s.ports[0])
        masters = sorted((n for n in ns if "master" in n["flags"] and n["slots"]),
                         key=lambda n: n["slots"][0][0])
        m = masters[i % len(masters)]
        rep = next(n for n in ns if n["master"] == m["id"])
        slots = set()
        for a, b in m["slots"]:
            slots.update(range(a, b + 1))
        return m["port"], rep["port"], slots

    def run(self, action: str, i: int, args) -> dict:
        mport, rport, slots = self.master_with_replica(i)
        spec = {"mode": "cluster", "startup": [[HOST, p] for p in self.s.ports],
                "rate": args.rate, "wait_every": args.wait_every, "client": args.client}
        rep = {"action": action, "old_primary": {"endpoint": f"{HOST}:{mport}"}}
        with LoadProcess(spec) as lp:
            time.sleep(args.duration)
            if action == "redis-cluster":
                t = self.s.kill9(mport)
            else:  # cluster-manual
                t = time.monotonic()
                out = cli(rport, "CLUSTER", "FAILOVER").strip()
                if out != "OK":
                    raise RuntimeError(f"CLUSTER FAILOVER on {rport}: {out}")

            def promoted():
                try:
                    ns = self.nodes(rport)
                except LabError:
                    return False
                me = next((n for n in ns if n["port"] == rport), None)
                return me is not None and "master" in me["flags"] and \
                    "cluster_state:ok" in cli(rport, "CLUSTER", "INFO")
            wait_for(promoted, f"{rport} promoted", 60, 0.02)
            rep["time_to_available_ms"] = round((time.monotonic() - t) * 1000, 1)
            rep["time_to_new_primary_ms"] = rep["time_to_available_ms"]
            rep["new_primary"] = {"endpoint": f"{HOST}:{rport}"}
            time.sleep(args.after)
            res = lp.stop()
        inc = lambda r: r[R_SLOT] in slots  # noqa: E731
        rep["outage"] = outage(res["records"], t, args.blocked_ms, inc)
        rep["load"] = load_summary(res, inc)
        live = [p for p in self.s.ports if p != mport or action != "redis-cluster"]
        rep["lost"] = verify(res, startup=[[HOST, p] for p in live])
        t_back = time.monotonic()
        if action == "redis-cluster":
            self.s.start(mport)  # same nodes.conf: it rejoins and becomes a replica
        wait_for(self.healthy, "the redis-cli cluster healthy again", 90, 0.2)
        rep["old_primary_rejoined_ms"] = round((time.monotonic() - t) * 1000, 1) \
            if action == "redis-cluster" else None
        rep["heal_s"] = round(time.monotonic() - t_back, 2)
        rep["ok"] = rep["lost"].get("lost_wait_confirmed") == 0
        return rep

    def close(self):
        self.s.close()


class SentinelRef:
    """A primary, 2 replicas and 3 sentinels (quorum 2, down-after-milliseconds 1000)."""
    NAME = "cfbench"

    def __init__(self, down_after_ms: int = 1000):
        self.s = Servers(6, "sentinel")
        self.data, self.sent = self.s.ports[:3], self.s.ports[3:]
        for p in self.data:
            self.s.write_conf(p, [] if p == self.data[0]
                              else [f"replicaof {HOST} {self.data[0]}"])
            self.s.start(p)
        for p in self.sent:
            d = self.s.tmp / str(p)
            d.mkdir(exist_ok=True)
            (d / "redis.conf").write_text("\n".join([
                f"port {p}", f"bind {HOST}", f"dir {d}", "daemonize no", "logfile redis.log",
                "protected-mode no",
                f"sentinel monitor {self.NAME} {HOST} {self.data[0]} 2",
                f"sentinel down-after-milliseconds {self.NAME} {down_after_ms}",
                f"sentinel failover-timeout {self.NAME} 10000",
                f"sentinel parallel-syncs {self.NAME} 2"]) + "\n")
            self.s.start(p, sentinel=True)
        wait_for(self.healthy, "sentinel setup healthy", 60, 0.2)

    def master(self) -> int | None:
        out = cli(self.sent[0], "SENTINEL", "get-master-addr-by-name", self.NAME).split()
        return int(out[1]) if len(out) >= 2 else None

    def healthy(self) -> bool:
        m = self.master()
        if m is None or info_field(cli(m, "INFO", "replication"), "role") != "master":
            return False
        for p in self.data:
            if p == m:
                continue
            repl = cli(p, "INFO", "replication")
            if info_field(repl, "role") != "slave" or \
                    info_field(repl, "master_port") != str(m) or \
                    info_field(repl, "master_link_status") != "up":
                return False
        for s in self.sent:
            inf = cli(s, "SENTINEL", "master", self.NAME).split()
            kv = dict(zip(inf[::2], inf[1::2]))
            if kv.get("port") != str(m) or kv.get("num-other-sentinels") != "2" or \
                    kv.get("num-slaves") != "2" or "o_down" in kv.get("flags", "") or \
                    "s_down" in kv.get("flags", ""):
                return False
        return True

    def run(self, action: str, i: int, args) -> dict:
        m = self.master()
        replicas = [p for p in self.data if p != m]
        if action == "sentinel":
            resolver = {"kind": "sentinel", "sentinels": [[HOST, p] for p in self.sent],
                        "name": self.NAME}
        else:  # failover-cmd: the client resolves by ROLE over the three nodes
            resolver = {"kind": "static", "nodes": [[HOST, p] for p in self.data]}
        spec = {"mode": "standalone", "resolver": resolver, "rate": args.rate,
                "wait_every": args.wait_every}
        rep = {"action": action, "old_primary": {"endpoint": f"{HOST}:{m}"}}
        with LoadProcess(spec) as lp:
            time.sleep(args.duration)
            if action == "sentinel":
                t = self.s.kill9(m)
            else:
                to = replicas[i % len(replicas)]
                t = time.monotonic()
                out = cli(m, "FAILOVER", "TO", HOST, str(to), "TIMEOUT", "5000").strip()
                if out != "OK":
                    raise RuntimeError(f"FAILOVER on {m}: {out}")

            def new_master():
                if action == "sentinel":
                    n = self.master()
                else:
                    n = next((p for p in replicas
                              if info_field(cli(p, "INFO", "replication"), "role") == "master"),
                             None)
                if n and n != m and info_field(cli(n, "INFO", "replication"),
                                               "role") == "master":
                    return n
                return None
            n = wait_for(new_master, "a new primary", 60, 0.02)
            rep["time_to_available_ms"] = round((time.monotonic() - t) * 1000, 1)
            rep["time_to_new_primary_ms"] = rep["time_to_available_ms"]
            rep["new_primary"] = {"endpoint": f"{HOST}:{n}"}
            time.sleep(args.after)
            res = lp.stop()
        rep["outage"] = outage(res["records"], t, args.blocked_ms)
        rep["load"] = load_summary(res)
        rep["lost"] = verify(res, primary=(HOST, n))
        if action == "sentinel":
            # The old primary comes back (as a master, with its old data); the sentinels turn
            # it into a replica of the new one.
            self.s.start(m)
        else:
            # FAILOVER repoints only the old primary; the third node still follows it.
            for p in self.data:
                if p != n and info_field(cli(p, "INFO", "replication"), "master_port") != str(n):
                    cli(p, "REPLICAOF", HOST, str(n))
        wait_for(self.healthy, "sentinel setup healthy again", 90, 0.2)
        rep["old_primary_rejoined_ms"] = round((time.monotonic() - t) * 1000, 1)
        rep["ok"] = rep["lost"].get("lost_wait_confirmed") == 0
        return rep

    def close(self):
        self.s.close()


# ---------------------------------------------------------------------------------------------
# cachefleet


class Ours:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="cf-failover-bench-lab-")
        build = os.environ.get("CACHEFLEET_BUILD_DIR")
        agent, orch = default_binaries(Path(build) if build else None)
        self.lab = Lab(self.tmp, detach=False, agent_bin=agent, orchestrator_bin=orch)
        self.lab.start()
        self.lab.wait_warm(2)
        self.ec = lab_client(self.lab)

    def create(self, gid: str, mode: str) -> None:
        if mode == "cme":
            self.ec.create_replication_group(
                ReplicationGroupId=gid, ReplicationGroupDescription="failover bench",
                Engine="redis", CacheNodeType="cache.t3.micro",
                CacheParameterGroupName="default.redis7.cluster.on", NumNodeGroups=3,
                ReplicasPerNodeGroup=1, AutomaticFailoverEnabled=True)
        else:
            self.ec.create_replication_group(
                ReplicationGroupId=gid, ReplicationGroupDescription="failover bench",
                Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=3,
                AutomaticFailoverEnabled=True,
                PreferredCacheClusterAZs=["lab-a", "lab-b", "lab-c"])
        self.wait_healthy(gid, 120)

    def wait_healthy(self, gid: str, timeout_s: float = 90) -> dict:
        """available, and every node group with a primary and all other members replicas."""
        viewer = Drill(endpoint=self.lab.endpoint, access_key=ACCESS_KEY_ID,
                               secret=SECRET_ACCESS_KEY, region=REGION, group=gid,
                               action="kill-primary", lab_dir=self.lab.root)

        def ok():
            v = viewer.view()  # cluster mode: roles from CLUSTER NODES
            if v["status"] != "available":
                return None
            for ng in v["node_groups"].values():
                roles = sorted(m["role"] or "?" for m in ng["members"].values())
                if roles.count("primary") != 1 or len(roles) < 2 or \
                        any(r not in ("primary", "replica") for r in roles):
                    return None
            return v
        return wait_for(ok, f"{gid} available with a primary and replicas everywhere",
                        timeout_s, 0.2)

    def delete(self, gid: str) -> None:
        try:
            self.ec.delete_replication_group(ReplicationGroupId=gid)
        except Exception as e:  # noqa: BLE001
            log(f"delete {gid}: {e}")
            return

        def gone():
            try:
                self.ec.describe_replication_groups(ReplicationGroupId=gid)
                return False
            except Exception:  # noqa: BLE001
                return True
        wait_for(gone, f"{gid} deleted", 120, 0.2)

    def drill(self, gid: str, action: str, i: int) -> dict:
        a = self.args
        v = self.wait_healthy(gid)
        ngs = sorted(v["node_groups"])
        ng = ngs[i % len(ngs)]
        d = Drill(endpoint=self.lab.endpoint, access_key=ACCESS_KEY_ID,
                          secret=SECRET_ACCESS_KEY, region=REGION, group=gid,
                          action=action, node_group=ng, rate=a.rate, duration=a.duration,
                          after=a.after, wait_every=a.wait_every, blocked_ms=a.blocked_ms,
                          timeout=a.timeout, rejoin_timeout=30.0, lab_dir=self.lab.root,
                          client=a.client, restore_fn=self.lab.restart_agent)
        return d.run()

    def close(self):
        self.lab.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Report


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt_ms(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def table(results: dict, runs: int) -> list[str]:
    lines = ["| scenario | goal | outage ms: median (min–max) | longest gap ms (median) "
             "| time to new primary ms (median) "
             "| failed writes (median) | lost: WAIT-confirmed / primary-only (total) "
             "| runs ok |", "|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        # Only runs where the group came back with a new primary: an outage that never ended
        # (or ended by a restart in place) is not a failover time.
        good = [r for r in rows if r.get("outage_ms") is not None
                and r.get("time_to_new_primary_ms") is not None]
        outs = [r["outage_ms"] for r in good]
        goal = GOALS.get(name.split(" ")[-1])
        m = med(outs)
        goal_s = f"≤ {goal:,.0f} ms" if goal else "—"
        met = "" if goal is None or m is None else (" ✔" if m <= goal else " ✘")
        lost_c = sum(r.get("lost_wait_confirmed") or 0 for r in good)
        lost_p = sum(r.get("lost_primary_only") or 0 for r in good)
        lines.append(
            f"| {name} | {goal_s} | {fmt_ms(m)}{met} "
            f"({fmt_ms(min(outs) if outs else None)}–{fmt_ms(max(outs) if outs else None)}) | "
            f"{fmt_ms(med([r.get('max_gap_ms') for r in good]))} | "
            f"{fmt_ms(med([r.get('time_to_new_primary_ms') for r in good]))} | "
            f"{fmt_ms(med([r.get('failed_writes') for r in good]))} | {lost_c} / {lost_p} | "
            f"{sum(1 for r in rows if r.get('ok'))}/{len(rows)} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(prog="failover_bench.py",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--wait-every", type=int, default=10)
    ap.add_argument("--blocked-ms", type=float, default=100.0)
    ap.add_argument("--duration", type=float, default=2.0, help="s of load before the action")
    ap.add_argument("--after", type=float, default=1.5, help="s of load once recovered")
    ap.add_argument("--client", default="short-retry", choices=["short-retry", "redis-py"])
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="s for a cachefleet group to be back with a new primary")
    ap.add_argument("--modes", default="cmd,cme")
    ap.add_argument("--actions", default="test-failover,kill-primary,kill-host,switchover")
    ap.add_argument("--refs", default="redis-cluster,sentinel,cluster-manual,failover-cmd")
    ap.add_argument("--side", default="both", choices=["both", "ours", "refs"])
    ap.add_argument("--json", default="failover_bench.json")
    ap.add_argument("--keep-going", action="store_true",
                    help="record a failed run (refused action, no recovery) and go on")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    results: dict[str, list[dict]] = {}
    raw: dict[str, list[dict]] = {}

    def record(name: str, rep: dict | None, err: str | None = None) -> None:
        row = run_summary(name, rep) if rep else {"kind": name, "outage_ms": None,
                                                   "error": err, "ok": False}
        if err:
            row["error"] = err
        results.setdefault(name, []).append(row)
        raw.setdefault(name, []).append(rep or {"error": err})
        log(f"{name}: outage {fmt_ms(row.get('outage_ms'))} ms, new primary after "
            f"{fmt_ms(row.get('time_to_new_primary_ms'))} ms, failed writes "
            f"{row.get('failed_writes')}, lost {row.get('lost_wait_confirmed')}/"
            f"{row.get('lost_primary_only')}" + (f", ERROR {err}" if err else ""))

    refs = [r for r in args.refs.split(",") if r and r != "none"]
    try:
        if args.side in ("both", "ours"):
            ours = Ours(args)
            try:
                for mode in [m for m in args.modes.split(",") if m]:
                    gid = f"fbench-{mode}"
                    log(f"cachefleet: creating {gid}")
                    ours.create(gid, mode)
                    for action in [a for a in args.actions.split(",") if a]:
                        name = f"cachefleet {mode} {action}"
                        for i in range(args.runs):
                            try:
                                record(name, ours.drill(gid, action, i))
                            except (DrillError, RuntimeError) as e:
                                record(name, None, str(e)[:300])
                                if not args.keep_going:
                                    break
                    ours.delete(gid)
            finally:
                ours.close()
        if args.side in ("both", "refs"):
            if "redis-cluster" in refs or "cluster-manual" in refs:
                log("reference: redis-cli cluster 3 x 1, cluster-node-timeout 5000")
                rc = RedisClusterRef()
                try:
                    for action in ("redis-cluster", "cluster-manual"):
                        if action not in refs:
                            continue
                        for i in range(args.runs):
                            try:
                                record(f"ref {action}", rc.run(action, i, args))
                            except (RuntimeError, DrillError) as e:
                                record(f"ref {action}", None, str(e)[:300])
                                break
                finally:
                    rc.close()
            if "sentinel" in refs or "failover-cmd" in refs:
                log("reference: sentinel (3 sentinels, down-after-milliseconds 1000)")
                se = SentinelRef()
                try:
                    for action in ("sentinel", "failover-cmd"):
                        if action not in refs:
                            continue
                        for i in range(args.runs):
                            try:
                                record(f"ref {action}", se.run(action, i, args))
                            except (RuntimeError, DrillError) as e:
                                record(f"ref {action}", None, str(e)[:300])
                                break
                finally:
                    se.close()
    except KeyboardInterrupt:
        log("interrupted; everything started here was stopped")
    out = {"args": vars(args), "results": results, "reports": raw,
           "load_average": os.getloadavg()}
    Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    print()
    print("\n".join(table(results, args.runs)))
    print(f"\n(full reports in {args.json}; load average at the end "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
