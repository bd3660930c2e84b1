#!/usr/bin/python3
"""ModifyReplicationGroup's stored settings (docs/orchestrator.md, "ModifyReplicationGroup
settings"): validated, stored and returned through boto3 and AWS CLI v2, every fault with
nothing changed. CacheNodeType / EngineVersion / deferred changes are not implemented yet and
must be refused (InvalidParameterValue), never silently accepted."""
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
            NotificationTopicStatus="active", SecurityGroupIds=["sg-1", "sg-2"],
            AutoMinorVersionUpgrade=False, SnapshotRetentionLimit=0,
            ApplyImmediately=True)["ReplicationGroup"]
        self.assertEqual(rg["Status"], "available")
        g = fx.describe(GID)[0]
        self.assertEqual(g["Description"], "after")
        self.assertEqual(g["SnapshottingClusterId"], f"{GID}-002")
        self.assertEqual(g["SnapshotWindow"], "02:00-03:00")
        self.assertEqual(g["SnapshotRetentionLimit"], 0)
        self.assertIs(g.get("AutoMinorVersionUpgrade"), False)
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
        self.expect("InvalidParameterValue", 400, CacheNodeType="cache.r6g.large")
        self.expect("InvalidParameterValue", 400, EngineVersion="7.0")
        with self.assertRaises(ClientError) as cm:
            fx.client().modify_replication_group(ReplicationGroupId="nope",
                                                 ReplicationGroupDescription="x")
        self.assertEqual(fx.error_code(cm.exception), ("ReplicationGroupNotFoundFault", 404))


if __name__ == "__main__":
    fx.run(deadline_s=300)
