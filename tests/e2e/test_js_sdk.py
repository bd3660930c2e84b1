#!/usr/bin/python3
"""JS SDK v3 (@aws-sdk/client-elasticache) parses our DescribeReplicationGroups XML: every list
has the right item count (JS silently drops items with a wrong element name) and the result
equals what boto3 (which forgives wrong names) parsed."""
import json
import os
import shutil
import subprocess
import unittest

import fixture as fx

JS_DIR = fx.REPO / "tests" / "e2e" / "js"
CME, CMD = "js-cme", "js-cmd"


def setUpModule():
    fx.start_lab("js", ports_per_agent=12)


def tearDownModule():
    fx.stop_lab()


class JsSdk(unittest.TestCase):
    def test_js_parses_every_list(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (scripts/setup.sh installs it)")
        self.assertTrue((JS_DIR / "node_modules" / "@aws-sdk" / "client-elasticache").is_dir(),
                        f"run `npm ci` in {JS_DIR} (.ci/run and scripts/test.sh do)")
        c = fx.client()
        r1 = c.create_replication_group(
            ReplicationGroupId=CME, ReplicationGroupDescription="js cluster mode on",
            Engine="redis", CacheNodeType="cache.t3.micro",
            CacheParameterGroupName="default.redis7.cluster.on", NumNodeGroups=3,
            ReplicasPerNodeGroup=1, AutomaticFailoverEnabled=True)
        r2 = c.create_replication_group(
            ReplicationGroupId=CMD, ReplicationGroupDescription="js cluster mode off",
            Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=3,
            PreferredCacheClusterAZs=["lab-a", "lab-b", "lab-c"])
        self.assertEqual(r1["ReplicationGroup"]["Status"], "creating")
        self.assertEqual(r2["ReplicationGroup"]["Status"], "creating")
        fx.wait_status(CME)
        fx.wait_status(CMD)
        specs = [{"id": CME, "mode": "cme", "shards": 3, "replicas": 1},
                 {"id": CMD, "mode": "cmd", "clusters": 3}]
        env = dict(os.environ, CF_ENDPOINT=fx.lab().endpoint, CF_REGION=fx.REGION,
                   CF_ACCESS_KEY_ID=fx.ACCESS_KEY_ID, CF_SECRET_ACCESS_KEY=fx.SECRET_ACCESS_KEY,
                   CF_GROUPS=json.dumps(specs), CF_TOTAL_GROUPS="2")
        r = subprocess.run([node, str(JS_DIR / "describe_check.mjs")], cwd=JS_DIR, env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, f"JS check failed:\n{r.stderr}\n{r.stdout}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertGreater(out["checks"], 50)
        print(f"JS SDK: {out['checks']} checks passed", flush=True)

        # Same content as boto3's parse (boto3 accepts any item element name).
        for gid in (CME, CMD):
            b = fx.describe(gid)[0]
            j = out["groups"][gid]
            self.assertEqual(j["MemberClusters"], b["MemberClusters"], gid)
            self.assertEqual(len(j["NodeGroups"]), len(b["NodeGroups"]), gid)
            for jn, bn in zip(j["NodeGroups"], b["NodeGroups"]):
                self.assertEqual(jn["NodeGroupId"], bn["NodeGroupId"])
                self.assertEqual(jn.get("Slots"), bn.get("Slots"))
                self.assertEqual([m["CacheClusterId"] for m in jn["NodeGroupMembers"]],
                                 [m["CacheClusterId"] for m in bn["NodeGroupMembers"]])
                self.assertEqual([m.get("PreferredAvailabilityZone") for m in jn["NodeGroupMembers"]],
                                 [m.get("PreferredAvailabilityZone") for m in bn["NodeGroupMembers"]])
            for k in ("ConfigurationEndpoint", "ClusterEnabled", "AutomaticFailover", "Status",
                      "Description", "CacheNodeType"):
                self.assertEqual(j.get(k), b.get(k), f"{gid}.{k}: JS {j.get(k)} boto3 {b.get(k)}")


if __name__ == "__main__":
    fx.run(deadline_s=400)
