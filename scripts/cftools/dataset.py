"""The deterministic data set of the resharding end-to-end tests and the benchmark
(tests/e2e/test_reshard*.py, bench/reshard_bench.py); run by /usr/bin/python3.

  * load_keys / verify_keys: "<prefix><i>" -> a value of exactly value_size bytes that encodes
    i, each key written to / read from the master owning its slot (CLUSTER SLOTS), one
    pipelined RESP connection (resp.RawConn) per master;
  * cluster topology readers: slot ownership by node, node ids, open slots.

The client under load is in workload.py; slot arithmetic in slots.py.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

from cftools.resp import RawConn, RespError
from cftools.slots import SLOTS, key_slot, parse_cluster_nodes


# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# Topology


def slot_map(host: str, port: int, timeout_s: float = 10) -> list[tuple[str, int] | None]:
    """slot -> (host, port) of its master, from CLUSTER SLOTS on one node."""
    owners: list[tuple[str, int] | None] = [None] * SLOTS
    with RawConn(host, port, timeout_s=timeout_s) as c:
        for entry in c.call("CLUSTER", "SLOTS"):
            a, b, master = entry[0], entry[1], entry[2]
            addr = (master[0].decode() or host, int(master[1]))
            for s in range(a, b + 1):
                owners[s] = addr
    return owners


def cluster_nodes_raw(host: str, port: int) -> list[dict]:
    """CLUSTER NODES of one node (slots.parse_cluster_nodes): id, addr (host, port), flags,
    master, slots (owned, as a set) and open (the bracketed migrating/importing tokens)."""
    with RawConn(host, port, timeout_s=10) as c:
        return parse_cluster_nodes(c.call("CLUSTER", "NODES").decode())


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


