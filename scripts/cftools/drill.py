"""Failover drills: the measurement code shared by `cachefleet drill` (scripts/cachefleet),
bench/failover_bench.py and tests/e2e/test_drill.py. Run by /usr/bin/python3 (Debian's boto3
and redis-py 4.3.4).

The pieces, one module each:

  * drill_client: the client ("the app"), a writer that SETs unique sequenced keys
    <prefix><seq> at a fixed rate and, every k-th write (or each), follows the SET with
    `WAIT 1 <timeout>` on the same connection. Cluster mode disabled: plain redis-py `Redis` on
    the primary, re-resolved when a write fails (connection error, READONLY, LOADING, ...)
    through a resolver — the group's PrimaryEndpoint from DescribeReplicationGroups confirmed by
    ROLE, a static node list (ROLE), or Sentinel. Cluster mode enabled: redis-py `RedisCluster`
    for discovery and slot routing, with a short retry of our own (see ClusterWriter);
  * drill_load: LoadProcess, that client in its own process (so that the drill's polling never
    shares the GIL with it), started with a JSON spec, stopped with a line on stdin; it writes
    every attempt (seq, slot, start, end, outcome, WAIT result) to a JSON file;
  * drill_analysis: outage windows as the client saw them, error counts by kind, latency; and
    the verification: every acknowledged key read back from the current primaries, lost
    writes split by WAIT-confirmed / primary-only;
  * drill_local: the actions on the lab's local processes (kill a primary, kill a host,
    restart its agent);
  * this module: the drill itself (Drill.run): discovery with DescribeReplicationGroups, the
    action (TestFailover, SIGKILL of the primary's redis-server, SIGKILL of the agent hosting
    it and its redis-servers, ModifyReplicationGroup PrimaryClusterId), the wait for
    `available` with a new primary, DescribeEvents of the window, and the report
    (drill_report.format_report for humans).

Times are CLOCK_MONOTONIC seconds (time.monotonic()), which is the same clock in every process
of the machine, so the load process's records and the drill's trigger time compare directly.
"""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

from cftools.aws import endpoint_client
from cftools.drill_analysis import load_summary, outage, verify
from cftools.drill_load import R_SLOT, LoadProcess
from cftools.drill_local import host_of_node, kill_host, lab_state, redis_pid_of, restart_agent
from cftools.errors import EXIT_FAILED, EXIT_UNREACHABLE, DrillError
from cftools.lab import default_lab_dir
from cftools.slots import parse_cluster_nodes, parse_ranges

ACTIONS = ("test-failover", "kill-primary", "kill-host", "switchover")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


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
        self.ec = endpoint_client(opts["endpoint"], opts.get("access_key"),
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
            lab_dir = Path(self.o.get("lab_dir") or default_lab_dir())
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
            return parse_cluster_nodes(text, default_host=h)
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
            slots = parse_ranges(ng.get("slots"))
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
        slots = parse_ranges(g.get("slots")) if v0["cluster"] else None
        if v0["cluster"] and not slots:
            raise DrillError(f"node group {ng} shows no Slots")
        # Kill actions check what they will kill before any load starts.
        kill_pid = host_id = None
        if action == "kill-primary":
            kill_pid = redis_pid_of(*old_addr)
        elif action == "kill-host":
            host_id = host_of_node(Path(o.get("lab_dir") or default_lab_dir()), old_addr[1],
                                   old)
            self._check_lab_endpoint(Path(o.get("lab_dir") or default_lab_dir()))

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
                    Path(self.o.get("lab_dir") or default_lab_dir()), killed["host"],
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
            return kill_host(Path(self.o.get("lab_dir") or default_lab_dir()), host_id)
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


