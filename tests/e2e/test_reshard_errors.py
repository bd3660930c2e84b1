#!/usr/bin/python3
"""ModifyReplicationGroupShardConfiguration: every documented rejection (docs/orchestrator.md,
"Resharding"), by wire code and HTTP status (boto3, plus raw signed requests for what boto3
refuses to send), and after each one nothing changed: the groups as Describe shows them, the
lab's redis-servers, and the group's operations. Also: no second reshard while one runs, no
reshard of a group being created, InsufficientCacheClusterCapacity when the hosts have no ports
left or the preferred AZ's hosts are all down, NodeQuotaForClusterExceeded."""
import time
import unittest

from botocore.exceptions import ClientError, ParamValidationError

import fixture as fx
import reshard_common as rc

CME, CMD = "rse-cme", "rse-cmd"
# 3 agents x 10 node ports (4 of them the warm pool's): 30 ports for nodes, so a large enough
# scale-out cannot be placed.
PORTS_PER_AGENT = 10


def setUpModule():
    fx.start_lab("reshard-errors", ports_per_agent=PORTS_PER_AGENT)
    rc.create_cme(CME, 3, 1)
    fx.client().create_replication_group(
        ReplicationGroupId=CMD, ReplicationGroupDescription="cmd", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2)
    fx.wait_status(CMD)


def tearDownModule():
    fx.stop_lab()


def world():
    groups = sorted(fx.describe(), key=lambda g: g["ReplicationGroupId"])
    view = [(g["ReplicationGroupId"], g["Status"], g.get("PendingModifiedValues"),
             sorted(g["MemberClusters"]),
             sorted((ng["NodeGroupId"], ng.get("Slots"), ng.get("Status"),
                     tuple(sorted(m["CacheClusterId"] for m in ng["NodeGroupMembers"])))
                    for ng in g["NodeGroups"])) for g in groups]
    ops = {g["ReplicationGroupId"]: sorted((o["id"], o["state"]) for o in
                                          rc.operations(g["ReplicationGroupId"]))
           for g in groups}
    return view, ops, len(fx.all_lab_redis())


class Errors(unittest.TestCase):
    def expect(self, code, status, gid=CME, count=None, **kw):
        """One boto3 call that must fail with (code, status) and change nothing."""
        before = world()
        args = dict(ReplicationGroupId=gid, ApplyImmediately=True)
        if count is not None:
            args["NodeGroupCount"] = count
        args.update(kw)
        with self.assertRaises(ClientError, msg=f"{args} was accepted") as cm:
            fx.client().modify_replication_group_shard_configuration(**args)
        got = fx.error_code(cm.exception)
        codes = code if isinstance(code, tuple) else (code,)
        self.assertIn(got[0], codes, f"{args}: {got} {cm.exception}")
        self.assertEqual(got[1], status, f"{args}: {got}")
        print(f"  {kw or ''} count={count} gid={gid}: {got[0]} {got[1]}: "
              f"{cm.exception.response['Error'].get('Message')}", flush=True)
        self.assertEqual(world(), before, f"{args} changed something")

    def expect_raw(self, code, status, params):
        before = world()
        body = {"Action": "ModifyReplicationGroupShardConfiguration", "Version": "2015-02-02"}
        body.update(params)
        st, got, text = fx.raw_call(body)
        codes = code if isinstance(code, tuple) else (code,)
        self.assertIn(got, codes, f"{params}: {st} {text[:300]}")
        self.assertEqual(st, status, f"{params}: {text[:300]}")
        print(f"  raw {params}: {got} {st}", flush=True)
        self.assertEqual(world(), before, f"{params} changed something")

    def test_01_unknown_group(self):
        self.expect("ReplicationGroupNotFoundFault", 404, gid="no-such-group", count=4)

    def test_02_malformed_group_id(self):
        self.expect("InvalidParameterValue", 400, gid="Bad--Id", count=4)

    def test_03_cluster_mode_disabled(self):
        self.expect("InvalidParameterValue", 400, gid=CMD, count=2)

    def test_04_counts_out_of_range(self):
        self.expect("InvalidParameterValue", 400, count=0)
        self.expect("InvalidParameterValue", 400, count=-1)
        self.expect("NodeGroupsPerReplicationGroupQuotaExceeded", 400, count=91)
        self.expect("InvalidParameterValue", 400, count=3)  # the current count

    def test_05_apply_immediately_false(self):
        self.expect("InvalidParameterValue", 400, count=4, ApplyImmediately=False)

    def test_06_resharding_configuration_when_shrinking(self):
        self.expect("InvalidParameterCombination", 400, count=2,
                    NodeGroupsToRemove=["0003"],
                    ReshardingConfiguration=[{"PreferredAvailabilityZones": ["lab-a"]}])

    def test_07_shrink_without_remove_or_retain(self):
        self.expect("InvalidParameterValue", 400, count=2)

    def test_08_unknown_node_group_ids(self):
        self.expect("InvalidParameterValue", 400, count=2, NodeGroupsToRemove=["0009"])
        self.expect("InvalidParameterValue", 400, count=2, NodeGroupsToRetain=["0001", "0009"])
        self.expect("InvalidParameterValue", 400, count=2, NodeGroupsToRemove=["abc"])
        self.expect("InvalidParameterValue", 400, count=2, NodeGroupsToRemove=["12345"])

    def test_09_remove_and_retain(self):
        self.expect("InvalidParameterCombination", 400, count=2, NodeGroupsToRemove=["0003"],
                    NodeGroupsToRetain=["0001", "0002"])

    def test_10_lists_that_do_not_match_the_count(self):
        # Removing two shards but asking for 2 of 3; retaining one but asking for 2.
        self.expect("InvalidParameterValue", 400, count=2, NodeGroupsToRemove=["0002", "0003"])
        self.expect("InvalidParameterValue", 400, count=2, NodeGroupsToRetain=["0001"])
        self.expect("InvalidParameterValue", 400, count=1,
                    NodeGroupsToRemove=["0002", "0002"])
        # Shrink lists when growing.
        self.expect("InvalidParameterCombination", 400, count=4, NodeGroupsToRemove=["0001"])
        self.expect("InvalidParameterCombination", 400, count=4,
                    NodeGroupsToRetain=["0001", "0002", "0003"])

    def test_11_bad_resharding_configuration(self):
        self.expect("InvalidParameterValue", 400, count=4, ReshardingConfiguration=[
            {"PreferredAvailabilityZones": ["us-west-9z"]}])
        self.expect("InvalidParameterValue", 400, count=4, ReshardingConfiguration=[
            {"NodeGroupId": "0001", "PreferredAvailabilityZones": ["lab-a"]}])  # exists
        self.expect("InvalidParameterValue", 400, count=5, ReshardingConfiguration=[
            {"NodeGroupId": "0008"}, {"NodeGroupId": "0008"}])  # duplicate
        self.expect("InvalidParameterValue", 400, count=4, ReshardingConfiguration=[
            {"NodeGroupId": "12345"}])
        self.expect("InvalidParameterValue", 400, count=4, ReshardingConfiguration=[
            {"NodeGroupId": "0008"}, {"NodeGroupId": "0009"}])  # more entries than new shards
        self.expect("InvalidParameterValue", 400, count=4, ReshardingConfiguration=[
            {"PreferredAvailabilityZones": ["lab-a", "lab-b", "lab-c"]}])  # 3 AZs, 2 nodes

    def test_12_missing_or_malformed_parameters(self):
        with self.assertRaises(ParamValidationError):  # boto3 itself refuses
            fx.client().modify_replication_group_shard_configuration(
                ReplicationGroupId=CME, ApplyImmediately=True)
        self.expect_raw("MissingParameter", 400, {"ReplicationGroupId": CME,
                                                  "ApplyImmediately": "true"})
        self.expect_raw("MissingParameter", 400, {"ReplicationGroupId": CME,
                                                  "NodeGroupCount": "4"})
        self.expect_raw("MissingParameter", 400, {"NodeGroupCount": "4",
                                                  "ApplyImmediately": "true"})
        self.expect_raw("InvalidParameterValue", 400, {"ReplicationGroupId": CME,
                                                       "NodeGroupCount": "four",
                                                       "ApplyImmediately": "true"})
        self.expect_raw("InvalidParameterValue", 400, {"ReplicationGroupId": CME,
                                                       "NodeGroupCount": "4",
                                                       "ApplyImmediately": "yes"})
        self.expect_raw("InvalidParameterValue", 400, {"ReplicationGroupId": CME,
                                                       "NodeGroupCount": "4",
                                                       "ApplyImmediately": "true",
                                                       "NoSuchParameter": "1"})
        # An empty list (a bare `Param=`, as every client sends it) counts as absent.
        self.expect_raw("InvalidParameterValue", 400, {"ReplicationGroupId": CME,
                                                       "NodeGroupCount": "2",
                                                       "ApplyImmediately": "true",
                                                       "NodeGroupsToRemove": ""})
        # The list item name is singular (NodeGroupToRemove); the plural is refused.
        self.expect_raw("InvalidParameterValue", 400, {
            "ReplicationGroupId": CME, "NodeGroupCount": "2", "ApplyImmediately": "true",
            "NodeGroupsToRemove.NodeGroupsToRemove.1": "0003"})

    def test_13_insufficient_capacity(self):
        # 20 shards x 2 nodes: 34 more nodes than the 6 there are; the lab has 30 node ports
        # and 8 of them are taken.
        self.expect("InsufficientCacheClusterCapacity", 400, count=20)

    def test_14_not_available(self):
        # Creating: the create returns `creating` synchronously.
        fx.client().create_replication_group(
            ReplicationGroupId="rse-new", ReplicationGroupDescription="x", Engine="redis",
            CacheNodeType="cache.t3.micro", CacheParameterGroupName="default.redis7.cluster.on",
            NumNodeGroups=2, ReplicasPerNodeGroup=0, AutomaticFailoverEnabled=True)
        with self.assertRaises(ClientError) as cm:
            rc.mrgsc("rse-new", 3)
        self.assertEqual(fx.error_code(cm.exception),
                         ("InvalidReplicationGroupState", 400), cm.exception)
        fx.wait_status("rse-new")
        # Modifying: a second reshard while the first one runs.
        rg = rc.mrgsc(CME, 4)
        self.assertEqual(rg["Status"], "modifying")
        with self.assertRaises(ClientError) as cm:
            rc.mrgsc(CME, 5)
        self.assertEqual(fx.error_code(cm.exception),
                         ("InvalidReplicationGroupState", 400), cm.exception)
        with self.assertRaises(ClientError) as cm:
            rc.mrgsc(CME, 2, NodeGroupsToRemove=["0001"])
        self.assertEqual(fx.error_code(cm.exception),
                         ("InvalidReplicationGroupState", 400), cm.exception)
        t0 = time.monotonic()
        fx.wait_status(CME, timeout_s=120)
        print(f"  empty 3 -> 4 finished {time.monotonic() - t0:.2f} s after the rejections",
              flush=True)
        rc.assert_reshard_done(self, CME, 4, 1, ["0001", "0002", "0003", "0004"])

    def test_15_node_quota(self):
        # 1 shard x 6 nodes grown to 84 shards: 504 nodes > limits.max_nodes_per_group (500),
        # with 84 <= max_node_groups (90).
        rc.create_cme("rse-big", 1, 5)
        self.expect("NodeQuotaForClusterExceeded", 400, gid="rse-big", count=84)

    def test_16_preferred_az_down(self):
        # Every host of lab-c down (its agent killed; redis-servers keep running): a new shard
        # asked for in lab-c cannot be placed.
        lab = fx.lab()
        lab.kill_agent("host-c")
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                hosts = {h["host_id"]: h["state"] for h in lab.health().get("hosts", [])}
                if hosts.get("host-c") == "down":
                    break
                time.sleep(0.2)
            else:
                self.fail(f"host-c never went down: {hosts}")
            n = len(fx.describe(CME)[0]["NodeGroups"])
            self.expect("InsufficientCacheClusterCapacity", 400, count=n + 1,
                        ReshardingConfiguration=[{"PreferredAvailabilityZones": ["lab-c"]}])
        finally:
            lab.restart_agent("host-c")
            lab.wait_healthy(timeout_s=30)


if __name__ == "__main__":
    fx.run(deadline_s=400)
