"""The drill report (Drill.run()'s dict) for humans: what `cachefleet drill` prints without
--json."""
from __future__ import annotations


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
