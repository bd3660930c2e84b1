#!/usr/bin/python3
"""Data-plane helpers shared by the resharding end-to-end tests and the benchmark
(tests/e2e/test_reshard*.py, bench/reshard_bench.py); run by /usr/bin/python3.

  * RawConn: one pipelined RESP connection (socket + a small parser), fast enough to load or
    read back a million keys without a client library in the way;
  * load_keys / verify_keys: a deterministic data set ("<prefix><i>" -> value of exactly
    value_size bytes that encodes i), hashed to the node owning each slot (CLUSTER SLOTS);
  * Workload: a cluster-aware client (redis-py RedisCluster 4.3.4) in a thread doing INCR / SET
    / GET at a fixed rate, recording the last acknowledged value of every key, every exception
    it raised after its own retries, the redirections it followed and every op's latency;
  * cluster topology readers: open slots, slot ownership by node, node ids.

Only this module's Workload needs redis-py (Debian's python3-redis).
"""
from __future__ import annotations

import logging
import random
import socket
import threading
import time
from binascii import crc_hqx
from collections import Counter

SLOTS = 16384


def key_slot(key: bytes) -> int:
    s = key.find(b"{")
    if s > -1:
        e = key.find(b"}", s + 1)
        if e > -1 and e != s + 1:
            key = key[s + 1:e]
    return crc_hqx(key, 0) % SLOTS


# ---------------------------------------------------------------------------------------------
# A minimal pipelined RESP2 connection


class RespError(Exception):
    pass


class RawConn:
    def __init__(self, host: str, port: int, timeout_s: float = 30.0):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def encode(args) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"{self.host}:{self.port} closed the connection")
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            self._fill()

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            v = self.buf[self.pos:self.pos + n]
            self.pos += n + 2
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError(f"bad RESP from {self.host}:{self.port}: {line[:60]!r}")

    def pipeline(self, commands, chunk: int = 2000) -> list:
        """Sends the commands (each a list of args) in chunks and returns every reply (errors
        as RespError values, not raised)."""
        out = []
        commands = list(commands)
        for i in range(0, len(commands), chunk):
            part = commands[i:i + chunk]
            self.sock.sendall(b"".join(self.encode(c) for c in part))
            out.extend(self._reply() for _ in part)
        return out

    def call(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RespError):
            raise r
        return r


# ---------------------------------------------------------------------------------------------
# Topology


def slot_map(host: str, port: int) -> list[tuple[str, int] | None]:
    """slot -> (host, port) of its master, from CLUSTER SLOTS on one node."""
    owners: list[tuple[str, int] | None] = [None] * SLOTS
    with RawConn(host, port, timeout_s=10) as c:
        for entry in c.call("CLUSTER", "SLOTS"):
            a, b, master = entry[0], entry[1], entry[2]
            addr = (master[0].decode() or host, int(master[1]))
            for s in range(a, b + 1):
                owners[s] = addr
    return owners


def cluster_nodes_raw(host: str, port: int) -> list[dict]:
    """CLUSTER NODES of one node: id, addr (host, port), flags, master, slots (owned, as a set)
    and open (the bracketed migrating/importing tokens)."""
    with RawConn(host, port, timeout_s=10) as c:
        text = c.call("CLUSTER", "NODES").decode()
    nodes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        addr = parts[1].split("@")[0].split(",")[0]
        h, _, p = addr.rpartition(":")
        owned, opened = set(), []
        for tok in parts[8:]:
            if tok.startswith("["):
                opened.append(tok)
                continue
            a, _, b = tok.partition("-")
            owned.update(range(int(a), int(b or a) + 1))
        nodes.append({"id": parts[0], "addr": (h, int(p) if p.isdigit() else 0),
                      "flags": parts[2].split(","),
                      "master": None if parts[3] == "-" else parts[3], "link": parts[7],
                      "slots": owned, "open": opened})
    return nodes


def ranges_of(slots) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(slots):
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def ranges_text(slots) -> str:
    return ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges_of(slots))


def parse_ranges(s: str) -> set[int]:
    out: set[int] = set()
    for part in s.replace(" ", ",").split(","):
        if part:
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
    return out


# ---------------------------------------------------------------------------------------------
# The data set


def value_for(i: int, size: int, prefix: bytes = b"") -> bytes:
    head = prefix + b"%d:" % i
    return (head + b"x" * max(0, size - len(head)))[:max(size, len(head))]


def _by_node(host: str, port: int, keys_idx, prefix: bytes):
    owners = slot_map(host, port)
    groups: dict[tuple[str, int], list[int]] = {}
    for i in keys_idx:
        groups.setdefault(owners[key_slot(prefix + b"%d" % i)], []).append(i)
    if None in groups:
        raise RuntimeError(f"{len(groups[None])} keys hash to slots nobody owns")
    return groups


def load_keys(host: str, port: int, n: int, prefix: str = "d:", value_size: int = 100,
              start: int = 0) -> float:
    """Writes keys prefix+i (start <= i < start+n) with value_for(i) to the masters owning
    their slots, one pipelined connection per master in parallel. Returns seconds taken."""
    t0 = time.perf_counter()
    pfx = prefix.encode()
    groups = _by_node(host, port, range(start, start + n), pfx)
    errors: list[str] = []

    def work(addr, idx):
        try:
            with RawConn(*addr, timeout_s=120) as c:
                for i in range(0, len(idx), 20000):
                    part = idx[i:i + 20000]
                    replies = c.pipeline([(b"SET", pfx + b"%d" % k, value_for(k, value_size))
                                          for k in part], chunk=5000)
                    bad = [r for r in replies if r != b"OK"]
                    if bad:
                        errors.append(f"{addr}: {len(bad)} SETs failed, first: {bad[0]}")
                        return
        except (OSError, ConnectionError) as e:
            errors.append(f"{addr}: {e}")

    threads = [threading.Thread(target=work, args=(a, idx)) for a, idx in groups.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("load failed: " + "; ".join(errors))
    return time.perf_counter() - t0


def verify_keys(host: str, port: int, n: int, prefix: str = "d:", value_size: int = 100,
                start: int = 0) -> dict:
    """Reads every key back from the master owning its slot now. Returns {"checked", "ok",
    "missing", "wrong", "errors", "examples"}."""
    pfx = prefix.encode()
    groups = _by_node(host, port, range(start, start + n), pfx)
    res = Counter()
    examples: list[str] = []
    lock = threading.Lock()

    def work(addr, idx):
        local = Counter()
        ex = []
        try:
            with RawConn(*addr, timeout_s=120) as c:
                replies = c.pipeline([(b"GET", pfx + b"%d" % k) for k in idx], chunk=5000)
        except (OSError, ConnectionError) as e:
            with lock:
                res["errors"] += len(idx)
                examples.append(f"{addr}: {e}")
            return
        for k, r in zip(idx, replies):
            local["checked"] += 1
            if r == value_for(k, value_size):
                local["ok"] += 1
            elif r is None:
                local["missing"] += 1
                if len(ex) < 3:
                    ex.append(f"{prefix}{k} missing on {addr[0]}:{addr[1]}")
            elif isinstance(r, RespError):
                local["errors"] += 1
                if len(ex) < 3:
                    ex.append(f"{prefix}{k} on {addr[0]}:{addr[1]}: {r}")
            else:
                local["wrong"] += 1
                if len(ex) < 3:
                    ex.append(f"{prefix}{k} = {r[:40]!r}")
        with lock:
            res.update(local)
            examples.extend(ex)

    threads = [threading.Thread(target=work, args=(a, idx)) for a, idx in groups.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {k: res.get(k, 0) for k in ("checked", "ok", "missing", "wrong", "errors")}
    out["examples"] = examples[:6]
    return out


def dbsize_of_masters(host: str, port: int) -> int:
    total = 0
    for n in cluster_nodes_raw(host, port):
        if "master" in n["flags"] and "fail" not in n["flags"] and n["slots"]:
            with RawConn(*n["addr"], timeout_s=10) as c:
                total += c.call("DBSIZE")
    return total


# ---------------------------------------------------------------------------------------------
# A cluster-aware client under load


class _RedirectCounter(logging.Handler):
    """redis-py's RedisCluster logs every redirection it follows with log.exception("<Error>");
    counting those records tells how many MOVED / ASK / TRYAGAIN the client absorbed."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.counts = Counter()
        self.lock_ = threading.Lock()

    def emit(self, record):
        m = record.msg
        key = m.split(":")[0] if isinstance(m, str) else getattr(m, "__name__", str(m))
        with self.lock_:
            self.counts[key] += 1


_redirects = _RedirectCounter()
_rc_log = logging.getLogger("redis.cluster")
_rc_log.addHandler(_redirects)
_rc_log.setLevel(logging.ERROR)
_rc_log.propagate = False


def redirect_counts() -> dict:
    with _redirects.lock_:
        return dict(_redirects.counts)


def _ask_unknown_node(e: BaseException) -> str | None:
    # redis-py 4.3.4 follows "-ASK <slot> <addr>" with target_node = nodes_cache.get(addr), which
    # is None when addr is a node it has not discovered yet (a shard added after the client
    # built its topology); the next line (log.debug(f"... {target_node.server_type} ...")) then
    # raises AttributeError: 'NoneType' object has no attribute 'server_type' (or
    # 'redis_connection' when the debug line is skipped). The command was executed nowhere (ASK
    # means "not here", and nothing was sent to the new node), so refreshing the topology and
    # retrying is safe and keeps exactly-once INCR semantics. A topology refresh does not help
    # (CLUSTER SLOTS lists a node only once it owns a slot), so the caller adds the node.
    # Returns the "host:port" the client was ASKed to go to, or None for any other error.
    if not isinstance(e, AttributeError) or "'NoneType'" not in str(e):
        return None
    tb = e.__traceback__
    while tb is not None:
        f = tb.tb_frame
        if f.f_code.co_name == "_execute_command" and f.f_locals.get("asking") is True:
            return f.f_locals.get("redirect_addr")
        tb = tb.tb_next
    return None


class Workload(threading.Thread):
    """INCR / SET / GET at `rate` ops/s over `keys` keys (prefix+"c:<i>" counters, prefix+"s:<i>"
    strings) through one RedisCluster client, until stop().

    Records: last acknowledged value per key (INCR's reply, the value SET wrote), keys whose
    last op raised (value uncertain), every exception raised after the client's own retries,
    per-op latencies (s), and the client's redirection counts."""

    def __init__(self, host: str, port: int, keys: int = 2000, rate: float = 1000.0,
                 prefix: str = "w:", mix=(("incr", 0.4), ("set", 0.3), ("get", 0.3)),
                 seed: int = 1, socket_timeout_s: float = 5.0):
        super().__init__(daemon=True)
        self.host, self.port, self.nkeys, self.rate = host, port, keys, rate
        self.prefix = prefix
        self.mix = mix
        self.rng = random.Random(seed)
        self.socket_timeout_s = socket_timeout_s
        self.acked: dict[str, bytes] = {}
        self.uncertain: set[str] = set()
        self.errors: list[tuple[float, str, str]] = []
        self.client_bug_retries = 0
        self.latencies: list[float] = []
        self.ops = 0
        self.stop_ev = threading.Event()
        self.started_at = self.stopped_at = 0.0
        self.fatal: str | None = None
        from redis.cluster import RedisCluster
        self.rc = RedisCluster(host=host, port=port, socket_timeout=socket_timeout_s,
                               socket_connect_timeout=socket_timeout_s)

    def _op(self):
        r = self.rng.random()
        acc = 0.0
        kind = self.mix[-1][0]
        for k, w in self.mix:
            acc += w
            if r < acc:
                kind = k
                break
        i = self.rng.randrange(self.nkeys)
        if kind == "incr":
            key = f"{self.prefix}c:{i}"
            return kind, key, lambda: self.rc.incr(key)
        if kind == "set":
            key = f"{self.prefix}s:{i}"
            val = f"{self.ops}-{time.monotonic_ns()}".encode()
            return kind, key, (lambda: (self.rc.set(key, val), val)[1])
        ckey = f"{self.prefix}c:{i}"
        return kind, ckey, lambda: self.rc.get(ckey)

    def run(self):
        self.redirects_at_start = redirect_counts()
        self.started_at = time.monotonic()
        period = 1.0 / self.rate if self.rate > 0 else 0.0
        next_t = time.monotonic()
        try:
            while not self.stop_ev.is_set():
                kind, key, fn = self._op()
                t0 = time.perf_counter()
                for attempt in range(3):
                    try:
                        res = fn()
                        if kind == "incr":
                            self.acked[key] = str(res).encode()
                        elif kind == "set":
                            self.acked[key] = res
                        elif kind == "get":
                            want = self.acked.get(key)
                            if key not in self.uncertain and res != want:
                                self.errors.append((time.monotonic(), "stale-read",
                                                    f"GET {key} = {res!r}, last ack {want!r}"))
                        if kind != "get":
                            self.uncertain.discard(key)
                        break
                    except Exception as e:  # noqa: BLE001 — every client-visible error counts
                        addr = _ask_unknown_node(e)
                        if addr and attempt < 2:
                            # What redis-py >= 4.4 does itself: learn the node from the ASK.
                            from redis.cluster import PRIMARY, ClusterNode
                            h, _, p = addr.rpartition(":")
                            self.rc.nodes_manager.nodes_cache.setdefault(
                                addr, ClusterNode(h, int(p), server_type=PRIMARY))
                            self.client_bug_retries += 1
                            continue
                        self.errors.append((time.monotonic(), type(e).__name__, str(e)[:200]))
                        if kind != "get":
                            self.uncertain.add(key)
                        break
                self.latencies.append(time.perf_counter() - t0)
                self.ops += 1
                if period:
                    next_t += period
                    d = next_t - time.monotonic()
                    if d > 0:
                        time.sleep(d)
                    elif d < -1.0:  # fell far behind (machine busy): don't burst
                        next_t = time.monotonic()
        except BaseException as e:  # noqa: BLE001
            self.fatal = repr(e)
        finally:
            self.stopped_at = time.monotonic()

    def stop(self) -> None:
        self.stop_ev.set()
        self.join(30)

    def verify(self, host: str | None = None, port: int | None = None) -> dict:
        """Reads every key the workload acknowledged (through a fresh RedisCluster, started from
        host:port, default the workload's own entry node, which a scale-in may have removed) and
        compares with the last acknowledged value. Keys whose last op raised are reported apart."""
        from redis.cluster import RedisCluster
        rc = RedisCluster(host=host or self.host, port=port or self.port, socket_timeout=10)
        wrong = []
        try:
            for key, want in self.acked.items():
                if key in self.uncertain:
                    continue
                got = rc.get(key)
                if got != want:
                    wrong.append((key, want, got))
        finally:
            rc.close()
        return {"keys": len(self.acked), "wrong": len(wrong), "examples": wrong[:5],
                "uncertain": len(self.uncertain)}

    def summary(self) -> dict:
        lat = sorted(self.latencies)

        def pct(p):
            return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] * 1000 if lat else 0.0
        dur = max(1e-9, (self.stopped_at or time.monotonic()) - self.started_at)
        now = redirect_counts()
        start = getattr(self, "redirects_at_start", {})
        redirects = {k: v - start.get(k, 0) for k, v in now.items() if v - start.get(k, 0)}
        return {"ops": self.ops, "ops_per_s": self.ops / dur, "errors": len(self.errors),
                "redirects": redirects,
                "first_errors": [e[1] + ": " + e[2] for e in self.errors[:5]],
                "client_bug_retries": self.client_bug_retries,
                "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": lat[-1] * 1000 if lat else 0.0,
                "fatal": self.fatal}

    def close(self) -> None:
        try:
            self.rc.close()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------------------------
# Command line: a Workload in its own process (the benchmark runs the client apart from its own
# polling so that the client's latencies are not the benchmark's GIL contention).
#
#   cfdata.py workload --host H --port P [--rate 1000] [--keys 2000] [--prefix w:]
#                      [--duration S]
# prints "ready" once the client runs, stops after --duration s or when stdin reaches EOF / a
# line, then prints one JSON line: summary() + verify() + redirect counts.


def _main(argv=None) -> int:
    import argparse
    import json
    import sys
    ap = argparse.ArgumentParser(prog="cfdata.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workload")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--rate", type=float, default=1000.0)
    w.add_argument("--keys", type=int, default=2000)
    w.add_argument("--prefix", default="w:")
    w.add_argument("--duration", type=float, default=0.0)
    w.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    wl = Workload(a.host, a.port, keys=a.keys, rate=a.rate, prefix=a.prefix, seed=a.seed)
    wl.start()
    print("ready", flush=True)
    if a.duration > 0:
        wl.stop_ev.wait(a.duration)
    else:
        sys.stdin.readline()
    wl.stop()
    out = wl.summary()
    out.update({"verify": wl.verify()})
    wl.close()
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
