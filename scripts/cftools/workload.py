"""A cluster-aware client under load: redis-py's RedisCluster (4.3.4, Debian's python3-redis) in
a thread doing INCR / SET / GET at a fixed rate, recording the last acknowledged value of every
key, every exception it raised after its own retries, the redirections it followed and every
op's latency (the resharding tests and bench/reshard_bench.py).

Run as a program it is that client in its own process, so that the benchmark's polling never
shares the GIL with it:

  python3 -m cftools.workload --host H --port P [--rate 1000] [--keys 2000] [--prefix w:]
                              [--duration S] [--seed N]

prints "ready" once the client runs, stops after --duration s or when stdin reaches EOF / a
line, then prints one JSON line: summary() + verify() + redirect counts.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
from collections import Counter


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


def _main(argv=None) -> int:
    w = argparse.ArgumentParser(prog="python3 -m cftools.workload")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--rate", type=float, default=1000.0)
    w.add_argument("--keys", type=int, default=2000)
    w.add_argument("--prefix", default="w:")
    w.add_argument("--duration", type=float, default=0.0)
    w.add_argument("--seed", type=int, default=1)
    a = w.parse_args(argv)
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
