#!/usr/bin/python3
"""ModifyReplicationGroup with ApplyImmediately=false (docs/orchestrator.md, "ApplyImmediately=false
and the maintenance window"), through boto3 and AWS CLI v2 against real agents and redis-servers.

The lab's orchestrator runs a fast maintenance clock (`maintenance.clock_speed`, 300 virtual
seconds per real second, starting on a Wednesday far from the default Sunday window), and
GET /cachefleet/maintenance tells the test the virtual "now", so the test sets a
PreferredMaintenanceWindow that starts a few real seconds later instead of waiting a week.

* CacheNodeType, AutomaticFailoverEnabled and PrimaryClusterId requested with
  ApplyImmediately=false: the answer and Describe show them in PendingModifiedValues
  (DescribeCacheClusters per node: CacheNodeType; DescribeReplicationGroups: PrimaryClusterId,
  AutomaticFailoverStatus), nothing changes on the nodes (CONFIG GET maxmemory with redis-py).
* The window arrives: every node's maxmemory becomes the new type's, the replica becomes the
  primary, automatic failover is enabled, the pending values are gone and events say so.
"""
import json
import time
import unittest
import urllib.request

import redis
from botocore.exceptions import ClientError

import fixture as fx

GID = "maint-cmd"
SPEED = 300  # virtual seconds per real second
GIB = 1024 ** 3
MICRO = round(0.5 * GIB)   # configs/node_types.yaml
SMALL = round(1.37 * GIB)
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def setUpModule():
    fx.start_lab("maintenance", orchestrator_yaml_extra=(
        "maintenance:\n"
        f"  clock_speed: {SPEED}\n"
        "  clock_start: 2026-12-09T00:00:00Z\n"  # a Wednesday
        "  tick_ms: 200\n"))
    fx.client().create_replication_group(
        ReplicationGroupId=GID, ReplicationGroupDescription="maintenance", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2,
        PreferredMaintenanceWindow="sat:00:00-sat:01:00")
    fx.wait_status(GID)


def tearDownModule():
    fx.stop_lab()


def maintenance_status() -> dict:
    with urllib.request.urlopen(f"{fx.lab().endpoint}/cachefleet/maintenance", timeout=5) as r:
        return json.loads(r.read())


def window_text(start_ms: int, minutes: int) -> str:
    """ddd:hh24:mi-ddd:hh24:mi (UTC) of [start, start + minutes)."""
    def point(ms):
        t = time.gmtime(ms // 1000)
        return f"{DAYS[(t.tm_wday + 1) % 7]}:{t.tm_hour:02d}:{t.tm_min:02d}"
    return f"{point(start_ms)}-{point(start_ms + minutes * 60000)}"


def nodes():
    ccs = fx.client().describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    return [cc for cc in ccs if cc.get("ReplicationGroupId") == GID]


def maxmemory() -> dict:
    out = {}
    for cc in nodes():
        ep = cc["CacheNodes"][0]["Endpoint"]
        r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
        try:
            out[cc["CacheClusterId"]] = int(r.config_get("maxmemory")["maxmemory"])
        finally:
            r.close()
    return out


def roles(g) -> dict:
    return {m["CacheClusterId"]: m.get("CurrentRole")
            for ng in g["NodeGroups"] for m in ng["NodeGroupMembers"]}


def events() -> list:
    return fx.client().describe_events(SourceIdentifier=GID,
                                       SourceType="replication-group")["Events"]


class Maintenance(unittest.TestCase):
    def test_01_pending_then_applied_in_the_window(self):
        c = fx.client()
        self.assertEqual(set(maxmemory().values()), {MICRO})
        g = fx.describe(GID)[0]
        primary = [i for i, r in roles(g).items() if r == "primary"][0]
        replica = [i for i, r in roles(g).items() if r == "replica"][0]

        # boto3: the node type waits for the window.
        rg = c.modify_replication_group(ReplicationGroupId=GID, CacheNodeType="cache.t3.small",
                                        ApplyImmediately=False)["ReplicationGroup"]
        self.assertEqual(rg["Status"], "available")
        self.assertEqual(rg["CacheNodeType"], "cache.t3.micro")
        for cc in nodes():
            self.assertEqual(cc["CacheNodeType"], "cache.t3.micro")
            self.assertEqual(cc["PendingModifiedValues"], {"CacheNodeType": "cache.t3.small"})
        # A fault with ApplyImmediately=false is the same as with true, and records nothing.
        with self.assertRaises(ClientError) as cm:
            c.modify_replication_group(ReplicationGroupId=GID, CacheNodeType="cache.nope.large",
                                       ApplyImmediately=False)
        self.assertEqual(fx.error_code(cm.exception), ("InvalidParameterValue", 400))
        with self.assertRaises(ClientError) as cm:
            c.modify_replication_group(ReplicationGroupId=GID, PrimaryClusterId=primary,
                                       ApplyImmediately=False)
        self.assertEqual(fx.error_code(cm.exception), ("InvalidParameterValue", 400))

        # AWS CLI v2: automatic failover and the primary, each in its own call.
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--automatic-failover-enabled", "--no-apply-immediately")
        self.assertEqual(out["ReplicationGroup"]["AutomaticFailover"], "disabled")
        self.assertEqual(out["ReplicationGroup"]["PendingModifiedValues"],
                         {"AutomaticFailoverStatus": "enabled"})
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--primary-cluster-id", replica, "--no-apply-immediately")
        self.assertEqual(out["ReplicationGroup"]["PendingModifiedValues"],
                         {"PrimaryClusterId": replica, "AutomaticFailoverStatus": "enabled"})
        _, out, _ = fx.aws("describe-cache-clusters", "--cache-cluster-id", primary)
        self.assertEqual(out["CacheClusters"][0]["PendingModifiedValues"],
                         {"CacheNodeType": "cache.t3.small"})
        _, out, _ = fx.aws("describe-replication-groups", "--replication-group-id", GID)
        self.assertEqual(out["ReplicationGroups"][0]["PendingModifiedValues"],
                         {"PrimaryClusterId": replica, "AutomaticFailoverStatus": "enabled"})
        self.assertEqual(set(maxmemory().values()), {MICRO})
        self.assertEqual(roles(fx.describe(GID)[0])[primary], "primary")
        self.assertTrue(any("will be applied in the maintenance window" in e["Message"]
                            for e in events()))

        # The window: a few real seconds from the virtual now, 4 virtual hours long.
        st = maintenance_status()
        self.assertEqual(st["clock_speed"], SPEED)
        lead_ms = 4000 * SPEED
        start = (st["virtual_now_ms"] + lead_ms + 59999) // 60000 * 60000
        window = window_text(start, 240)
        print(f"  virtual now {st['virtual_now']}, window {window}", flush=True)
        c.modify_replication_group(ReplicationGroupId=GID, PreferredMaintenanceWindow=window,
                                   ApplyImmediately=True)
        st = maintenance_status()
        mine = [x for x in st["groups"] if x["group_id"] == GID][0]
        self.assertFalse(mine["in_window"])
        self.assertEqual(mine["next_window_start_ms"], start)
        self.assertEqual([p["name"] for p in mine["pending"]],
                         ["CacheNodeType", "AutomaticFailoverEnabled", "PrimaryClusterId"])
        # Still nothing applied before the window.
        self.assertEqual(set(maxmemory().values()), {MICRO})
        real_start = time.monotonic() + (start - st["virtual_now_ms"]) / SPEED / 1000

        deadline = time.monotonic() + 45
        while True:
            g = fx.describe(GID)[0]
            ccs = nodes()
            done = (g["Status"] == "available" and g["PendingModifiedValues"] == {}
                    and g["AutomaticFailover"] == "enabled"
                    and roles(g).get(replica) == "primary"
                    and all(cc["PendingModifiedValues"] == {} for cc in ccs))
            if done:
                break
            self.assertLess(time.monotonic(), deadline,
                            f"not applied: {g['Status']} {g['PendingModifiedValues']} "
                            f"{g['AutomaticFailover']} {roles(g)}")
            time.sleep(0.2)
        took = time.monotonic() - real_start
        print(f"  applied {took:.1f} s after the window opened", flush=True)
        self.assertGreater(took, -1.0, "applied before the window")
        self.assertEqual(maxmemory(), {cc["CacheClusterId"]: SMALL for cc in nodes()})
        self.assertEqual(g["CacheNodeType"], "cache.t3.small")
        for cc in nodes():
            self.assertEqual(cc["CacheNodeType"], "cache.t3.small")
        # Both clients see the empty pending values.
        _, out, _ = fx.aws("describe-replication-groups", "--replication-group-id", GID)
        self.assertEqual(out["ReplicationGroups"][0]["PendingModifiedValues"], {})
        msgs = [e["Message"] for e in events()]
        applied = [m for m in msgs if ") applied in the maintenance window" in m]
        self.assertEqual(len(applied), 3, msgs)
        self.assertTrue(any("scaled from cache.t3.micro to cache.t3.small" in m for m in msgs),
                        msgs)
        self.assertEqual(maintenance_status()["groups"], [])

    def test_02_immediate_supersedes_pending(self):
        c = fx.client()
        c.modify_replication_group(ReplicationGroupId=GID, PreferredMaintenanceWindow=window_text(
            maintenance_status()["virtual_now_ms"] + 2 * 86400000, 60), ApplyImmediately=True)
        c.modify_replication_group(ReplicationGroupId=GID, CacheNodeType="cache.t3.micro")
        self.assertEqual({cc["PendingModifiedValues"].get("CacheNodeType") for cc in nodes()},
                         {"cache.t3.micro"})
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--cache-node-type", "cache.t3.micro", "--apply-immediately")
        self.assertEqual(out["ReplicationGroup"]["CacheNodeType"], "cache.t3.micro")
        fx.wait_status(GID)  # the modify-node-type operation
        self.assertEqual(set(maxmemory().values()), {MICRO})
        for cc in nodes():
            self.assertEqual(cc["PendingModifiedValues"], {})
        self.assertEqual(maintenance_status()["groups"], [])


if __name__ == "__main__":
    fx.run(deadline_s=150)
