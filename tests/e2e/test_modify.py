#!/usr/bin/python3
"""ModifyReplicationGroup (docs/orchestrator.md, "ModifyReplicationGroup settings"): the stored
settings validated, stored and returned through boto3 and AWS CLI v2, every fault with nothing
changed; CacheParameterGroupName and CacheNodeType (ApplyImmediately=true) checked with CONFIG
GET on every node. Deferred changes (ApplyImmediately=false) are tested in test_maintenance.py."""
import time
import unittest

from botocore.exceptions import ClientError

import fixture as fx

GID = "mod-cmd"


def setUpModule():
    fx.start_lab("modify")
    fx.client().create_replication_group(
        ReplicationGroupId=GID, ReplicationGroupDescription="before", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    fx.wait_status(GID)


def tearDownModule():
    fx.stop_lab()


class Modify(unittest.TestCase):
    def test_01_settings_round_trip(self):
        rg = fx.client().modify_replication_group(
            ReplicationGroupId=GID, ReplicationGroupDescription="after",
            SnapshottingClusterId=f"{GID}-002", SnapshotWindow="02:00-03:00",
            PreferredMaintenanceWindow="wed:04:00-wed:05:00",
            NotificationTopicArn="arn:aws:sns:us-east-1:123456789012:t",
            NotificationTopicStatus="inactive", SecurityGroupIds=["sg-1", "sg-2"],
            AutoMinorVersionUpgrade=False, SnapshotRetentionLimit=0,
            ApplyImmediately=True)["ReplicationGroup"]
        self.assertEqual(rg["Status"], "available")
        g = fx.describe(GID)[0]
        self.assertEqual(g["Description"], "after")
        self.assertEqual(g["SnapshottingClusterId"], f"{GID}-002")
        self.assertEqual(g["SnapshotWindow"], "02:00-03:00")
        self.assertEqual(g["SnapshotRetentionLimit"], 0)
        self.assertIs(g.get("AutoMinorVersionUpgrade"), False)
        cc = fx.client().describe_cache_clusters(
            CacheClusterId=f"{GID}-001")["CacheClusters"][0]
        self.assertEqual(cc["NotificationConfiguration"],
                         {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                          "TopicStatus": "inactive"})
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--replication-group-description", "via cli",
                           "--preferred-maintenance-window", "sun:23:00-mon:01:30")
        self.assertEqual(out["ReplicationGroup"]["Description"], "via cli")

    def expect(self, code, status, **kw):
        before = fx.describe(GID)[0]
        with self.assertRaises(ClientError, msg=f"{kw} was accepted") as cm:
            fx.client().modify_replication_group(ReplicationGroupId=GID, **kw)
        got = fx.error_code(cm.exception)
        self.assertEqual(got, (code, status), f"{kw}: {cm.exception}")
        print(f"  {kw}: {got[0]}: {cm.exception.response['Error']['Message']}", flush=True)
        self.assertEqual(fx.describe(GID)[0], before)

    def test_02_faults(self):
        self.expect("InvalidParameterValue", 400, ReplicationGroupDescription="x" * 256)
        self.expect("CacheClusterNotFound", 404, SnapshottingClusterId=f"{GID}-009")
        self.expect("InvalidParameterValue", 400, SnapshotRetentionLimit=-1)
        self.expect("InvalidParameterValue", 400, SnapshotRetentionLimit=5)
        self.expect("InvalidParameterValue", 400, SnapshotWindow="5-6")
        self.expect("InvalidParameterValue", 400,
                    PreferredMaintenanceWindow="sun:01:00-sun:01:30")
        self.expect("InvalidParameterValue", 400, NotificationTopicArn="not-an-arn")
        self.expect("InvalidParameterValue", 400, NotificationTopicStatus="on")
        self.expect("CacheParameterGroupNotFound", 404, CacheParameterGroupName="no-such-pg",
                    ApplyImmediately=True)
        self.expect("InvalidParameterCombination", 400,
                    CacheParameterGroupName="default.redis7.cluster.on", ApplyImmediately=True)
        # ApplyImmediately=false is validated the same way (test_maintenance.py: the rest).
        self.expect("InvalidParameterCombination", 400,
                    CacheParameterGroupName="default.redis7.cluster.on", ApplyImmediately=False)
        self.expect("InvalidParameterValue", 400, CacheNodeType="cache.nope.large")
        self.expect("InvalidParameterValue", 400, CacheNodeType="cache.nope.large",
                    ApplyImmediately=True)
        self.expect("InvalidParameterValue", 400, EngineVersion="6.2", ApplyImmediately=False)
        with self.assertRaises(ClientError) as cm:
            fx.client().modify_replication_group(ReplicationGroupId="nope",
                                                 ReplicationGroupDescription="x")
        self.assertEqual(fx.error_code(cm.exception), ("ReplicationGroupNotFoundFault", 404))


def nodes_of(gid):
    ccs = fx.client().describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    return [cc for cc in ccs if cc.get("ReplicationGroupId") == gid]


def config_get(cc, name):
    ep = cc["CacheNodes"][0]["Endpoint"]
    lines = fx.redis_cli(ep["Address"], ep["Port"], "CONFIG", "GET", name).stdout.splitlines()
    return lines[1] if len(lines) > 1 else None


def wait_config(tc, gid, name, want, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while True:
        got = {cc["CacheClusterId"]: config_get(cc, name) for cc in nodes_of(gid)}
        if got and all(v == want for v in got.values()):
            print(f"  {gid}: {name}={want} on {sorted(got)}", flush=True)
            return
        if time.monotonic() > deadline:
            tc.fail(f"{gid}: {name} is {got}, want {want}")
        time.sleep(0.2)


class ModifyParameterGroup(unittest.TestCase):
    """CacheParameterGroupName (ApplyImmediately=true): the applier brings every node to the
    new group's values; switching between two user groups restores the defaults of what the
    old one set and the new one does not."""

    def test_01_switch_reaches_every_node(self):
        c = fx.client()
        for name, values in (("mod-pg-a", {"maxmemory-policy": "allkeys-lfu",
                                           "notify-keyspace-events": "KEA"}),
                             ("mod-pg-b", {"maxmemory-policy": "allkeys-random"})):
            c.create_cache_parameter_group(CacheParameterGroupName=name,
                                           CacheParameterGroupFamily="redis7",
                                           Description=name)
            c.modify_cache_parameter_group(CacheParameterGroupName=name, ParameterNameValues=[
                {"ParameterName": k, "ParameterValue": v} for k, v in values.items()])
        rg = c.modify_replication_group(ReplicationGroupId=GID, CacheParameterGroupName="mod-pg-a",
                                        ApplyImmediately=True)["ReplicationGroup"]
        self.assertEqual(rg["Status"], "available")
        wait_config(self, GID, "maxmemory-policy", "allkeys-lfu")
        wait_config(self, GID, "notify-keyspace-events", "AKE")
        for cc in nodes_of(GID):
            self.assertEqual(cc["CacheParameterGroup"]["CacheParameterGroupName"], "mod-pg-a")
        # AWS CLI v2, to the second group: notify-keyspace-events goes back to its default.
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--cache-parameter-group-name", "mod-pg-b", "--apply-immediately")
        self.assertEqual(out["ReplicationGroup"]["ReplicationGroupId"], GID)
        wait_config(self, GID, "maxmemory-policy", "allkeys-random")
        wait_config(self, GID, "notify-keyspace-events", "")
        deadline = time.monotonic() + 20
        while True:
            st = {cc["CacheClusterId"]: cc["CacheParameterGroup"]["ParameterApplyStatus"]
                  for cc in nodes_of(GID)}
            if all(v == "in-sync" for v in st.values()):
                break
            self.assertLess(time.monotonic(), deadline, st)
            time.sleep(0.2)
        events = c.describe_events(SourceIdentifier=GID, SourceType="replication-group")["Events"]
        self.assertTrue(any("mod-pg-b" in e["Message"] for e in events), events)
        # Back to the built-in default: test_standalone.py checks it (CONFIG GET); later classes
        # here rely on mod-pg-b staying in use.


class NodeTypeAfterParameterGroup(unittest.TestCase):
    """CacheNodeType (ApplyImmediately=true) through AWS CLI v2: the group is `modifying` while
    the modify-node-type operation runs; then every node's maxmemory follows the node type (configs/node_types.yaml: t3.micro 0.5 GiB, t3.small 1.37 GiB). Runs
    after ModifyParameterGroup (unittest orders classes by name): the group's parameter group
    values must survive the change."""

    def maxmemory(self):
        return {cc["CacheClusterId"]: int(config_get(cc, "maxmemory")) for cc in nodes_of(GID)}

    def test_01_scale_up_and_down(self):
        before = self.maxmemory()
        self.assertEqual(len(set(before.values())), 1, before)
        small = next(iter(before.values()))
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--cache-node-type", "cache.t3.small", "--apply-immediately")
        self.assertEqual(out["ReplicationGroup"]["CacheNodeType"], "cache.t3.small")
        fx.wait_status(GID)  # the modify-node-type operation (the group is modifying meanwhile)
        after = self.maxmemory()
        print(f"  maxmemory {before} -> {after}", flush=True)
        self.assertEqual(len(after), 2)
        for v in after.values():
            self.assertAlmostEqual(v / small, 1.37 / 0.5, places=2)
        self.assertEqual(fx.describe(GID)[0]["CacheNodeType"], "cache.t3.small")
        for cc in nodes_of(GID):
            self.assertEqual(cc["CacheNodeType"], "cache.t3.small")
        events = fx.client().describe_events(SourceIdentifier=GID,
                                             SourceType="replication-group")["Events"]
        self.assertTrue(any("cache.t3.small" in e["Message"] for e in events), events)
        # The parameter group's values survive (the spec keeps them).
        self.assertEqual({config_get(cc, "maxmemory-policy") for cc in nodes_of(GID)},
                         {"allkeys-random"})
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--cache-node-type", "cache.t3.micro", "--apply-immediately")
        fx.wait_status(GID)
        self.assertEqual(self.maxmemory(), before)
        self.assertEqual(fx.describe(GID)[0]["CacheNodeType"], "cache.t3.micro")


if __name__ == "__main__":
    fx.run(deadline_s=300)
