#!/usr/bin/python3
"""Failover drills: the measurement code shared by `cachefleet drill` (scripts/cachefleet),
bench/failover_bench.py and tests/e2e/test_drill.py. Run by /usr/bin/python3 (Debian's boto3
and redis-py 4.3.4).

The pieces:

  * the client ("the app"): a writer that SETs unique sequenced keys <prefix><seq> at a fixed
    rate and, every k-th write (or each), follows the SET with `WAIT 1 <timeout>` on the same
    connection. Cluster mode disabled: plain redis-py `Redis` on the primary, re-resolved when a
    write fails (connection error, READONLY, LOADING, ...) through a resolver — the group's
    PrimaryEndpoint from DescribeReplicationGroups confirmed by ROLE, a static node list (ROLE),
    or Sentinel. Cluster mode enabled: redis-py `RedisCluster` for discovery and slot routing,
    with a short retry of our own (see ClusterWriter);
  * LoadProcess: that client in its own process (so that the drill's polling never shares the
    GIL with it), started with a JSON spec, stopped with a line on stdin; it writes every
    attempt (seq, slot, start, end, outcome, WAIT result) to a JSON file;
  * analysis: outage windows as the client saw them, error counts by kind, latency;
  * verification: every acknowledged key read back from the current primaries, lost writes
    split by WAIT-confirmed / primary-only;
  * the drill itself (run_drill): discovery with DescribeReplicationGroups, the action
    (TestFailover, SIGKILL of the primary's redis-server, SIGKILL of the agent hosting it and
    its redis-servers, ModifyReplicationGroup PrimaryClusterId), the wait for `available` with
    a new primary, DescribeEvents of the window, and the report (format_report for humans).

Times are CLOCK_MONOTONIC seconds (time.monotonic()), which is the same clock in every process
of the machine, so the load process's records and the drill's trigger time compare directly.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from binascii import crc_hqx
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SLOTS = 16384

ACTIONS = ("test-failover", "kill-primary", "kill-host", "switchover")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class DrillError(Exception):
    """A drill that cannot run (or whose action was refused); code is the CLI exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def key_slot(key: bytes) -> int:
    s = key.find(b"{")
    if s > -1:
        e = key.find(b"}", s + 1)
        if e > -1 and e != s + 1:
            key = key[s + 1:e]
    return crc_hqx(key, 0) % SLOTS


def parse_slot_ranges(text: str | None) -> set[int]:
    out: set[int] = set()
    for part in (text or "").replace(" ", ",").split(","):
        if part:
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
    return out


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def _set_pdeathsig(sig=signal.SIGKILL) -> None:
    # In the child between fork and exec: dies with its parent, even on SIGKILL.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG


# ---------------------------------------------------------------------------------------------
# Errors as the client sees them


def error_kind(e: BaseException) -> str:
    """A short, stable name for a client-visible error."""
    import redis.exceptions as rex
    msg = str(e)
    up = msg.upper()
    if isinstance(e, NoPrimary):
        return "no-primary"
    if isinstance(e, rex.TimeoutError) or isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, rex.ConnectionError) or isinstance(e, OSError):
        if "refused" in msg.lower():
            return "connection-refused"
        if "reset" in msg.lower() or "closed" in msg.lower() or "broken pipe" in msg.lower():
            return "connection-lost"
        return "connection-error"
    if isinstance(e, rex.ReadOnlyError) or up.startswith("READONLY"):
        return "readonly"
    if isinstance(e, rex.MovedError) or up.startswith("MOVED"):
        return "moved"
    if isinstance(e, rex.MasterDownError) or up.startswith("MASTERDOWN"):
        return "masterdown"
    if isinstance(e, rex.ClusterDownError) or up.startswith("CLUSTERDOWN"):
        return "clusterdown"
    if up.startswith("LOADING") or isinstance(e, rex.BusyLoadingError):
        return "loading"
    if isinstance(e, rex.TryAgainError) or up.startswith("TRYAGAIN"):
        return "tryagain"
    if "cannot be connected" in msg or "could not agree" in msg or "not covered" in msg:
        return "no-topology"
    return "other:" + type(e).__name__


class NoPrimary(Exception):
    """The resolver found no node that says it is the primary."""


# ---------------------------------------------------------------------------------------------
# Resolvers (cluster mode disabled): where is the primary now?


def _role(host: str, port: int, timeout_s: float) -> str | None:
    import redis
    r = redis.Redis(host=host, port=port, socket_timeout=timeout_s,
                    socket_connect_timeout=timeout_s)
    try:
        role = r.execute_command("ROLE")
        return role[0].decode() if isinstance(role[0], bytes) else str(role[0])
    except Exception:  # noqa: BLE001
        return None
    finally:
        r.close()


def boto3_elasticache(endpoint: str, access_key: str | None = None, secret: str | None = None,
                      region: str | None = None, timeout_s: float = 5.0):
    import boto3
    from botocore.config import Config
    kw = {}
    if access_key and secret:
        kw = {"aws_access_key_id": access_key, "aws_secret_access_key": secret}
    cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=timeout_s,
                 read_timeout=max(timeout_s, 10))
    return boto3.client("elasticache", endpoint_url=endpoint,
                        region_name=region or os.environ.get("AWS_DEFAULT_REGION")
                        or os.environ.get("AWS_REGION") or "us-east-1", config=cfg, **kw)


class DescribeResolver:
    """The group's PrimaryEndpoint (node group `node_group`, default the first), accepted only
    when ROLE on it says master: what an application that reads its endpoint from the service
    (ElastiCache: the primary endpoint's DNS name) does after a failed write."""

    def __init__(self, endpoint, group, node_group=None, access_key=None, secret=None,
                 region=None, timeout_s=1.0):
        self.ec = boto3_elasticache(endpoint, access_key, secret, region, timeout_s=2.0)
        self.group, self.node_group, self.timeout_s = group, node_group, timeout_s

    def __call__(self) -> tuple[str, int]:
        rg = self.ec.describe_replication_groups(ReplicationGroupId=self.group)
        ngs = rg["ReplicationGroups"][0].get("NodeGroups") or []
        ng = next((n for n in ngs if n.get("NodeGroupId") == self.node_group), ngs[0] if ngs
                  else None)
        pe = (ng or {}).get("PrimaryEndpoint")
        if not pe:
            raise NoPrimary("Describe shows no PrimaryEndpoint")
        addr = (pe["Address"], int(pe["Port"]))
        if _role(*addr, self.timeout_s) != "master":
            raise NoPrimary(f"PrimaryEndpoint {addr[0]}:{addr[1]} is not a master (ROLE)")
        return addr


class StaticResolver:
    """The first of a fixed list of nodes whose ROLE is master (the simulations and tests)."""

    def __init__(self, nodes, timeout_s=0.5):
        self.nodes = [(h, int(p)) for h, p in nodes]
        self.timeout_s = timeout_s

    def __call__(self) -> tuple[str, int]:
        for addr in self.nodes:
            if _role(*addr, self.timeout_s) == "master":
                return addr
        raise NoPrimary("no node of the list says master")


class SentinelResolver:
    """SENTINEL get-master-addr-by-name on the first sentinel that answers, confirmed by ROLE
    (what redis-py's Sentinel client does)."""

    def __init__(self, sentinels, name, timeout_s=0.5):
        self.sentinels = [(h, int(p)) for h, p in sentinels]
        self.name, self.timeout_s = name, timeout_s

    def __call__(self) -> tuple[str, int]:
        import redis
        for h, p in self.sentinels:
            s = redis.Redis(host=h, port=p, socket_timeout=self.timeout_s,
                            socket_connect_timeout=self.timeout_s)
            try:
                a = s.execute_command("SENTINEL", "get-master-addr-by-name", self.name)
            except Exception:  # noqa: BLE001
                continue
            finally:
                s.close()
            if a:
                addr = (a[0].decode(), int(a[1]))
                if _role(*addr, self.timeout_s) == "master":
                    return addr
                raise NoPrimary(f"sentinel names {addr[0]}:{addr[1]}, which is not a master")
        raise NoPrimary("no sentinel answered")


def make_resolver(spec: dict):
    k = spec["kind"]
    if k == "describe":
        return DescribeResolver(spec["endpoint"], spec["group"], spec.get("node_group"),
                                spec.get("access_key"), spec.get("secret"), spec.get("region"))
    if k == "static":
        return StaticResolver(spec["nodes"])
    if k == "sentinel":
        return SentinelResolver(spec["sentinels"], spec["name"])
    raise ValueError(f"unknown resolver kind {k!r}")


# ---------------------------------------------------------------------------------------------
# Writers: one SET (+ optional WAIT on the same connection) per call; raise on failure


class StandaloneWriter:
    """Cluster mode disabled: one redis-py Redis on the current primary. A failed write
    (connection error, timeout, READONLY, LOADING, MASTERDOWN) drops the connection; the next
    write re-resolves the primary (at most once per retry_s)."""

    def __init__(self, resolver, socket_timeout_s=1.0, retry_s=0.02):
        self.resolver = resolver
        self.socket_timeout_s = socket_timeout_s
        self.retry_s = retry_s
        self.r = None
        self.addr: tuple[str, int] | None = None
        self._last_resolve = 0.0
        self.resolves = 0

    def _connect(self):
        import redis
        wait = self._last_resolve + self.retry_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_resolve = time.monotonic()
        self.resolves += 1
        self.addr = self.resolver()
        self.r = redis.Redis(host=self.addr[0], port=self.addr[1],
                             socket_timeout=self.socket_timeout_s,
                             socket_connect_timeout=self.socket_timeout_s)

    def drop(self):
        if self.r is not None:
            try:
                self.r.close()
                self.r.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass
        self.r = None

    def node_name(self) -> str:
        return f"{self.addr[0]}:{self.addr[1]}" if self.addr else "?"

    def write(self, key: str, val: bytes):
        if self.r is None:
            self._connect()
        try:
            self.r.set(key, val)
        except Exception:
            self.drop()
            raise
        return self.r

    def wait(self, handle, replicas: int, timeout_ms: int) -> int:
        # Same Redis object, single thread: the pool hands back the connection of the SET.
        return int(handle.execute_command("WAIT", replicas, timeout_ms))

    def close(self):
        self.drop()


class ClusterWriter:
    """Cluster mode enabled. redis-py's RedisCluster discovers the nodes and routes by slot, and
    each SET goes to the slot's primary through that node's own redis-py client. The retry is
    ours and short, like an application that retries a write quickly: on a connection error or
    timeout the slot map is refreshed (CLUSTER SLOTS via RedisCluster's NodesManager, at most
    once per retry_s) and the write is reported failed; MOVED updates the slot map and the write
    is retried at once (up to 3 times), TRYAGAIN after 10 ms. redis-py 4.3.4's own
    RedisCluster.set() instead retries a refused connection 5 times 0.25 s apart before it
    refreshes anything, which would add about a second to every measured outage
    (client="redis-py" measures exactly that)."""

    def __init__(self, startup: list[tuple[str, int]], socket_timeout_s=1.0, retry_s=0.02,
                 client="short-retry"):
        from redis.cluster import ClusterNode, RedisCluster
        self.startup = [(h, int(p)) for h, p in startup]
        self.socket_timeout_s = socket_timeout_s
        self.retry_s = retry_s
        self.client = client
        self._last_refresh = 0.0
        self.refreshes = 0
        self.rc = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in self.startup],
                               socket_timeout=socket_timeout_s,
                               socket_connect_timeout=socket_timeout_s)
        self.last_node = "?"

    def refresh(self):
        """A new slot map from the first node that answers CLUSTER SLOTS (the nodes we know,
        then the seeds). The same map NodesManager.initialize() builds, minus its cost: 4.3.4's
        builds it slot by slot through several helper calls, 100-600 ms of CPU on a busy
        2-core machine, which would delay every measured recovery by as much."""
        from redis.cluster import PRIMARY, REPLICA, ClusterNode
        wait = self._last_refresh + self.retry_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_refresh = time.monotonic()
        self.refreshes += 1
        nm = self.rc.nodes_manager
        seeds = list(nm.nodes_cache.values())
        seeds += [ClusterNode(h, p) for h, p in self.startup
                  if f"{h}:{p}" not in nm.nodes_cache]
        last = None
        for seed in seeds:
            try:
                r = self.rc.get_redis_connection(seed) if seed.name in nm.nodes_cache else None
                if r is None:
                    nm.create_redis_connections([seed])
                    r = seed.redis_connection
                raw = r.execute_command("CLUSTER", "SLOTS")
            except Exception as e:  # noqa: BLE001 — try the next node
                last = e
                continue
            nodes: dict[str, ClusterNode] = {}

            def node(entry, role):
                h = entry[0].decode() if isinstance(entry[0], bytes) else str(entry[0])
                name = f"{h or seed.host}:{int(entry[1])}"
                n = nodes.get(name) or nm.nodes_cache.get(name) or \
                    ClusterNode(h or seed.host, int(entry[1]), role)
                if role == PRIMARY or name not in nodes:
                    n.server_type = role
                nodes[name] = n
                return n
            cache = {}
            for entry in raw:
                a, b = int(entry[0]), int(entry[1])
                lst = [node(entry[2], PRIMARY)] + [node(x, REPLICA) for x in entry[3:]]
                # One list shared by the range: nothing mutates it in place (MOVED replaces a
                # slot's entry, see _moved; NodesManager's own MOVED update is never armed).
                cache.update(dict.fromkeys(range(a, b + 1), lst))
            if not cache:
                continue
            nm.create_redis_connections(list(nodes.values()))
            nm.nodes_cache, nm.slots_cache = nodes, cache
            nm.default_node = next(n for n in nodes.values() if n.server_type == PRIMARY)
            nm._moved_exception = None
            return
        raise last or RuntimeError("no node answered CLUSTER SLOTS")

    def node_name(self) -> str:
        return self.last_node

    def _moved(self, e) -> None:
        """-MOVED: the slot's entry points at the named node from now on; after a failover
        the whole range moved, so the slot map is refreshed too (at most once per retry_s)."""
        from redis.cluster import PRIMARY, ClusterNode
        nm = self.rc.nodes_manager
        name = f"{e.host}:{e.port}"
        n = nm.nodes_cache.get(name)
        if n is None:
            n = nm.nodes_cache[name] = ClusterNode(e.host, e.port, PRIMARY)
            nm.create_redis_connections([n])
        n.server_type = PRIMARY
        nm.slots_cache[e.slot_id] = [n]
        if time.monotonic() - self._last_refresh >= self.retry_s:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001
                pass

    def write(self, key: str, val: bytes):
        import redis.exceptions as rex
        if self.client == "redis-py":
            self.rc.set(key, val)
            node = self.rc.get_node_from_key(key)
            self.last_node = node.name
            return node
        for attempt in range(4):
            node = self.rc.get_node_from_key(key)
            self.last_node = node.name
            r = self.rc.get_redis_connection(node)
            try:
                r.set(key, val)
                return r
            except (rex.ConnectionError, rex.TimeoutError):
                r.connection_pool.disconnect()
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 — the write's error is what we report
                    pass
                raise
            except rex.ResponseError as e:
                msg = str(e).upper()
                if (isinstance(e, rex.MovedError) or msg.startswith("MOVED")) and attempt < 3:
                    self._moved(e if isinstance(e, rex.MovedError)
                                else rex.MovedError(str(e).split(" ", 1)[1]))
                    continue
                if isinstance(e, rex.TryAgainError) and attempt < 3:
                    time.sleep(0.01)
                    continue
                if msg.startswith("TRYAGAIN") and attempt < 3:
                    time.sleep(0.01)
                    continue
                if isinstance(e, (rex.ClusterDownError, rex.ReadOnlyError, rex.MovedError)) \
                        or msg.startswith(("CLUSTERDOWN", "MASTERDOWN", "READONLY", "MOVED")):
                    try:
                        self.refresh()
                    except Exception:  # noqa: BLE001
                        pass
                raise
        raise RuntimeError("unreachable")

    def wait(self, handle, replicas: int, timeout_ms: int) -> int:
        if self.client == "redis-py":
            return int(self.rc.execute_command("WAIT", replicas, timeout_ms,
                                               target_nodes=handle))
        return int(handle.execute_command("WAIT", replicas, timeout_ms))

    def close(self):
        try:
            self.rc.close()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------------------------
# The load loop (runs in the load process)

# One record per write attempt, a list to keep the file small:
R_SEQ, R_SLOT, R_T0, R_T1, R_OK, R_ERR, R_WAIT, R_TW, R_NODE = range(9)
# R_WAIT: None (no WAIT after this write), n >= 0 (WAIT's reply), -1 (WAIT raised)


def run_load(writer, *, rate: float, prefix: str, run_id: str, wait_every: int,
             wait_timeout_ms: int, retry_s: float, stop: threading.Event,
             on_first_ok=None, max_writes: int = 0) -> dict:
    period = 1.0 / rate if rate > 0 else 0.0
    records: list[list] = []
    nodes: dict[str, int] = {}
    seq = 0
    first_ok = False
    next_t = time.monotonic()
    while not stop.is_set() and (not max_writes or seq < max_writes):
        seq += 1
        key = f"{prefix}{seq}"
        val = f"{seq}:{run_id}".encode()
        slot = key_slot(key.encode())
        t0 = time.monotonic()
        ok, err, wres, tw = 0, "", None, 0.0
        try:
            h = writer.write(key, val)
            t1 = time.monotonic()
            ok = 1
            if wait_every and seq % wait_every == 0:
                try:
                    wres = writer.wait(h, 1, wait_timeout_ms)
                except Exception:  # noqa: BLE001 — acknowledged, but not confirmed
                    wres = -1
                tw = time.monotonic()
        except Exception as e:  # noqa: BLE001 — every client-visible error counts
            t1 = time.monotonic()
            err = error_kind(e)
        node = writer.node_name()
        ni = nodes.setdefault(node, len(nodes))
        records.append([seq, slot, round(t0, 6), round(t1, 6), ok, err, wres, round(tw, 6),
                        ni])
        if ok and not first_ok:
            first_ok = True
            if on_first_ok:
                on_first_ok()
        now = time.monotonic()
        next_t += period
        if not ok:
            next_t = max(next_t, now + retry_s)
        if next_t - now > 0:
            stop.wait(next_t - now)
        elif now - next_t > 1.0:  # far behind (a long block): don't burst afterwards
            next_t = now
    return {"records": records, "nodes": {v: k for k, v in nodes.items()}}


def _load_main(argv) -> int:
    """`cfdrill.py load`: reads one JSON spec line on stdin, prints `ready` once a write has
    been acknowledged (or `failed <why>`), runs until a line (or EOF) on stdin, writes the
    records to spec["out"] and prints `done`."""
    import logging
    # RedisCluster logs every error it handles with log.exception(); without a handler Python
    # prints them all on stderr. The errors are what we count, not what we print.
    rc_log = logging.getLogger("redis.cluster")
    rc_log.addHandler(logging.NullHandler())
    rc_log.propagate = False
    rc_log.setLevel(logging.CRITICAL)
    spec = json.loads(sys.stdin.readline())
    stop = threading.Event()
    ready = threading.Event()
    try:
        if spec["mode"] == "cluster":
            writer = ClusterWriter(spec["startup"], spec.get("socket_timeout_s", 1.0),
                                   spec.get("retry_ms", 20) / 1000.0,
                                   spec.get("client", "short-retry"))
        else:
            writer = StandaloneWriter(make_resolver(spec["resolver"]),
                                      spec.get("socket_timeout_s", 1.0),
                                      spec.get("retry_ms", 20) / 1000.0)
    except Exception as e:  # noqa: BLE001
        print(f"failed {type(e).__name__}: {e}", flush=True)
        return 1
    result: dict = {}
    started = time.monotonic()

    def work():
        try:
            result.update(run_load(
                writer, rate=spec.get("rate", 500), prefix=spec["prefix"],
                run_id=spec["run_id"], wait_every=spec.get("wait_every", 10),
                wait_timeout_ms=spec.get("wait_timeout_ms", 200),
                retry_s=spec.get("retry_ms", 20) / 1000.0, stop=stop, on_first_ok=ready.set))
        except BaseException as e:  # noqa: BLE001
            result["fatal"] = f"{type(e).__name__}: {e}"
        finally:
            ready.set()

    t = threading.Thread(target=work, daemon=True)
    t.start()
    if not ready.wait(spec.get("ready_timeout_s", 30)):
        print("failed no write acknowledged within the ready timeout", flush=True)
        stop.set()
        t.join(10)
        return 1
    print("ready" if "fatal" not in result else f"failed {result['fatal']}", flush=True)
    sys.stdin.readline()
    stop.set()
    t.join(30)
    writer.close()
    result.update({"started": started, "stopped": time.monotonic(), "spec": spec,
                   "resolves": getattr(writer, "resolves", 0),
                   "refreshes": getattr(writer, "refreshes", 0)})
    tmp = spec["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, spec["out"])
    print("done", flush=True)
    return 0


class LoadProcess:
    """The client in its own process. `with LoadProcess(spec) as lp: ...; res = lp.stop()`.
    spec: mode ("cluster" | "standalone"), startup [[host, port]...] (cluster) or resolver
    (standalone, see make_resolver), rate, wait_every, wait_timeout_ms, retry_ms, prefix,
    run_id, socket_timeout_s, client ("short-retry" | "redis-py")."""

    def __init__(self, spec: dict):
        self.spec = dict(spec)
        self.spec.setdefault("run_id", f"{os.getpid()}-{int(time.time() * 1000)}")
        self.spec.setdefault("prefix", f"cfdrill:{self.spec['run_id']}:")
        fd, self.out = tempfile.mkstemp(prefix="cfdrill-load-", suffix=".json")
        os.close(fd)
        os.unlink(self.out)
        self.spec["out"] = self.out
        self.p: subprocess.Popen | None = None
        self.result: dict | None = None

    def start(self, timeout_s: float = 40.0) -> "LoadProcess":
        # stderr to a file, not a pipe: a chatty child must never block on a full pipe.
        self.err = tempfile.TemporaryFile(prefix="cfdrill-load-err-")
        self.p = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "load"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True,
                                  preexec_fn=_set_pdeathsig, close_fds=True)
        self.p.stdin.write(json.dumps(self.spec) + "\n")
        self.p.stdin.flush()
        line = self._readline(timeout_s)
        if line.strip() != "ready":
            err = self.kill()
            raise DrillError(f"the client load did not start: {line.strip() or '(no output)'}"
                             + (f"; {err.strip()[-400:]}" if err.strip() else ""), EXIT_FAILED)
        return self

    def _readline(self, timeout_s: float) -> str:
        out: list[str] = []
        t = threading.Thread(target=lambda: out.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout_s)
        return out[0] if out else ""

    def stop(self, timeout_s: float = 30.0) -> dict:
        """Stops the load (it finishes its current write), returns its records."""
        if self.result is not None:
            return self.result
        try:
            self.p.stdin.write("stop\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        line = self._readline(timeout_s)
        if line.strip() != "done":
            err = self.kill()
            raise DrillError(f"the client load did not stop cleanly: {line.strip()!r} "
                             f"{err.strip()[-400:]}", EXIT_FAILED)
        self.p.wait(10)
        for f in (self.p.stdin, self.p.stdout, self.err):
            try:
                f.close()
            except OSError:
                pass
        with open(self.out) as f:
            self.result = json.load(f)
        os.unlink(self.out)
        return self.result

    def kill(self) -> str:
        """Ends the process whatever it does; returns its stderr."""
        err = ""
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
        if self.p is not None:
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            for f in (self.p.stdin, self.p.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            try:
                self.err.seek(0)
                err = self.err.read()[-4000:].decode(errors="replace")
                self.err.close()
            except (OSError, ValueError):
                pass
        for f in (self.out, self.out + ".tmp"):
            try:
                os.unlink(f)
            except OSError:
                pass
        return err or ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.result is None:
            self.kill()


# ---------------------------------------------------------------------------------------------
# Analysis


def outage(records: list, t_from: float, blocked_ms: float = 100.0,
           include=None) -> dict:
    """Write outage as the client saw it, over the records whose write ended at or after
    t_from (the action) and for which include(record) is true (e.g. the drilled shard's slots).

    A write is bad when it failed or took longer than blocked_ms. A window opens at the start of
    a bad write and closes at the end of the first successful write after it (a slow write that
    succeeds closes its own window). Returns the windows (ms relative to t_from), their sum
    (`ms`: the time the client could not write), `span_ms` (first bad write's start to the last
    window's end), and the failed writes."""
    windows = []
    cur = None
    for r in records:
        if r[R_T1] < t_from or (include is not None and not include(r)):
            continue
        slow = (r[R_T1] - r[R_T0]) * 1000.0 > blocked_ms
        if not r[R_OK]:
            if cur is None:
                cur = {"start": r[R_T0], "failed": 0, "kinds": {}}
            cur["failed"] += 1
            cur["kinds"][r[R_ERR]] = cur["kinds"].get(r[R_ERR], 0) + 1
            continue
        if cur is None and slow:
            cur = {"start": r[R_T0], "failed": 0, "kinds": {}}
        if cur is not None:
            cur["end"] = r[R_T1]
            windows.append(cur)
            cur = None
    open_end = None
    if cur is not None:  # never recovered while the load ran
        last = max((r[R_T1] for r in records), default=cur["start"])
        cur["end"] = last
        cur["open"] = True
        windows.append(cur)
        open_end = last
    # The longest pause between two acknowledged writes after the action (whatever their
    # latency): what a planned switch-over that stays under blocked_ms still costs.
    gap, prev = 0.0, None
    for r in records:
        if r[R_OK] and (include is None or include(r)):
            if prev is not None and r[R_T1] >= t_from:
                gap = max(gap, r[R_T1] - max(prev, t_from))
            prev = r[R_T1]
    out = [{"start_ms": round((w["start"] - t_from) * 1000, 1),
            "end_ms": round((w["end"] - t_from) * 1000, 1),
            "ms": round((w["end"] - w["start"]) * 1000, 1), "failed_writes": w["failed"],
            "errors": w["kinds"], **({"recovered": False} if w.get("open") else {})}
           for w in windows]
    total = round(sum(w["ms"] for w in out), 1)
    return {"ms": total, "windows": out,
            "span_ms": round(out[-1]["end_ms"] - out[0]["start_ms"], 1) if out else 0.0,
            "longest_ms": max((w["ms"] for w in out), default=0.0),
            "max_gap_ms": round(gap * 1000, 1),
            "recovered": open_end is None, "blocked_threshold_ms": blocked_ms}


def load_summary(res: dict, include=None) -> dict:
    recs = res["records"]
    sel = [r for r in recs if include is None or include(r)]
    # Latency of acknowledged writes, leaving out the very first (it includes connecting).
    first = next((i for i, r in enumerate(recs) if r[R_OK]), None)
    lat = sorted((r[R_T1] - r[R_T0]) * 1000 for i, r in enumerate(recs) if r[R_OK] and i != first)
    kinds: dict[str, int] = {}
    for r in recs:
        if not r[R_OK]:
            kinds[r[R_ERR]] = kinds.get(r[R_ERR], 0) + 1

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))], 2) if lat else 0.0
    acked = [r for r in recs if r[R_OK]]
    waited = [r for r in acked if r[R_WAIT] is not None]
    dur = max(1e-9, res.get("stopped", 0) - res.get("started", 0))
    return {
        "writes": len(recs), "acknowledged": len(acked), "failed": len(recs) - len(acked),
        "wait_confirmed": sum(1 for r in waited if r[R_WAIT] >= 1),
        "wait_unconfirmed": sum(1 for r in waited if r[R_WAIT] == 0),
        "wait_errors": sum(1 for r in waited if r[R_WAIT] < 0),
        "primary_only": len(acked) - sum(1 for r in waited if r[R_WAIT] >= 1),
        "errors_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
        "affected_writes": len(sel), "duration_s": round(dur, 2),
        "writes_per_s": round(len(recs) / dur, 1), "rate": res.get("spec", {}).get("rate"),
        "latency_ms": {"p50": pct(50), "p99": pct(99), "max": round(lat[-1], 1) if lat else 0.0},
        "resolves": res.get("resolves", 0), "refreshes": res.get("refreshes", 0),
        **({"fatal": res["fatal"]} if res.get("fatal") else {}),
    }


# ---------------------------------------------------------------------------------------------
# Verification


def _expected(res: dict):
    spec = res["spec"]
    for r in res["records"]:
        if r[R_OK]:
            yield (f"{spec['prefix']}{r[R_SEQ]}", f"{r[R_SEQ]}:{spec['run_id']}".encode(),
                   r[R_WAIT] is not None and r[R_WAIT] >= 1, r)


def _slot_owners(seeds) -> list:
    import redis
    last = None
    for h, p in seeds:
        r = redis.Redis(host=h, port=int(p), socket_timeout=5, socket_connect_timeout=2)
        try:
            raw = r.execute_command("CLUSTER", "SLOTS")
        except Exception as e:  # noqa: BLE001
            last = e
            continue
        finally:
            r.close()
        owners: list = [None] * SLOTS
        for entry in raw:
            m = entry[2]
            addr = ((m[0].decode() if isinstance(m[0], bytes) else m[0]) or h, int(m[1]))
            owners[int(entry[0]):int(entry[1]) + 1] = [addr] * (int(entry[1]) - int(entry[0]) + 1)
        return owners
    raise RuntimeError(f"no node answered CLUSTER SLOTS: {last}")


def _get_by_owner(keys: list[str], owners: list) -> list:
    import redis
    out: list = [None] * len(keys)
    groups: dict = {}
    for i, k in enumerate(keys):
        groups.setdefault(owners[key_slot(k.encode())], []).append(i)
    for addr, idx in groups.items():
        if addr is None:
            continue
        r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=10)
        try:
            for c in range(0, len(idx), 1000):
                part = idx[c:c + 1000]
                pipe = r.pipeline(transaction=False)
                for i in part:
                    pipe.get(keys[i])
                for i, v in zip(part, pipe.execute(raise_on_error=False)):
                    out[i] = None if isinstance(v, Exception) else v
        finally:
            r.close()
    return out


def verify(res: dict, *, startup: list | None = None, primary: tuple | None = None,
           resolver=None) -> dict:
    """Reads every acknowledged key back (cluster: through a fresh RedisCluster from `startup`;
    standalone: from `primary`, else resolver()) and counts the lost ones (missing or another
    value), split by WAIT-confirmed / primary-only. Also counts failed writes that landed."""
    import redis
    exp = list(_expected(res))
    failed_keys = [f"{res['spec']['prefix']}{r[R_SEQ]}" for r in res["records"] if not r[R_OK]]
    keys = [e[0] for e in exp]
    got: list = []
    got_failed: list = []
    if res["spec"]["mode"] == "cluster":
        # Straight to the master owning each key's slot now (CLUSTER SLOTS of the first node
        # that answers), pipelined GETs: no client-side retry can hide a missing key.
        owners = _slot_owners(startup)
        got = _get_by_owner(keys, owners)
        got_failed = _get_by_owner(failed_keys, owners)
    else:
        addr = primary or resolver()
        r = redis.Redis(host=addr[0], port=int(addr[1]), socket_timeout=10)
        try:
            for chunk in range(0, len(keys), 2000):
                got.extend(r.mget(keys[chunk:chunk + 2000]))
            for chunk in range(0, len(failed_keys), 2000):
                got_failed.extend(r.mget(failed_keys[chunk:chunk + 2000]))
        finally:
            r.close()
    lost_c, lost_p, examples = 0, 0, []
    lost_seqs = []
    for (key, want, confirmed, rec), g in zip(exp, got):
        if g != want:
            if confirmed:
                lost_c += 1
            else:
                lost_p += 1
            lost_seqs.append(rec[R_SEQ])
            if len(examples) < 5:
                examples.append({"key": key, "wait_confirmed": confirmed,
                                 "got": g.decode(errors="replace") if g else None})
    return {"checked": len(exp), "lost": lost_c + lost_p, "lost_wait_confirmed": lost_c,
            "lost_primary_only": lost_p, "examples": examples, "lost_seqs": lost_seqs[:20],
            "failed_but_present": sum(1 for g in got_failed if g is not None)}


# ---------------------------------------------------------------------------------------------
# The group as DescribeReplicationGroups shows it


def group_view(rg: dict) -> dict:
    cluster = bool(rg.get("ConfigurationEndpoint")) or bool(rg.get("ClusterEnabled"))
    ngs = {}
    for ng in rg.get("NodeGroups") or []:
        members = {}
        for m in ng.get("NodeGroupMembers") or []:
            ep = m.get("ReadEndpoint") or {}
            members[m["CacheClusterId"]] = {
                "role": m.get("CurrentRole"), "host": ep.get("Address"),
                "port": int(ep["Port"]) if ep.get("Port") else None,
                "az": m.get("PreferredAvailabilityZone")}
        pe = ng.get("PrimaryEndpoint")
        pe = (pe["Address"], int(pe["Port"])) if pe and pe.get("Port") else None
        # The member at PrimaryEndpoint first: after a host is lost, Describe may still show
        # the dead node's last observed CurrentRole (primary) next to the promoted one.
        primary = next((i for i, m in members.items() if pe and (m["host"], m["port"]) == pe),
                       None)
        if primary is None:
            primary = next((i for i, m in members.items() if m["role"] == "primary"), None)
        ngs[ng["NodeGroupId"]] = {"primary": primary, "members": members,
                                  "slots": ng.get("Slots"), "primary_endpoint": pe,
                                  "status": ng.get("Status")}
    ce = rg.get("ConfigurationEndpoint")
    return {"id": rg["ReplicationGroupId"], "status": rg.get("Status"), "cluster": cluster,
            "config_endpoint": (ce["Address"], int(ce["Port"])) if ce and ce.get("Port")
            else None,
            "automatic_failover": rg.get("AutomaticFailover"), "node_groups": ngs}


def member_addr(view: dict, ng: str, member: str | None) -> tuple[str, int] | None:
    m = view["node_groups"].get(ng, {}).get("members", {}).get(member or "")
    return (m["host"], m["port"]) if m and m.get("port") else None


def all_member_addrs(view: dict) -> list[tuple[str, int]]:
    out = []
    for ng in view["node_groups"].values():
        for m in ng["members"].values():
            if m.get("port"):
                out.append((m["host"], m["port"]))
    return out


# ---------------------------------------------------------------------------------------------
# Local processes (the lab's): only loopback endpoints, only redis-servers / cachefleet-agents


LOOPBACK = ("127.", "::1", "localhost")


def is_loopback(host: str) -> bool:
    return host.startswith(LOOPBACK)


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def redis_pid_of(host: str, port: int) -> int:
    """The pid of the redis-server serving host:port (INFO server process_id), checked against
    /proc: a live redis-server whose process title names that port. Loopback only."""
    import redis
    if not is_loopback(host):
        raise DrillError(f"{host}:{port} is not a loopback address: kill actions only run "
                         "against a lab on this machine")
    r = redis.Redis(host=host, port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        pid = int(r.info("server")["process_id"])
    except Exception as e:  # noqa: BLE001
        raise DrillError(f"INFO on {host}:{port} failed: {e}", EXIT_FAILED) from e
    finally:
        r.close()
    argv = _cmdline(pid)
    if not argv or not os.path.basename(argv[0].split()[0]).startswith("redis-server") \
            or f":{port}" not in " ".join(argv) or not _alive(pid):
        raise DrillError(f"pid {pid} (from INFO on {host}:{port}) is not a local redis-server on "
                         f"that port ({' '.join(argv) or 'gone'}): refusing to kill it")
    return pid


def lab_dir_default() -> Path:
    return Path(os.environ.get("CACHEFLEET_LAB_DIR", REPO / ".lab"))


def lab_state(lab_dir: Path) -> dict:
    try:
        return json.loads((Path(lab_dir) / "lab.json").read_text())
    except (OSError, ValueError) as e:
        raise DrillError(f"no lab state in {lab_dir} ({e}); kill-host needs the lab directory "
                         "(--lab-dir or CACHEFLEET_LAB_DIR)") from e


def host_of_node(lab_dir: Path, node_port: int, node_id: str | None = None) -> str:
    st = lab_state(lab_dir)
    for h, a in (st.get("agents") or {}).items():
        data = Path(a.get("data_dir") or Path(lab_dir) / "agents" / h / "data")
        if node_id and (data / "nodes" / node_id).is_dir():
            return h
    for h, a in (st.get("agents") or {}).items():
        rng = a.get("port_range") or []
        if len(rng) == 2 and rng[0] <= node_port <= rng[1]:
            return h
    raise DrillError(f"no agent of the lab in {lab_dir} hosts port {node_port}")


def redis_pids_under(root: Path) -> list[int]:
    root_s = str(Path(root).resolve())
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        pid = int(e)
        argv = _cmdline(pid)
        if not argv or not os.path.basename(argv[0].split()[0]).startswith("redis-server"):
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if (cwd == root_s or cwd.startswith(root_s + "/")) and _alive(pid):
            out.append(pid)
    return sorted(out)


def kill_host(lab_dir: Path, host_id: str) -> dict:
    """SIGKILL of the agent `host_id` of the lab in lab_dir and of every redis-server working
    in its data dir (its nodes and its warm pool): the host is gone. Returns what was killed and
    how to start the agent again (its argv)."""
    lab_dir = Path(lab_dir).resolve()
    st = lab_state(lab_dir)
    a = (st.get("agents") or {}).get(host_id)
    if not a:
        raise DrillError(f"the lab in {lab_dir} has no agent {host_id}")
    try:
        pid = int((lab_dir / "pids" / f"agent-{host_id}.pid").read_text().strip())
    except (OSError, ValueError) as e:
        raise DrillError(f"no pid file for agent {host_id} in {lab_dir}/pids") from e
    argv = _cmdline(pid)
    if not _alive(pid) or not any("cachefleet-agent" in x for x in argv) \
            or not any(str(lab_dir) in x for x in argv):
        raise DrillError(f"pid {pid} is not the running agent {host_id} of {lab_dir}")
    data = Path(a.get("data_dir") or lab_dir / "agents" / host_id / "data")
    nodes = redis_pids_under(data)
    t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    for n in nodes:
        try:
            os.kill(n, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return {"host": host_id, "agent_pid": pid, "redis_pids": nodes, "agent_argv": argv,
            "t": t}


def restart_agent(lab_dir: Path, host_id: str, argv: list[str], timeout_s: float = 30.0) -> int:
    """Starts the agent again with the argv it had (same config: host id, ports, data dir), in
    its own session, its output appended to the lab's log, its pid in the lab's pid file (what
    `lab.sh down` and the test fixtures stop). Returns when it serves."""
    sys.path.insert(0, str(HERE))
    import cflab
    lab_dir = Path(lab_dir).resolve()
    log = lab_dir / "logs" / f"agent-{host_id}.log"
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as f:
        f.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} cachefleet drill restarting: "
                f"{' '.join(argv)}\n".encode())
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=str(lab_dir), start_new_session=True, close_fds=True)
    (lab_dir / "pids" / f"agent-{host_id}.pid").write_text(f"{p.pid}\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(log, "rb") as f:
            f.seek(offset)
            m = cflab._AGENT_READY.search(f.read())
        if m:
            st = lab_state(lab_dir)
            if host_id in st.get("agents", {}):
                st["agents"][host_id]["grpc_port"] = int(m.group(3))
                (lab_dir / "lab.json").write_text(json.dumps(st, indent=2) + "\n")
            rng = st.get("agents", {}).get(host_id, {}).get("port_range")
            if rng:
                try:
                    cflab.transfer_reservation(rng[0], p.pid)
                except Exception:  # noqa: BLE001
                    pass
            return p.pid
        if p.poll() is not None:
            raise DrillError(f"agent {host_id} exited with {p.returncode} on restart",
                             EXIT_FAILED)
        time.sleep(0.05)
    raise DrillError(f"agent {host_id} not serving {timeout_s:g} s after its restart",
                     EXIT_FAILED)


# ---------------------------------------------------------------------------------------------
# The drill


class Drill:
    """One drill against a cachefleet replication group. opts: group, action, node_group,
    to, rate, duration (s of load before the action), after (s of load once the group is back),
    wait_every, wait_timeout_ms, retry_ms, blocked_ms, timeout (s for the group to come back),
    rejoin_timeout, lab_dir, restore_host, client, endpoint, access_key, secret, region,
    poll_s, log (callable for progress lines or None)."""

    def __init__(self, **opts):
        self.o = opts
        self.log = opts.get("log") or (lambda s: None)
        self.ec = boto3_elasticache(opts["endpoint"], opts.get("access_key"),
                                    opts.get("secret"), opts.get("region"))
        self.timeline: list[tuple[float, str, str | None, str | None]] = []

    # -- describe ---------------------------------------------------------------------------
    def view(self) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
        try:
            rg = self.ec.describe_replication_groups(
                ReplicationGroupId=self.o["group"])["ReplicationGroups"][0]
        except ClientError as e:
            err = e.response.get("Error", {})
            raise DrillError(f"DescribeReplicationGroups {self.o['group']}: "
                             f"{err.get('Code')}: {err.get('Message')}") from e
        except EndpointConnectionError as e:
            raise DrillError(f"{self.o['endpoint']} unreachable: {e}", EXIT_UNREACHABLE) from e
        except BotoCoreError as e:
            raise DrillError(f"DescribeReplicationGroups: {e}") from e
        v = group_view(rg)
        if v["cluster"]:
            self._enrich_cluster(v)
        return v

    # -- cluster mode: roles and addresses come from the cluster ------------------------------
    # DescribeReplicationGroups, like ElastiCache's, gives cluster-mode members no ReadEndpoint
    # and no CurrentRole. Addresses come from DescribeCacheClusters (ShowCacheNodeInfo) when
    # the orchestrator has it, else from the lab's node.json files; roles from CLUSTER NODES,
    # asked of the configuration endpoint (else any node we know): a node group's primary is
    # the master owning its first slot.

    def _member_addrs(self) -> dict[str, tuple[str, int]]:
        if getattr(self, "_maddrs", None):
            return self._maddrs
        m: dict[str, tuple[str, int]] = {}
        try:
            marker = None
            for _ in range(50):
                kw = {"ShowCacheNodeInfo": True, "MaxRecords": 100}
                if marker:
                    kw["Marker"] = marker
                page = self.ec.describe_cache_clusters(**kw)
                for cc in page.get("CacheClusters", []):
                    if cc.get("ReplicationGroupId") != self.o["group"]:
                        continue
                    for cn in cc.get("CacheNodes") or []:
                        ep = cn.get("Endpoint") or {}
                        if ep.get("Port"):
                            m[cc["CacheClusterId"]] = (ep["Address"], int(ep["Port"]))
                marker = page.get("Marker")
                if not marker:
                    break
        except Exception:  # noqa: BLE001 — not implemented (yet): the lab's records
            pass
        if not m:
            lab_dir = Path(self.o.get("lab_dir") or lab_dir_default())
            for nj in lab_dir.glob("agents/*/data/nodes/*/node.json"):
                try:
                    spec = json.loads(nj.read_text()).get("spec") or {}
                except (OSError, ValueError):
                    continue
                if spec.get("group_id") == self.o["group"] and spec.get("port"):
                    m[nj.parent.name] = ("127.0.0.1", int(spec["port"]))
        self._maddrs = m
        return m

    def _cluster_nodes(self, seeds) -> list[dict] | None:
        import redis
        for h, p in seeds:
            r = redis.Redis(host=h, port=p, socket_timeout=1, socket_connect_timeout=1)
            try:
                text = r.execute_command("CLUSTER", "NODES")
            except Exception:  # noqa: BLE001
                continue
            finally:
                r.close()
            text = text.decode() if isinstance(text, bytes) else str(text)
            nodes = []
            for line in text.splitlines():
                parts = line.split()
                if len(parts) < 8:
                    continue
                addr = parts[1].split("@")[0].split(",")[0]
                nh, _, np_ = addr.rpartition(":")
                owned = set()
                for tok in parts[8:]:
                    if not tok.startswith("["):
                        a, _, b = tok.partition("-")
                        owned.update(range(int(a), int(b or a) + 1))
                nodes.append({"id": parts[0], "addr": (nh or h, int(np_) if np_.isdigit() else 0),
                              "flags": parts[2].split(","),
                              "master": None if parts[3] == "-" else parts[3], "slots": owned})
            return nodes
        return None

    def _enrich_cluster(self, v: dict) -> None:
        addrs = self._member_addrs()
        seen = getattr(self, "_seen_addrs", [])
        seeds = ([v["config_endpoint"]] if v["config_endpoint"] else []) + \
            list(addrs.values()) + seen
        nodes = self._cluster_nodes(dict.fromkeys(seeds))
        if nodes is None:
            return
        self._seen_addrs = list(dict.fromkeys(seen + [n["addr"] for n in nodes]))
        by_addr = {n["addr"]: n for n in nodes}
        id_of = {a: i for i, a in addrs.items()}
        for ngid, ng in v["node_groups"].items():
            slots = parse_slot_ranges(ng.get("slots"))
            lo = min(slots) if slots else None
            master = next((n for n in nodes if "master" in n["flags"] and lo in n["slots"]),
                          None)
            if master is None:
                continue
            group_nodes = [master] + [n for n in nodes if n["master"] == master["id"]]
            # Members Describe lists, with their addresses and roles now.
            for mid, m in ng["members"].items():
                a = addrs.get(mid)
                if a:
                    m["host"], m["port"] = a
                    n = by_addr.get(a)
                    m["role"] = "primary" if n is master else \
                        ("replica" if n is not None and "slave" in n["flags"] else
                         ("failed" if n is not None and "fail" in n["flags"] else m["role"]))
            for n in group_nodes:  # nodes we cannot name: by address
                if n["addr"] not in id_of:
                    ng["members"][f"{n['addr'][0]}:{n['addr'][1]}"] = {
                        "role": "primary" if n is master else "replica", "host": n["addr"][0],
                        "port": n["addr"][1], "az": None}
            pid = id_of.get(master["addr"]) or f"{master['addr'][0]}:{master['addr'][1]}"
            ng["primary"] = pid
            ng["primary_flags"] = master["flags"]

    def _note(self, v: dict, ng: str) -> None:
        n = v["node_groups"].get(ng, {})
        pe = n.get("primary_endpoint")
        entry = (time.monotonic(), v["status"], n.get("primary"),
                 f"{pe[0]}:{pe[1]}" if pe else None)
        if not self.timeline or self.timeline[-1][1:] != entry[1:]:
            self.timeline.append(entry)

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> dict:
        o = self.o
        action = o["action"]
        if action not in ACTIONS:
            raise DrillError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        v0 = self.view()
        if v0["status"] != "available":
            raise DrillError(f"{o['group']} is {v0['status']}, not available")
        ng = o.get("node_group") or sorted(v0["node_groups"])[0]
        if ng not in v0["node_groups"]:
            raise DrillError(f"{o['group']} has no node group {ng} "
                             f"(it has {', '.join(sorted(v0['node_groups']))})")
        g = v0["node_groups"][ng]
        old = g["primary"]
        if not old:
            raise DrillError(f"node group {ng} of {o['group']} shows no primary")
        replicas = [m for m, d in g["members"].items() if m != old]
        if not replicas and action != "kill-host":
            raise DrillError(f"node group {ng} has no replica: nothing to fail over to")
        target = None
        if action == "switchover":
            target = o.get("to") or replicas[0]
            if target not in replicas:
                raise DrillError(f"--to {target}: not a replica of node group {ng} "
                                 f"(replicas: {', '.join(replicas)})")
        old_addr = member_addr(v0, ng, old)
        slots = parse_slot_ranges(g.get("slots")) if v0["cluster"] else None
        if v0["cluster"] and not slots:
            raise DrillError(f"node group {ng} shows no Slots")
        # Kill actions check what they will kill before any load starts.
        kill_pid = host_id = None
        if action == "kill-primary":
            kill_pid = redis_pid_of(*old_addr)
        elif action == "kill-host":
            host_id = host_of_node(Path(o.get("lab_dir") or lab_dir_default()), old_addr[1],
                                   old)
            self._check_lab_endpoint(Path(o.get("lab_dir") or lab_dir_default()))

        spec = {"rate": o.get("rate", 500), "wait_every": o.get("wait_every", 10),
                "wait_timeout_ms": o.get("wait_timeout_ms", 200),
                "retry_ms": o.get("retry_ms", 20), "client": o.get("client", "short-retry"),
                "socket_timeout_s": o.get("socket_timeout_s", 1.0)}
        if v0["cluster"]:
            spec.update(mode="cluster",
                        startup=[list(a) for a in ([v0["config_endpoint"]]
                                                   if v0["config_endpoint"] else [])
                                 + all_member_addrs(v0)])
        else:
            spec.update(mode="standalone", resolver={
                "kind": "describe", "endpoint": o["endpoint"], "group": o["group"],
                "node_group": ng, "access_key": o.get("access_key"), "secret": o.get("secret"),
                "region": o.get("region")})
        report = {"group": o["group"], "mode": "cluster" if v0["cluster"] else "standalone",
                  "action": action, "node_group": ng,
                  "old_primary": {"id": old, "endpoint": _ep(old_addr)},
                  "target": target, "started_at": iso(time.time())}
        wall0 = time.time()
        self.log(f"starting the client load ({spec['rate']:g} writes/s, WAIT every "
                 f"{spec['wait_every']})")
        lp = LoadProcess(spec)
        restore = None
        try:
            lp.start()
            t_load = time.monotonic()
            time.sleep(max(0.0, o.get("duration", 3.0)))
            self.log(f"{action} on node group {ng} (primary {old} at {_ep(old_addr)})")
            t_act = time.monotonic()
            report["trigger_at"] = iso(time.time())
            act = self._act(action, ng, old, old_addr, target, kill_pid, host_id)
            report["action_result"] = {k: v for k, v in act.items() if k not in ("t",
                                                                                "agent_argv")}
            if action == "kill-host":
                restore = act
            t_act = act.get("t", t_act)
            back = self._wait_back(ng, old, t_act, o.get("timeout", 60.0))
            report.update(back["report"])
            if back["ok"]:
                self.log(f"new primary {back['report']['new_primary']['id']}; available after "
                         f"{back['report']['time_to_available_ms']:.0f} ms")
                time.sleep(max(0.0, o.get("after", 2.0)))
            res = lp.stop()
        except BaseException:
            if restore and o.get("restore_host", True):  # never leave the lab's host down
                self._restore(restore, {"action_result": {}})
            raise
        finally:
            if lp.result is None:
                lp.kill()
        inc = (lambda r: r[R_SLOT] in slots) if slots is not None else None
        report["outage"] = outage(res["records"], t_act, o.get("blocked_ms", 100.0), inc)
        report["load"] = load_summary(res, inc)
        report["load"]["before_action_s"] = round(t_act - t_load, 2)
        # Verify against the group as it is now.
        v1 = self.view()
        try:
            if v1["cluster"]:
                ver = verify(res, startup=all_member_addrs(v1))
            else:
                pe = v1["node_groups"][ng]["primary_endpoint"]
                ver = verify(res, primary=pe)
        except Exception as e:  # noqa: BLE001
            ver = {"error": f"{type(e).__name__}: {e}"}
        report["lost"] = ver
        if restore and o.get("restore_host", True):
            self._restore(restore, report)
        report["old_primary_rejoined_ms"] = self._wait_rejoin(ng, old, t_act,
                                                               o.get("rejoin_timeout", 20.0))
        report["timeline"] = [{"at_ms": round((t - t_act) * 1000, 1), "status": s,
                               "primary": p, "primary_endpoint": e}
                              for t, s, p, e in self.timeline]
        report["events"], report["events_error"] = self._events(wall0 - 1.0)
        report["finished_at"] = iso(time.time())
        checks = {"group_back": bool(back["ok"]),
                  "new_primary": bool(back["ok"]) and report.get("new_primary", {}).get("id")
                  not in (None, old),
                  "no_wait_confirmed_write_lost": ver.get("lost_wait_confirmed", 1) == 0}
        if action == "switchover":
            # Planned: lands on the named replica and loses nothing at all; its pause may well
            # stay under --blocked-ms (then outage.max_gap_ms is its cost).
            checks["switched_to_target"] = (report.get("new_primary") or {}).get("id") == target
            checks["no_write_lost"] = ver.get("lost", 1) == 0
        else:
            checks["outage_measured"] = report["outage"]["ms"] > 0
        report["checks"] = checks
        # Required: the group came back with a new primary and nothing WAIT-confirmed was lost
        # (switch-over: on the named replica, nothing lost). outage_measured is informative.
        report["ok"] = checks["new_primary"] and checks["no_wait_confirmed_write_lost"] and \
            checks.get("switched_to_target", True) and checks.get("no_write_lost", True)
        return report

    def _restore(self, killed: dict, report: dict) -> None:
        """Starts the killed host's agent again (restore_fn(host) when given, e.g. the
        fixture's Lab.restart_agent; else the agent's own argv)."""
        self.log(f"restarting agent {killed['host']}")
        try:
            fn = self.o.get("restore_fn")
            if fn:
                fn(killed["host"])
                report["action_result"]["restarted_agent"] = True
            else:
                report["action_result"]["restarted_agent_pid"] = restart_agent(
                    Path(self.o.get("lab_dir") or lab_dir_default()), killed["host"],
                    killed["agent_argv"])
        except Exception as e:  # noqa: BLE001
            report["action_result"]["restart_error"] = f"{type(e).__name__}: {e}"

    def _check_lab_endpoint(self, lab_dir: Path) -> None:
        st = lab_state(lab_dir)
        ep = str(st.get("endpoint") or f"http://127.0.0.1:{st.get('api_port')}").rstrip("/")
        if ep != self.o["endpoint"].rstrip("/"):
            raise DrillError(f"the lab in {lab_dir} serves {ep}, not {self.o['endpoint']}: "
                             "kill-host only kills processes of the lab behind the endpoint")

    def _act(self, action, ng, old, old_addr, target, kill_pid, host_id) -> dict:
        from botocore.exceptions import ClientError
        try:
            if action == "test-failover":
                t = time.monotonic()
                self.ec.test_failover(ReplicationGroupId=self.o["group"], NodeGroupId=ng)
                return {"api": "TestFailover", "node_group": ng, "t": t,
                        "call_ms": round((time.monotonic() - t) * 1000, 1)}
            if action == "switchover":
                t = time.monotonic()
                self.ec.modify_replication_group(ReplicationGroupId=self.o["group"],
                                                 PrimaryClusterId=target, ApplyImmediately=True)
                return {"api": "ModifyReplicationGroup", "primary_cluster_id": target, "t": t,
                        "call_ms": round((time.monotonic() - t) * 1000, 1)}
        except ClientError as e:
            err = e.response.get("Error", {})
            raise DrillError(f"{action}: the orchestrator refused it: {err.get('Code')}: "
                             f"{err.get('Message')}", EXIT_FAILED) from e
        if action == "kill-primary":
            t = time.monotonic()
            os.kill(kill_pid, signal.SIGKILL)
            return {"signal": "SIGKILL", "redis_pid": kill_pid, "node": old,
                    "endpoint": _ep(old_addr), "t": t}
        if action == "kill-host":
            return kill_host(Path(self.o.get("lab_dir") or lab_dir_default()), host_id)
        raise DrillError(f"unknown action {action}")

    def _wait_back(self, ng, old, t_act, timeout_s) -> dict:
        """Polls Describe until the group is available with another primary in `ng`."""
        poll = self.o.get("poll_s", 0.05)
        deadline = t_act + timeout_s
        seen_new = None
        last_err = None
        while time.monotonic() < deadline:
            try:
                v = self.view()
                last_err = None
            except DrillError as e:
                last_err = str(e)
                time.sleep(poll)
                continue
            self._note(v, ng)
            n = v["node_groups"].get(ng, {})
            now = time.monotonic()
            if n.get("primary") not in (None, old) and seen_new is None:
                seen_new = now
            if v["status"] == "available" and n.get("primary") not in (None, old):
                addr = member_addr(v, ng, n["primary"])
                return {"ok": True, "report": {
                    "new_primary": {"id": n["primary"], "endpoint": _ep(addr)},
                    "time_to_new_primary_ms": round((seen_new - t_act) * 1000, 1),
                    "time_to_available_ms": round((now - t_act) * 1000, 1)}}
            time.sleep(poll)
        return {"ok": False, "report": {
            "new_primary": None, "time_to_new_primary_ms": None, "time_to_available_ms": None,
            "error": f"not available with a new primary within {timeout_s:g} s"
                     + (f" (last error: {last_err})" if last_err else "")}}

    def _wait_rejoin(self, ng, old, t_act, timeout_s) -> float | None:
        """ms after the action at which the old primary shows as a replica again (None if not
        within timeout_s from now)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                v = self.view()
                self._note(v, ng)
                m = v["node_groups"].get(ng, {}).get("members", {}).get(old)
                if m and m.get("role") == "replica" and v["status"] == "available":
                    return round((time.monotonic() - t_act) * 1000, 1)
            except DrillError:
                pass
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)

    def _events(self, since_wall: float):
        from botocore.exceptions import ClientError
        g = self.o["group"]
        out, marker = [], None
        try:
            for _ in range(20):
                kw = {"StartTime": datetime.fromtimestamp(since_wall, timezone.utc),
                      "EndTime": datetime.now(timezone.utc), "MaxRecords": 100}
                if marker:
                    kw["Marker"] = marker
                page = self.ec.describe_events(**kw)
                for e in page.get("Events", []):
                    sid = e.get("SourceIdentifier", "")
                    if sid == g or sid.startswith(g + "-"):
                        d = e.get("Date")
                        out.append({"date": iso(d.timestamp()) if hasattr(d, "timestamp")
                                    else str(d), "source_type": e.get("SourceType"),
                                    "source": sid, "message": e.get("Message")})
                marker = page.get("Marker")
                if not marker:
                    break
        except ClientError as e:
            err = e.response.get("Error", {})
            return None, f"DescribeEvents: {err.get('Code')}: {err.get('Message')}"[:300]
        except Exception as e:  # noqa: BLE001
            return None, f"DescribeEvents: {type(e).__name__}: {e}"[:300]
        out.sort(key=lambda e: e["date"] or "")
        return out, None


def _ep(addr) -> str | None:
    return f"{addr[0]}:{addr[1]}" if addr else None


# ---------------------------------------------------------------------------------------------
# The human-readable report


def _ms(v) -> str:
    return "-" if v is None else (f"{v:.0f} ms" if v < 10000 else f"{v / 1000:.1f} s")


def format_report(r: dict) -> str:
    L = []
    mode = "cluster mode enabled" if r.get("mode") == "cluster" else "cluster mode disabled"
    L.append(f"drill {r['action']} on {r['group']} ({mode}), node group {r['node_group']}")
    op, np_ = r.get("old_primary") or {}, r.get("new_primary") or {}
    L.append(f"  primary      {op.get('id')} ({op.get('endpoint')}) -> "
             + (f"{np_.get('id')} ({np_.get('endpoint')})" if np_ else "no new primary"))
    a = r.get("action_result") or {}
    if "api" in a:
        what = f"{a['api']} answered in {a.get('call_ms', 0):.0f} ms"
    elif "redis_pid" in a:
        what = f"SIGKILL of redis-server pid {a['redis_pid']} ({a.get('endpoint')})"
    elif "agent_pid" in a:
        what = (f"SIGKILL of agent {a['host']} (pid {a['agent_pid']}) and its "
                f"{len(a.get('redis_pids', []))} redis-servers")
        if a.get("restarted_agent_pid") or a.get("restarted_agent"):
            what += "; agent restarted afterwards"
        if a.get("restart_error"):
            what += f"; restart failed: {a['restart_error']}"
    else:
        what = "?"
    L.append(f"  action       {what} at {r.get('trigger_at')}")
    if r.get("error"):
        L.append(f"  NOT BACK     {r['error']}")
    else:
        L.append(f"  recovery     new primary in Describe after {_ms(r.get('time_to_new_primary_ms'))}"
                 f", available after {_ms(r.get('time_to_available_ms'))}")
    st = [t["status"] for t in r.get("timeline", [])]
    dedup = [s for i, s in enumerate(st) if i == 0 or st[i - 1] != s]
    if dedup:
        L.append(f"  statuses     {' -> '.join(dedup)}")
    o = r.get("outage") or {}
    ws = o.get("windows", [])
    if ws:
        parts = [f"{w['start_ms']:+.0f}..{w['end_ms']:+.0f} ms ({w['failed_writes']} failed)"
                 + (" NOT RECOVERED" if w.get("recovered") is False else "") for w in ws[:4]]
        more = f" (+{len(ws) - 4} more)" if len(ws) > 4 else ""
        L.append(f"  write outage {_ms(o.get('ms'))} in {len(ws)} window"
                 f"{'s' if len(ws) != 1 else ''}: {'; '.join(parts)}{more}")
    else:
        L.append(f"  write outage none seen (no write failed or took over "
                 f"{o.get('blocked_threshold_ms', 0):.0f} ms)")
    if o:
        L.append(f"  longest gap  {o.get('max_gap_ms', 0):.0f} ms between two acknowledged "
                 f"writes after the action")
    ld = r.get("load") or {}
    if ld:
        L.append(f"  load         {ld.get('rate')} writes/s for {ld.get('duration_s')} s: "
                 f"{ld.get('writes')} writes, {ld.get('acknowledged')} acknowledged "
                 f"({ld.get('wait_confirmed')} WAIT-confirmed, {ld.get('primary_only')} "
                 f"primary-only), {ld.get('failed')} failed")
        if ld.get("errors_by_kind"):
            L.append("  errors       " + ", ".join(f"{k} {v}" for k, v in
                                                   ld["errors_by_kind"].items()))
        lat = ld.get("latency_ms", {})
        L.append(f"  latency      p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms, max "
                 f"{lat.get('max')} ms (acknowledged writes)")
    lo = r.get("lost") or {}
    if "error" in lo:
        L.append(f"  lost writes  could not verify: {lo['error']}")
    elif lo:
        L.append(f"  lost writes  {lo.get('lost_wait_confirmed')} of "
                 f"{ld.get('wait_confirmed')} WAIT-confirmed, {lo.get('lost_primary_only')} of "
                 f"{ld.get('primary_only')} primary-only (checked {lo.get('checked')} "
                 f"acknowledged keys)")
    rj = r.get("old_primary_rejoined_ms")
    L.append("  old primary  " + (f"a replica again after {_ms(rj)}" if rj is not None
                                  else "not (yet) shown as a replica"))
    ev = r.get("events")
    if ev is None:
        L.append(f"  events       unavailable ({r.get('events_error')})")
    else:
        L.append(f"  events       {len(ev)}")
        for e in ev[-15:]:
            L.append(f"    {e['date']}  {e['source']}: {e['message']}")
    c = r.get("checks") or {}
    bad = [k for k, v in c.items() if not v]
    L.append("  result       " + ("OK" if r.get("ok") else "FAILED")
             + (f" (not met: {', '.join(bad)})" if bad else ""))
    return "\n".join(L)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        raise SystemExit(_load_main(sys.argv[2:]))
    sys.exit("usage: cfdrill.py load  (the client process; use `cachefleet drill`)")
