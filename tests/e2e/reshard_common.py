"""Helpers shared by the resharding end-to-end tests (test_reshard*.py): create / reshard calls,
a Describe sampler, the operations endpoint, and the post-conditions every reshard must meet
(checked against the real cluster, not only against Describe)."""
from __future__ import annotations

import json
import threading
import time
import unittest
import urllib.request
from pathlib import Path

import fixture as fx

from cftools import dataset, slots
from cftools.resp import RawConn
from cftools.workload import Workload

CLI = fx.REPO / "scripts" / "cachefleet"


def create_cme(gid: str, shards: int, replicas: int = 1, wait: bool = True, **extra) -> dict:
    kw = dict(ReplicationGroupId=gid, ReplicationGroupDescription=f"{gid} reshard test",
              Engine="redis", CacheNodeType="cache.t3.micro",
              CacheParameterGroupName="default.redis7.cluster.on", NumNodeGroups=shards,
              ReplicasPerNodeGroup=replicas, AutomaticFailoverEnabled=True)
    kw.update(extra)
    rg = fx.client().create_replication_group(**kw)["ReplicationGroup"]
    return fx.wait_status(gid, timeout_s=120) if wait else rg


def mrgsc(gid: str, count: int, **kw) -> dict:
    """ModifyReplicationGroupShardConfiguration with ApplyImmediately=True; returns the group."""
    kw.setdefault("ApplyImmediately", True)
    return fx.client().modify_replication_group_shard_configuration(
        ReplicationGroupId=gid, NodeGroupCount=count, **kw)["ReplicationGroup"]


def operations(gid: str) -> list[dict]:
    url = f"{fx.lab().endpoint}/cachefleet/operations?group={gid}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["operations"]


def reshard_ops(gid: str) -> list[dict]:
    return [o for o in operations(gid) if str(o.get("kind", "")).startswith("reshard")]


def config_endpoint(g: dict) -> tuple[str, int]:
    cfg = g["ConfigurationEndpoint"]
    return cfg["Address"], cfg["Port"]


def progress_of(g: dict) -> float | None:
    try:
        return float(g["PendingModifiedValues"]["Resharding"]["SlotMigration"]
                     ["ProgressPercentage"])
    except (KeyError, TypeError):
        return None


class Sampler(threading.Thread):
    """Polls DescribeReplicationGroups(gid) every period_s until stop(): samples of
    (t, Status, ProgressPercentage or None, [(NodeGroupId, Status)])."""

    def __init__(self, gid: str, period_s: float = 0.1):
        super().__init__(daemon=True)
        self.gid, self.period_s = gid, period_s
        self.samples: list[tuple[float, str, float | None, list]] = []
        self.errors: list[str] = []
        self.ev = threading.Event()
        self.c = fx.client()

    def run(self):
        t0 = time.monotonic()
        while not self.ev.is_set():
            try:
                g = self.c.describe_replication_groups(
                    ReplicationGroupId=self.gid)["ReplicationGroups"][0]
                self.samples.append((time.monotonic() - t0, g["Status"], progress_of(g),
                                     [(ng["NodeGroupId"], ng.get("Status"))
                                      for ng in g.get("NodeGroups", [])]))
            except Exception as e:  # noqa: BLE001 (the orchestrator may be restarting)
                self.errors.append(repr(e)[:200])
            self.ev.wait(self.period_s)

    def stop(self):
        self.ev.set()
        self.join(10)

    def progress_values(self) -> list[float]:
        return [p for _, st, p, _ in self.samples if st == "modifying" and p is not None]

    def describe(self) -> str:
        pts = [(round(t, 2), st[:4], p) for t, st, p, _ in self.samples]
        return f"{len(pts)} samples: {pts[:80]}{' ...' if len(pts) > 80 else ''}"


def assert_progress_monotonic(tc: unittest.TestCase, s: Sampler, want_intermediate: bool = True):
    vals = s.progress_values()
    tc.assertTrue(vals, f"no ProgressPercentage seen while modifying; {s.describe()}")
    for a, b in zip(vals, vals[1:]):
        tc.assertLessEqual(a, b, f"ProgressPercentage went down {a} -> {b}; {s.describe()}")
    tc.assertTrue(all(0.0 <= v <= 100.0 for v in vals), vals)
    if want_intermediate:
        mid = [v for v in vals if 0.0 < v < 100.0]
        tc.assertTrue(mid, f"no intermediate ProgressPercentage sampled; {s.describe()}")
    statuses = [st for _, st, _, _ in s.samples]
    tc.assertIn("modifying", statuses)
    # Once the group went modifying it never showed anything but modifying until available.
    i = statuses.index("modifying")
    tc.assertTrue(set(statuses[i:]) <= {"modifying", "available"}, statuses)
    if "available" in statuses[i:]:
        j = statuses.index("available", i)
        tc.assertEqual(set(statuses[j:]), {"available"}, f"modifying again after available: "
                                                        f"{statuses}")


def member_ports(member_ids) -> dict[str, int]:
    return {nid: fx.record_port(r) for nid, r in fx.member_records(member_ids).items()}


def cluster_ids_of_members(member_ids) -> dict[str, str]:
    """cache cluster id -> Redis cluster node id (CLUSTER MYID on its port)."""
    out = {}
    for nid, port in member_ports(member_ids).items():
        with RawConn("127.0.0.1", port, timeout_s=5) as c:
            out[nid] = c.call("CLUSTER", "MYID").decode()
    return out


def assert_reshard_done(tc: unittest.TestCase, gid: str, shards: int, replicas: int,
                        node_group_ids: list[str] | None = None) -> dict:
    """Every post-condition of a finished reshard; returns the group."""
    g = fx.describe(gid)[0]
    tc.assertEqual(g["Status"], "available")
    tc.assertEqual(g.get("PendingModifiedValues"), {},
                   f"PendingModifiedValues not empty: {g.get('PendingModifiedValues')}")
    ngs = g["NodeGroups"]
    tc.assertEqual(len(ngs), shards, [ng["NodeGroupId"] for ng in ngs])
    if node_group_ids is not None:
        tc.assertEqual(sorted(ng["NodeGroupId"] for ng in ngs), sorted(node_group_ids))
    members = [m["CacheClusterId"] for ng in ngs for m in ng["NodeGroupMembers"]]
    tc.assertEqual(sorted(g["MemberClusters"]), sorted(members))
    for ng in ngs:
        tc.assertEqual(ng.get("Status"), "available", ng)
        tc.assertEqual(len(ng["NodeGroupMembers"]), 1 + replicas, ng)
    fx.assert_slots_cover_exactly_once(tc, g)

    host, port = config_endpoint(g)
    ok, out = fx.cluster_check(host, port)
    tc.assertTrue(ok, f"redis-cli --cluster check not clean:\n{out}")

    # Real ownership and roles, node by node.
    ports = member_ports(members)
    tc.assertEqual(sorted(ports), sorted(members), "node.json missing for some members")
    views = {nid: dataset.cluster_nodes_raw("127.0.0.1", p) for nid, p in ports.items()}
    by_port = {}
    for nid, view in views.items():
        me = [n for n in view if "myself" in n["flags"]][0]
        tc.assertEqual(me["open"], [], f"{nid} has open slots: {me['open']}")
        tc.assertEqual(len(view), len(members),
                       f"{nid} knows {len(view)} nodes, the group has {len(members)}: "
                       f"{[n['addr'] for n in view]}")
        bad = [n for n in view if set(n["flags"]) & {"fail", "fail?", "handshake", "noaddr"}]
        tc.assertEqual(bad, [], f"{nid} sees unhealthy nodes")
        by_port[ports[nid]] = me
    lo, hi = 16384 // shards, -(-16384 // shards)
    for ng in ngs:
        mids = [m["CacheClusterId"] for m in ng["NodeGroupMembers"]]
        masters = [m for m in mids if "master" in by_port[ports[m]]["flags"]]
        tc.assertEqual(len(masters), 1, f"node group {ng['NodeGroupId']}: masters {masters}")
        primary = by_port[ports[masters[0]]]
        for m in mids:
            if m != masters[0]:
                tc.assertEqual(by_port[ports[m]]["master"], primary["id"],
                               f"{m} does not replicate its node group's primary")
        described = slots.parse_ranges(ng["Slots"])
        tc.assertEqual(described, primary["slots"],
                       f"node group {ng['NodeGroupId']}: Slots {ng['Slots']!r} but the primary "
                       f"owns {slots.ranges_text(primary['slots'])}")
        parts = [p for p in ng["Slots"].split(",") if p]
        tc.assertEqual(len(parts), len(slots.ranges_of(described)),
                       f"Slots {ng['Slots']!r} is not merged ranges joined with commas")
        tc.assertIn(len(described), (lo, hi),
                    f"node group {ng['NodeGroupId']} owns {len(described)} slots, "
                    f"expected {lo}..{hi}")
    return g


def assert_removed(tc: unittest.TestCase, gid: str, removed_members: list[str],
                   removed_node_ids: list[str], pids_before: list[int]) -> None:
    """Removed shards: processes and data dirs gone, and no remaining node knows them."""
    fx.assert_group_gone(tc, removed_members, pids_before)
    g = fx.describe(gid)[0]
    for m in removed_members:
        tc.assertNotIn(m, g["MemberClusters"])
    remaining = g["MemberClusters"]
    for nid, port in member_ports(remaining).items():
        known = {n["id"] for n in dataset.cluster_nodes_raw("127.0.0.1", port)}
        tc.assertEqual(known & set(removed_node_ids), set(),
                       f"{nid} still knows removed nodes")


def assert_no_errors(tc: unittest.TestCase, w: Workload, gid: str) -> dict:
    s = w.summary()
    v = w.verify(*config_endpoint(fx.describe(gid)[0]))
    print(f"  client: {s['ops']} ops ({s['ops_per_s']:.0f}/s), errors {s['errors']}, p50 "
          f"{s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, max {s['max_ms']:.1f} ms; "
          f"redirections followed {s['redirects']}; redis-py ASK-to-unknown-node "
          f"retries {s['client_bug_retries']}; verified {v['keys']} keys", flush=True)
    tc.assertIsNone(s["fatal"])
    tc.assertEqual(s["errors"], 0, f"the client saw errors: {s['first_errors']}")
    # redis-py retries -CLUSTERDOWN (after 250 ms and a topology refresh) instead of raising it,
    # but it is an error reply all the same: a node that served (or was ASKed for) a key said
    # the cluster is down. An online reshard must never cause one.
    tc.assertEqual(s["redirects"].get("ClusterDownError", 0), 0,
                   f"the client got -CLUSTERDOWN replies (absorbed by redis-py's retry): "
                   f"{s['redirects']}")
    tc.assertEqual(v["wrong"], 0, f"keys differ from their last acknowledged value: "
                                  f"{v['examples']}")
    tc.assertEqual(v["uncertain"], 0)
    return s


def assert_data(tc: unittest.TestCase, g: dict, n: int, prefix: str = "d:") -> None:
    host, port = config_endpoint(g)
    v = dataset.verify_keys(host, port, n, prefix=prefix)
    tc.assertEqual((v["ok"], v["missing"], v["wrong"], v["errors"]), (n, 0, 0, 0),
                   f"data set check: {v}")


def watch_cli(gid: str, *extra: str):
    """Starts `scripts/cachefleet watch <gid>` (no TTY: one line per second)."""
    import subprocess
    return subprocess.Popen(["/usr/bin/python3", str(CLI), "watch", gid, "--endpoint-url",
                             fx.lab().endpoint, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def lab_dir() -> Path:
    return fx.lab().root
