"""What the drill's client saw, from its records (drill_load): the write outage windows, a
summary of the load (errors by kind, latency, WAIT results), and the verification that reads
every acknowledged key back and counts the lost ones (WAIT-confirmed vs primary-only)."""
from __future__ import annotations

from cftools.drill_load import R_ERR, R_OK, R_SEQ, R_T0, R_T1, R_WAIT
from cftools.dataset import slot_map
from cftools.resp import RespError
from cftools.slots import key_slot


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
    """slot -> (host, port) of its master, from the first seed that answers CLUSTER SLOTS."""
    last = None
    for h, p in seeds:
        try:
            return slot_map(h, int(p), timeout_s=5)
        except (OSError, RespError) as e:
            last = e
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

