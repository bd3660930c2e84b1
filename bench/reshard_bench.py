#!/usr/bin/python3
"""Online resharding: cachefleet's ModifyReplicationGroupShardConfiguration against
`redis-cli --cluster reshard / rebalance`, on the same data set, in one run.

  PYTHONPATH=scripts /usr/bin/python3 bench/reshard_bench.py [--keys 1000000] [--replicas 0] [--json FILE]

Sections (each side builds the same data set from scratch: 3 shards, --keys keys of
--value-size bytes, loaded with pipelined SETs straight to the master owning each slot):

  a  4096 slots to a 4th empty primary: `redis-cli --cluster reshard --cluster-from all
     --cluster-slots 4096` with --cluster-pipeline 10, 100 and 1000 (a fresh cluster each)
     against our 3 -> 4 (keys/s; our ratio to redis-cli's best; goal >= 2.0x)
  b  rebalance onto 2 empty primaries: `redis-cli --cluster rebalance --cluster-use-empty-masters`
     (its default pipeline 10, and redis-cli's best pipeline of a) against our 3 -> 5 (goal >= 3x)
  c  16384 empty slots: redis-cli reshard of all 16384 slots of a 1-master cluster to a 2nd
     empty master, against our 1 -> 2 (8192 slots) + 2 -> 1 (the other 8192) on an empty
     group (goal <= 1.5 s for the 16384)
  d  a client doing 1000 mixed ops/s (GET/SET/INCR, redis-py RedisCluster, own process) during
     every move of a and b: errors (goal 0), lost keys (goal 0: its last acknowledged values and
     the whole data set read back), p99 latency against the same client on the same cluster
     with no move (goal <= 2x)

cachefleet is timed from the MRGSC call to the first DescribeReplicationGroups saying
`available` (polled every 50 ms, 20 ms in c), which includes launching and joining the new
shards; redis-cli from its start to its exit, on nodes that are already running and joined.
Keys moved = data-set keys whose owner changed (slot maps before/after). The redis-cli side runs
on plain redis-server processes started here with the settings read (CONFIG GET) from a node
the lab's agents started. Everything is torn down by PID.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cftools.aws import lab_client
from cftools.dataset import load_keys, slot_map, verify_keys
from cftools.lab import CLUSTER_NODE_TIMEOUT_MS, Lab, default_binaries
from cftools.ports import release_reservations, reserve_port_ranges
from cftools.procs import module_argv, module_env, set_pdeathsig, terminate_pid
from cftools.rediscli import cluster_check, redis_cli
from cftools.resp import RawConn
from cftools.slots import key_slot

REPO = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"
VALUE_SIZE = 100  # --value-size
NODE_TYPE = "cache.m5.large"  # 6.38 GiB maxmemory: room for --keys well above 1M
# Settings copied from a lab node to the plain redis-servers (the rest is per node).
COPIED = ("maxmemory", "maxmemory-policy", "cluster-node-timeout", "repl-diskless-sync",
          "repl-diskless-sync-delay", "appendonly", "save", "cluster-allow-replica-migration",
          "cluster-require-full-coverage", "protected-mode", "enable-debug-command")
DEFAULT_CONF = {"maxmemory": "6850422374", "maxmemory-policy": "volatile-lru",
                "cluster-node-timeout": str(CLUSTER_NODE_TIMEOUT_MS),
                "repl-diskless-sync": "yes", "repl-diskless-sync-delay": "0", "appendonly": "no",
                "save": "", "cluster-allow-replica-migration": "no",
                "cluster-require-full-coverage": "yes", "protected-mode": "no",
                "enable-debug-command": "local"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Shared measurement pieces


class Client:
    """`python3 -m cftools.workload` in its own process (1000 mixed ops/s by default)."""

    def __init__(self, port: int, rate: float, prefix: str, duration: float = 0.0):
        argv = module_argv("cftools.workload", "--host", HOST, "--port", str(port), "--rate",
                           str(rate), "--prefix", prefix)
        if duration:
            argv += ["--duration", str(duration)]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=module_env(),
                                  preexec_fn=set_pdeathsig)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"workload did not start: {line} {self.p.stderr.read()[-500:]}")

    def finish(self) -> dict:
        try:
            self.p.stdin.write("stop\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        out, err = self.p.communicate(timeout=120)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"fatal": f"no result: {err[-500:]}", "errors": -1, "p99_ms": 0.0,
                    "verify": {"wrong": -1}}


def baseline(port: int, rate: float, seconds: float, prefix: str) -> dict:
    c = Client(port, rate, prefix, duration=seconds)
    return c.finish()


def owners_of_dataset(port: int, n: int, prefix: str = "d:") -> list:
    owners = slot_map(HOST, port)
    pfx = prefix.encode()
    return [owners[key_slot(pfx + b"%d" % i)] for i in range(n)]


def moved_keys(before: list, after: list) -> int:
    return sum(1 for a, b in zip(before, after) if a != b)


def check_data(port: int, n: int) -> dict:
    v = verify_keys(HOST, port, n, value_size=VALUE_SIZE)
    return {"checked": v["checked"], "lost": v["missing"], "wrong": v["wrong"] + v["errors"],
            "examples": v["examples"]}


def client_row(c: dict, base: dict) -> dict:
    p99, b99 = c.get("p99_ms", 0.0), base.get("p99_ms", 0.0)
    return {"ops": c.get("ops"), "ops_per_s": c.get("ops_per_s"), "errors": c.get("errors"),
            "first_errors": c.get("first_errors"),
            "lost_keys": (c.get("verify") or {}).get("wrong"),
            "uncertain_keys": (c.get("verify") or {}).get("uncertain"),
            "p50_ms": c.get("p50_ms"), "p99_ms": p99, "max_ms": c.get("max_ms"),
            "baseline_p50_ms": base.get("p50_ms"), "baseline_p99_ms": b99,
            "p99_ratio": (p99 / b99) if b99 else None,
            "client_bug_retries": c.get("client_bug_retries"), "redirects": c.get("redirects"),
            "fatal": c.get("fatal")}


# ---------------------------------------------------------------------------------------------
# cachefleet side


class Ours:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="cf-reshard-bench-")
        self.lab = Lab(self.tmp, detach=False, ports_per_agent=24)
        self.c = None
        self.conf: dict[str, str] = {}

    def __enter__(self):
        self.lab.start()
        self.c = lab_client(self.lab)
        return self

    def __exit__(self, *exc):
        try:
            self.lab.stop()
            if self.args.logs:
                shutil.copytree(self.lab.root / "logs", self.args.logs, dirs_exist_ok=True)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self, gid: str) -> dict:
        return self.c.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]

    def wait(self, gid: str, t0: float, poll_s: float, timeout_s: float = 900) -> tuple[float, dict]:
        while True:
            g = self.describe(gid)
            if g["Status"] == "available":
                return time.perf_counter() - t0, g
            if g["Status"] not in ("creating", "modifying"):
                raise SystemExit(f"{gid}: status {g['Status']}")
            if time.perf_counter() - t0 > timeout_s:
                raise SystemExit(f"{gid}: not available after {timeout_s} s; orchestrator log:\n"
                                 f"{self.lab.log_tail('orchestrator', 20)}")
            time.sleep(poll_s)

    def create(self, gid: str, shards: int) -> int:
        self.lab.wait_warm(per_host=2, timeout_s=20)
        self.c.create_replication_group(
            ReplicationGroupId=gid, ReplicationGroupDescription="bench", Engine="redis",
            CacheNodeType=NODE_TYPE, CacheParameterGroupName="default.redis7.cluster.on",
            NumNodeGroups=shards, ReplicasPerNodeGroup=self.args.replicas,
            AutomaticFailoverEnabled=True)
        _, g = self.wait(gid, time.perf_counter(), 0.05)
        port = g["ConfigurationEndpoint"]["Port"]
        if not self.conf:
            with RawConn(HOST, port) as rc:
                for k in COPIED:
                    r = rc.pipeline([("CONFIG", "GET", k)])[0]
                    if isinstance(r, list) and len(r) == 2:
                        self.conf[k] = r[1].decode()
        return port

    def delete(self, gid: str) -> None:
        self.c.delete_replication_group(ReplicationGroupId=gid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                self.describe(gid)
            except self.c.exceptions.ReplicationGroupNotFoundFault:
                return
            time.sleep(0.1)
        raise SystemExit(f"{gid} not deleted")

    def operation(self, gid: str) -> dict:
        import urllib.request
        try:
            with urllib.request.urlopen(f"{self.lab.endpoint}/cachefleet/operations?group={gid}",
                                        timeout=5) as r:
                ops = json.loads(r.read()).get("operations", [])
            ops = [o for o in ops if str(o.get("kind", "")).startswith("reshard")]
            return max(ops, key=lambda o: int(o["id"])) if ops else {}
        except (OSError, ValueError) as e:
            return {"error": repr(e)}

    def reshard(self, gid: str, count: int, with_client: bool, poll_s: float = 0.05,
                **kw) -> dict:
        port = self.describe(gid)["ConfigurationEndpoint"]["Port"]
        n = self.args.keys
        before = owners_of_dataset(port, n) if n and with_client else None
        base = cl = None
        if with_client:
            base = baseline(port, self.args.rate, self.args.baseline_s, f"b:{gid}:{count}:")
            cl = Client(port, self.args.rate, f"w:{gid}:{count}:")
        self.lab.wait_warm(per_host=2, timeout_s=20)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        self.c.modify_replication_group_shard_configuration(
            ReplicationGroupId=gid, NodeGroupCount=count, ApplyImmediately=True, **kw)
        took, g = self.wait(gid, t0, poll_s)
        row = {"seconds": took, "operation": self.operation(gid),
               "load_avg_1m": [load0, os.getloadavg()[0]]}
        if with_client:
            row["client"] = client_row(cl.finish(), base)
            port = g["ConfigurationEndpoint"]["Port"]
            row["keys_moved"] = moved_keys(before, owners_of_dataset(port, n))
            row["keys_per_s"] = row["keys_moved"] / took
            row["data"] = check_data(port, n)
        ok, out = cluster_check(HOST, g["ConfigurationEndpoint"]["Port"])
        row["cluster_check_clean"] = ok
        if not ok:
            row["cluster_check"] = out[-1000:]
        return row


def run_ours(args, results: dict) -> dict:
    with Ours(args) as o:
        log(f"cachefleet lab up ({o.lab.endpoint})")
        if "a" in args.sections or "d" in args.sections:
            port = o.create("bench-a", 3)
            t = load_keys(HOST, port, args.keys, value_size=VALUE_SIZE)
            log(f"a: bench-a 3 shards x {args.replicas} replicas, {args.keys} keys loaded in "
                f"{t:.1f} s; MRGSC 3 -> 4 ...")
            r = o.reshard("bench-a", 4, True)
            results["ours"]["a_3to4"] = r
            log(f"a: ours 3 -> 4: {r['seconds']:.2f} s, {r['keys_moved']} keys, "
                f"{r['keys_per_s']:.0f} keys/s")
            o.delete("bench-a")
        if "b" in args.sections:
            port = o.create("bench-b", 3)
            load_keys(HOST, port, args.keys, value_size=VALUE_SIZE)
            log("b: bench-b loaded; MRGSC 3 -> 5 ...")
            r = o.reshard("bench-b", 5, True)
            results["ours"]["b_3to5"] = r
            log(f"b: ours 3 -> 5: {r['seconds']:.2f} s, {r['keys_moved']} keys, "
                f"{r['keys_per_s']:.0f} keys/s")
            o.delete("bench-b")
        if "c" in args.sections:
            o.create("bench-c", 1)
            r1 = o.reshard("bench-c", 2, False, poll_s=0.02)
            r2 = o.reshard("bench-c", 1, False, poll_s=0.02, NodeGroupsToRemove=["0002"])
            results["ours"]["c_1to2"], results["ours"]["c_2to1"] = r1, r2
            log(f"c: ours empty 1 -> 2 {r1['seconds']:.2f} s, 2 -> 1 {r2['seconds']:.2f} s")
            o.delete("bench-c")
        return o.conf or dict(DEFAULT_CONF)


# ---------------------------------------------------------------------------------------------
# redis-cli side


class PlainCluster:
    """redis-server processes started here (same settings as the lab's nodes), joined with
    redis-cli. Masters first: `initial` masters with their replicas form the cluster; `extra`
    empty masters (each with its replicas) are added with add-node."""

    def __init__(self, conf: dict, initial: int, extra: int, replicas: int):
        self.conf, self.initial, self.extra, self.replicas = conf, initial, extra, replicas
        total = (initial + extra) * (1 + replicas)
        (self.start_port, end), = reserve_port_ranges(1, total)
        self.ports = list(range(self.start_port, end + 1))
        self.tmp = Path(tempfile.mkdtemp(prefix="cf-reshard-bench-redis-"))
        self.procs: list[subprocess.Popen] = []

    def masters(self) -> list[int]:
        return self.ports[:self.initial + self.extra]

    def replicas_of(self, i: int) -> list[int]:
        base = self.initial + self.extra + i * self.replicas
        return self.ports[base:base + self.replicas]

    def __enter__(self):
        for p in self.ports:
            d = self.tmp / str(p)
            d.mkdir()
            lines = [f"port {p}", f"bind {HOST}", f"dir {d}", "daemonize no",
                     "logfile redis.log", "cluster-enabled yes",
                     "cluster-config-file nodes.conf", f"cluster-announce-ip {HOST}"]
            for k, v in self.conf.items():
                lines.append(f'{k} "{v}"' if v == "" or " " in v else f"{k} {v}")
            (d / "redis.conf").write_text("\n".join(lines) + "\n")
            self.procs.append(subprocess.Popen(
                ["redis-server", str(d / "redis.conf")], cwd=d, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=set_pdeathsig))
        for p in self.ports:
            self._wait(lambda: redis_cli(HOST, p, "PING").stdout.strip() == "PONG",
                       f"{p} PING")
        return self

    def __exit__(self, *exc):
        for pr in self.procs:
            terminate_pid(pr.pid, grace_s=5, popen=pr)
        release_reservations([self.start_port])
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def _wait(cond, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise SystemExit(f"timeout waiting for {what}")

    def node_id(self, port: int) -> str:
        return redis_cli(HOST, port, "CLUSTER", "MYID").stdout.strip()

    def cli(self, *args: str, timeout_s: float = 1800) -> subprocess.CompletedProcess:
        r = subprocess.run(["redis-cli", *args], capture_output=True, text=True,
                           timeout=timeout_s, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise SystemExit(f"redis-cli {' '.join(args[:3])} failed:\n{r.stdout[-2000:]}"
                             f"{r.stderr[-1000:]}")
        return r

    def healthy(self, ports: list[int]) -> bool:
        for p in ports:
            if "cluster_state:ok" not in redis_cli(HOST, p, "CLUSTER", "INFO").stdout:
                return False
            nodes = redis_cli(HOST, p, "CLUSTER", "NODES").stdout.splitlines()
            if len(nodes) != len(ports) or any("handshake" in n or "fail" in n for n in nodes):
                return False
            repl = redis_cli(HOST, p, "INFO", "replication").stdout
            if "role:slave" in repl and "master_link_status:up" not in repl:
                return False
        return True

    def form(self) -> None:
        """The initial cluster (create, or ADDSLOTSRANGE for a single master), then add the
        empty masters and every replica, and wait until every node agrees and is synced."""
        first = self.masters()[:self.initial]
        if self.initial >= 3:
            self.cli("--cluster", "create", *[f"{HOST}:{p}" for p in first], "--cluster-yes")
        else:
            redis_cli(HOST, first[0], "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
            for p in first[1:]:
                redis_cli(HOST, p, "CLUSTER", "MEET", HOST, str(first[0]))
        self._wait(lambda: self.healthy(first), "initial masters healthy")
        joined = list(first)
        for p in self.masters()[self.initial:]:
            # add-node refuses while the nodes disagree ("Nodes don't agree about
            # configuration"), which they do for a moment after the previous add-node: wait
            # for agreement first, and retry a refusal a few times.
            self._wait(lambda: self.healthy(joined), "nodes agree before add-node", 60)
            for attempt in range(5):
                r = subprocess.run(["redis-cli", "--cluster", "add-node", f"{HOST}:{p}",
                                    f"{HOST}:{first[0]}"], capture_output=True, text=True,
                                   timeout=120, stdin=subprocess.DEVNULL)
                if r.returncode == 0:
                    break
                if attempt == 4 or "don't agree" not in r.stdout:
                    raise SystemExit(f"redis-cli --cluster add-node {HOST}:{p} failed:\n"
                                     f"{r.stdout[-2000:]}{r.stderr[-1000:]}")
                time.sleep(0.5)
            joined.append(p)
        for i, m in enumerate(self.masters()):
            for r in self.replicas_of(i):
                self.cli("--cluster", "add-node", f"{HOST}:{r}", f"{HOST}:{first[0]}",
                         "--cluster-slave", "--cluster-master-id", self.node_id(m))
                joined.append(r)
        self._wait(lambda: self.healthy(joined), "all nodes joined and healthy", 120)


def run_redis_cli(args, conf: dict, results: dict) -> None:
    n = args.keys
    best_pipeline = None
    if "a" in args.sections or "d" in args.sections:
        rows = {}
        for pipe in args.pipelines:
            with PlainCluster(conf, 3, 1, args.replicas) as pc:
                pc.form()
                entry = pc.masters()[0]
                load_keys(HOST, entry, n, value_size=VALUE_SIZE)
                target = pc.node_id(pc.masters()[3])
                before = owners_of_dataset(entry, n)
                base = baseline(entry, args.rate, args.baseline_s, f"b:a:{pipe}:")
                cl = Client(entry, args.rate, f"w:a:{pipe}:")
                load0 = os.getloadavg()[0]
                t0 = time.perf_counter()
                pc.cli("--cluster", "reshard", f"{HOST}:{entry}", "--cluster-from", "all",
                       "--cluster-to", target, "--cluster-slots", "4096", "--cluster-yes",
                       "--cluster-pipeline", str(pipe))
                took = time.perf_counter() - t0
                row = {"seconds": took, "client": client_row(cl.finish(), base),
                       "load_avg_1m": [load0, os.getloadavg()[0]]}
                row["keys_moved"] = moved_keys(before, owners_of_dataset(entry, n))
                row["keys_per_s"] = row["keys_moved"] / took
                row["data"] = check_data(entry, n)
                row["cluster_check_clean"] = cluster_check(HOST, entry)[0]
                rows[str(pipe)] = row
                log(f"a: redis-cli reshard 4096 slots, pipeline {pipe}: {took:.2f} s, "
                    f"{row['keys_moved']} keys, {row['keys_per_s']:.0f} keys/s")
        results["redis_cli"]["a_reshard"] = rows
        best_pipeline = int(max(rows, key=lambda k: rows[k]["keys_per_s"]))
    if "b" in args.sections:
        pipes = sorted({10, best_pipeline or 10})
        rows = {}
        for pipe in pipes:
            with PlainCluster(conf, 3, 2, args.replicas) as pc:
                pc.form()
                entry = pc.masters()[0]
                load_keys(HOST, entry, n, value_size=VALUE_SIZE)
                before = owners_of_dataset(entry, n)
                base = baseline(entry, args.rate, args.baseline_s, f"b:b:{pipe}:")
                cl = Client(entry, args.rate, f"w:b:{pipe}:")
                load0 = os.getloadavg()[0]
                t0 = time.perf_counter()
                pc.cli("--cluster", "rebalance", f"{HOST}:{entry}", "--cluster-use-empty-masters",
                       "--cluster-pipeline", str(pipe))
                took = time.perf_counter() - t0
                row = {"seconds": took, "client": client_row(cl.finish(), base),
                       "load_avg_1m": [load0, os.getloadavg()[0]]}
                row["keys_moved"] = moved_keys(before, owners_of_dataset(entry, n))
                row["keys_per_s"] = row["keys_moved"] / took
                row["data"] = check_data(entry, n)
                row["cluster_check_clean"] = cluster_check(HOST, entry)[0]
                rows[str(pipe)] = row
                log(f"b: redis-cli rebalance onto 2 empty masters, pipeline {pipe}: "
                    f"{took:.2f} s, {row['keys_moved']} keys, {row['keys_per_s']:.0f} keys/s")
        results["redis_cli"]["b_rebalance"] = rows
    if "c" in args.sections:
        with PlainCluster(conf, 1, 1, args.replicas) as pc:
            pc.form()
            a, b = pc.masters()
            t0 = time.perf_counter()
            pc.cli("--cluster", "reshard", f"{HOST}:{a}", "--cluster-from", pc.node_id(a),
                   "--cluster-to", pc.node_id(b), "--cluster-slots", "16384", "--cluster-yes")
            took = time.perf_counter() - t0
            results["redis_cli"]["c_reshard_16384_empty"] = {
                "seconds": took, "cluster_check_clean": cluster_check(HOST, a)[0]}
            log(f"c: redis-cli reshard of 16384 empty slots: {took:.2f} s")


# ---------------------------------------------------------------------------------------------
# Report


def fmt(v, spec=".2f", unit=""):
    if v is None:
        return "-"
    return f"{v:{spec}}{unit}"


def report(args, results: dict) -> tuple[list[str], bool]:
    ours, cli = results["ours"], results["redis_cli"]
    lines: list[str] = []
    goals_met = True

    def table(title, rows):
        lines.append("")
        lines.append(title)
        w0 = max(len(r[0]) for r in rows)
        widths = [max(len(str(r[i])) for r in rows) for i in range(1, len(rows[0]))]
        for k, r in enumerate(rows):
            lines.append(f"  {r[0]:<{w0}}  " + "  ".join(f"{str(c):>{w}}" for c, w in
                                                         zip(r[1:], widths)))
            if k == 0:
                lines.append("  " + "-" * (w0 + 2 + sum(widths) + 2 * (len(widths) - 1)))

    def client_cells(c):
        if not c:
            return ["-"] * 6
        return [fmt(c.get("ops_per_s"), ".0f"), c.get("errors"), c.get("lost_keys"),
                fmt(c.get("baseline_p99_ms")), fmt(c.get("p99_ms")),
                fmt(c.get("p99_ratio"), ".2f", "x")]

    hdr = ["", "seconds", "keys moved", "keys/s", "data lost", "client ops/s", "client errors",
           "client lost", "p99 idle ms", "p99 move ms", "p99 ratio"]
    if "a" in args.sections and ("a_reshard" in cli or "a_3to4" in ours):
        rows = [hdr]
        for pipe, r in cli.get("a_reshard", {}).items():
            rows.append([f"redis-cli reshard 4096, pipeline {pipe}", fmt(r["seconds"]),
                         r["keys_moved"], fmt(r["keys_per_s"], ".0f"),
                         r["data"]["lost"] + r["data"]["wrong"], *client_cells(r["client"])])
        if "a_3to4" in ours:
            r = ours["a_3to4"]
            rows.append(["cachefleet MRGSC 3 -> 4", fmt(r["seconds"]), r["keys_moved"],
                         fmt(r["keys_per_s"], ".0f"), r["data"]["lost"] + r["data"]["wrong"],
                         *client_cells(r["client"])])
            best = max((x["keys_per_s"] for x in cli.get("a_reshard", {}).values()), default=0)
            ratio = r["keys_per_s"] / best if best else None
            results["summary"]["a_ratio_to_best"] = ratio
            if best:
                met = ratio >= 2.0
                goals_met &= met
                rows.append([f"ratio to redis-cli's best ({best:.0f} keys/s), goal >= 2.0x: "
                             + ("MET" if met else "NOT MET"), "", "", fmt(ratio, ".2f", "x"),
                             "", "", "", "", "", "", ""])
        table(f"(a) 4096 slots to a 4th empty primary, {args.keys} keys x {args.value_size} B, "
              f"3 shards x {args.replicas} replicas", rows)
    if "b" in args.sections and ("b_rebalance" in cli or "b_3to5" in ours):
        rows = [hdr]
        for pipe, r in cli.get("b_rebalance", {}).items():
            rows.append([f"redis-cli rebalance, pipeline {pipe}", fmt(r["seconds"]),
                         r["keys_moved"], fmt(r["keys_per_s"], ".0f"),
                         r["data"]["lost"] + r["data"]["wrong"], *client_cells(r["client"])])
        if "b_3to5" in ours:
            r = ours["b_3to5"]
            rows.append(["cachefleet MRGSC 3 -> 5", fmt(r["seconds"]), r["keys_moved"],
                         fmt(r["keys_per_s"], ".0f"), r["data"]["lost"] + r["data"]["wrong"],
                         *client_cells(r["client"])])
            best = max((x["keys_per_s"] for x in cli.get("b_rebalance", {}).values()), default=0)
            ratio = r["keys_per_s"] / best if best else None
            results["summary"]["b_ratio_to_best"] = ratio
            if best:
                met = ratio >= 3.0
                goals_met &= met
                rows.append([f"ratio to redis-cli's best ({best:.0f} keys/s), goal >= 3.0x: "
                             + ("MET" if met else "NOT MET"), "", "", fmt(ratio, ".2f", "x"),
                             "", "", "", "", "", "", ""])
        table("(b) rebalance onto 2 empty primaries", rows)
    if "c" in args.sections:
        rows = [["", "slots", "seconds to slots moved", "seconds to available"]]
        r = cli.get("c_reshard_16384_empty")
        if r:
            rows.append(["redis-cli reshard 16384 empty slots", 16384, fmt(r["seconds"]), ""])
        if "c_1to2" in ours:
            a, b = ours["c_1to2"], ours["c_2to1"]

            def moved_s(row: dict) -> float:
                # Call -> last slot move finished (the orchestrator's own timestamps); a
                # scale-in then keeps the removed nodes up for removed_node_grace_ms so clients
                # with a stale slot map get MOVED, not refused connections.
                op = row.get("operation") or {}
                if op.get("moves_finished_ms") and op.get("started_ms"):
                    return (op["moves_finished_ms"] - op["started_ms"]) / 1000.0
                return row["seconds"]

            total = moved_s(a) + moved_s(b)
            total_avail = a["seconds"] + b["seconds"]
            results["summary"]["c_seconds_16384"] = total
            results["summary"]["c_seconds_16384_to_available"] = total_avail
            rows.append(["cachefleet MRGSC 1 -> 2 (empty)", 8192, fmt(moved_s(a)),
                         fmt(a["seconds"])])
            rows.append(["cachefleet MRGSC 2 -> 1 (empty)", 8192, fmt(moved_s(b)),
                         fmt(b["seconds"])])
            met = total <= 1.5
            goals_met &= met
            rows.append(["cachefleet total", 16384,
                         fmt(total) + "  goal <= 1.5 s: " + ("MET" if met else "NOT MET"),
                         fmt(total_avail)])
        table("(c) 16384 empty slots moved (cachefleet: call -> last slot moved, and -> "
              "available, which includes the scale-in's removed-node grace; redis-cli: the "
              "command)", rows)
    if "d" in args.sections and not any(k in ours for k in ("a_3to4", "b_3to5")):
        lines.append("")
        lines.append("(d) no cachefleet move measured (--side redis-cli)")
    elif "d" in args.sections:
        cs = []
        for key in ("a_3to4", "b_3to5"):
            if key in ours:
                cs.append((f"cachefleet {key}", ours[key]["client"]))
        ok_err = all(c["errors"] == 0 for _, c in cs)
        ok_lost = all(c["lost_keys"] == 0 for _, c in cs) and all(
            ours[k]["data"]["lost"] + ours[k]["data"]["wrong"] == 0
            for k in ("a_3to4", "b_3to5") if k in ours)
        ok_p99 = all(c["p99_ratio"] is not None and c["p99_ratio"] <= 2.0 for _, c in cs)
        results["summary"]["d"] = {"errors_0": ok_err, "lost_0": ok_lost, "p99_le_2x": ok_p99}
        goals_met &= ok_err and ok_lost and ok_p99
        lines.append("")
        lines.append(f"(d) client at {args.rate:.0f} mixed ops/s during our moves: errors "
                     f"{'0 (MET)' if ok_err else 'NOT 0'}, lost keys "
                     f"{'0 (MET)' if ok_lost else 'NOT 0'}, p99 <= 2x idle: "
                     f"{'MET' if ok_p99 else 'NOT MET'} "
                     f"({', '.join(fmt(c['p99_ratio'], '.2f', 'x') for _, c in cs)})")
        down = sum((c.get("redirects") or {}).get("ClusterDownError", 0) for _, c in cs)
        lines.append(f"    -CLUSTERDOWN replies redis-py absorbed (slept 250 ms and retried) "
                     f"during our moves: {down}" + ("" if down == 0 else " (should be 0)"))
        if cli:
            cdown = sum((r["client"].get("redirects") or {}).get("ClusterDownError", 0)
                        for sec in ("a_reshard", "b_rebalance") for r in cli.get(sec, {}).values())
            lines.append(f"    ... during redis-cli's moves: {cdown}")
        bugs = sum(c.get("client_bug_retries") or 0 for _, c in cs)
        if bugs:
            lines.append(f"    redis-py 4.3.4 ASK to a not yet known node: {bugs} retries after "
                         "learning the node from the ASK (client bug, not counted as errors)")
    return lines, goals_met


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--replicas", type=int, default=0,
                    help="replicas per shard, the same on both sides (default 0: masters only)")
    ap.add_argument("--pipelines", default="10,100,1000",
                    help="redis-cli --cluster-pipeline values for a")
    ap.add_argument("--rate", type=float, default=1000.0, help="client ops/s for d")
    ap.add_argument("--baseline-s", type=float, default=5.0,
                    help="seconds of client without a move before each move (p99 baseline)")
    ap.add_argument("--sections", default="abcd", help="any of a, b, c, d (default abcd)")
    ap.add_argument("--side", choices=("both", "ours", "redis-cli"), default="both")
    ap.add_argument("--json", default="reshard_bench.json", help="results file")
    ap.add_argument("--logs", help="copy the lab's daemon logs into this directory")
    ap.add_argument("--mover-batch-ms", type=int, default=0,
                    help="agents' CACHEFLEET_MOVER_MAX_BATCH_MS (0: the agent's default)")
    ap.add_argument("--mover-busy-pct", type=int, default=0,
                    help="agents' CACHEFLEET_MOVER_BUSY_PERCENT (0: the agent's default)")
    ap.add_argument("--mover-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the lab's agents/orchestrator, e.g. "
                         "CACHEFLEET_MOVER_FLIGHT_DEPTH=1 (repeatable; agent/README.md)")
    args = ap.parse_args()
    for kv in args.mover_env:
        k, _, v = kv.partition("=")
        if not k.startswith("CACHEFLEET_"):
            raise SystemExit(f"--mover-env {kv}: only CACHEFLEET_* variables")
        os.environ[k] = v
    global VALUE_SIZE
    VALUE_SIZE = args.value_size
    args.pipelines = [int(x) for x in args.pipelines.split(",") if x]
    # The lab's agents inherit this environment (agent/runtime/slot_mover_rpc.cc reads it).
    for var, val in (("CACHEFLEET_MOVER_MAX_BATCH_MS", args.mover_batch_ms),
                     ("CACHEFLEET_MOVER_BUSY_PERCENT", args.mover_busy_pct)):
        if val > 0:
            os.environ[var] = str(val)
        else:
            os.environ.pop(var, None)
    agent, orch = default_binaries()
    cache = Path(os.environ.get("CACHEFLEET_BUILD_DIR", REPO / "build")) / "CMakeCache.txt"
    build_type = "?"
    if cache.exists():
        build_type = "Release" if "CMAKE_BUILD_TYPE:STRING=Release" in cache.read_text() else \
            "not Release"
        if build_type != "Release":
            print("warning: the build is not a Release build (scripts/build.sh makes one)")
    results = {"config": {"keys": args.keys, "value_size": args.value_size,
                          "replicas_per_shard": args.replicas, "pipelines": args.pipelines,
                          "client_rate": args.rate, "baseline_s": args.baseline_s,
                          "sections": args.sections, "orchestrator": str(orch),
                          "agent": str(agent), "build": build_type, "node_type": NODE_TYPE,
                          "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                          "load_avg_at_start": os.getloadavg(),
                          "mover_batch_ms": args.mover_batch_ms or "default",
                          "mover_busy_pct": args.mover_busy_pct or "default",
                          "mover_env": {k: v for k, v in os.environ.items()
                                        if k.startswith("CACHEFLEET_MOVER_")
                                        or k.startswith("CACHEFLEET_RESHARD_")}},
               "ours": {}, "redis_cli": {}, "summary": {}}
    t0 = time.monotonic()
    conf = dict(DEFAULT_CONF)
    if args.side in ("both", "ours"):
        conf = run_ours(args, results)
    results["config"]["redis_conf"] = conf
    if args.side in ("both", "redis-cli"):
        run_redis_cli(args, conf, results)
    results["config"]["wall_s"] = time.monotonic() - t0
    lines, met = report(args, results)
    results["summary"]["all_goals_met"] = met
    print("\n".join(lines))
    Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults written to {args.json} (total {results['config']['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
