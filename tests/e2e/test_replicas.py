#!/usr/bin/python3
"""IncreaseReplicaCount / DecreaseReplicaCount against a real lab (docs/orchestrator.md,
"Replica count"): up and down in both cluster modes (boto3 and AWS CLI v2), roles checked in
Redis itself (CLUSTER NODES / INFO replication), AZs distinct per shard, removed nodes'
redis-servers gone, a redis-py RedisCluster client working without errors throughout, and every
documented fault with nothing changed."""
import time
import unittest

from botocore.exceptions import ClientError

import fixture as fx
import reshard_common as rc

from cftools.workload import Workload

CME, CMD = "rep-cme", "rep-cmd"


def setUpModule():
    fx.start_lab("replicas")


def tearDownModule():
    fx.stop_lab()


def info_replication(host: str, port: int) -> dict:
    r = fx.redis_cli(host, port, "INFO", "replication")
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.strip().partition(":")
        if v:
            out[k] = v
    return out


def member_endpoint(g: dict, cid: str) -> tuple[str, int]:
    for ng in g["NodeGroups"]:
        for m in ng["NodeGroupMembers"]:
            if m["CacheClusterId"] == cid:
                ep = m.get("ReadEndpoint")
                if ep:
                    return ep["Address"], ep["Port"]
    rec = fx.member_records([cid])[cid]
    return "127.0.0.1", fx.record_port(rec)


class Replicas(unittest.TestCase):
    def assert_cme_shape(self, gid: str, replicas: int) -> dict:
        g = fx.describe(gid)[0]
        self.assertEqual(g["Status"], "available")
        fx.assert_slots_cover_exactly_once(self, g)
        host, port = rc.config_endpoint(g)
        ok, out = fx.cluster_check(host, port)
        self.assertTrue(ok, out)
        masters, slaves = fx.primaries_and_replicas(host, port)
        self.assertEqual(len(masters), len(g["NodeGroups"]))
        self.assertEqual(len(slaves), len(g["NodeGroups"]) * replicas)
        ports = rc.member_ports(g["MemberClusters"])
        by_port = {n["port"]: n for n in masters + slaves}
        for ng in g["NodeGroups"]:
            members = ng["NodeGroupMembers"]
            self.assertEqual(len(members), replicas + 1, ng["NodeGroupId"])
            azs = [m["PreferredAvailabilityZone"] for m in members]
            self.assertEqual(len(set(azs)), min(3, len(azs)), f"{ng['NodeGroupId']}: {azs}")
            nodes = [by_port[ports[m["CacheClusterId"]]] for m in members]
            ms = [n for n in nodes if "master" in n["flags"]]
            self.assertEqual(len(ms), 1, f"{ng['NodeGroupId']}: {nodes}")
            for n in nodes:
                if n is not ms[0]:
                    self.assertEqual(n["master"], ms[0]["id"], f"{ng['NodeGroupId']}: {n}")
        return g

    def test_01_cluster_mode_up_and_down_with_a_client(self):
        rc.create_cme(CME, 2, 1)
        g = fx.describe(CME)[0]
        w = Workload(*rc.config_endpoint(g), keys=1000, rate=500)
        w.start()
        try:
            time.sleep(0.5)
            t0 = time.monotonic()
            rg = fx.client().increase_replica_count(ReplicationGroupId=CME, NewReplicaCount=2,
                                                    ApplyImmediately=True)["ReplicationGroup"]
            self.assertEqual(rg["Status"], "modifying")
            self.assertEqual(len(rg["MemberClusters"]), 6)
            fx.wait_status(CME, timeout_s=120)
            print(f"  CME 2x1 -> 2x2 in {time.monotonic() - t0:.1f} s", flush=True)
            g = self.assert_cme_shape(CME, 2)
            before = set(g["MemberClusters"])
            pids = [p["pid"] for p in fx.group_processes(before)]
            time.sleep(0.5)
            t0 = time.monotonic()
            fx.aws("decrease-replica-count", "--replication-group-id", CME,
                   "--new-replica-count", "1", "--apply-immediately")
            fx.wait_status(CME, timeout_s=120)
            print(f"  CME 2x2 -> 2x1 in {time.monotonic() - t0:.1f} s", flush=True)
            g = self.assert_cme_shape(CME, 1)
            removed = before - set(g["MemberClusters"])
            self.assertEqual(len(removed), 2)
            for cid in removed:
                self.assertTrue(cid.endswith("-003"), removed)
            time.sleep(0.5)
        finally:
            w.stop()
        alive = [p for p in fx.group_processes(removed)]
        self.assertEqual(alive, [], "redis-servers of removed replicas remain")
        host, port = rc.config_endpoint(g)
        for n in fx.cluster_nodes(host, port):
            self.assertNotIn("fail", n["flags"], f"a removed node is still known: {n}")
        rc.assert_no_errors(self, w, CME)
        del pids

    def test_02_cluster_mode_disabled_with_azs_and_by_name(self):
        fx.client().create_replication_group(
            ReplicationGroupId=CMD, ReplicationGroupDescription="cmd", Engine="redis",
            CacheNodeType="cache.t3.micro", NumCacheClusters=2,
            PreferredCacheClusterAZs=["lab-a", "lab-b"])
        fx.wait_status(CMD)
        fx.client().increase_replica_count(
            ReplicationGroupId=CMD, ApplyImmediately=True,
            ReplicaConfiguration=[{"NodeGroupId": "0001", "NewReplicaCount": 3,
                                   "PreferredAvailabilityZones": ["lab-a", "lab-b", "lab-c",
                                                                  "lab-a"]}])
        g = fx.wait_status(CMD, timeout_s=60)
        members = {m["CacheClusterId"]: m for m in g["NodeGroups"][0]["NodeGroupMembers"]}
        self.assertEqual(sorted(members), [f"{CMD}-00{i}" for i in range(1, 5)])
        self.assertEqual(members[f"{CMD}-003"]["PreferredAvailabilityZone"], "lab-c")
        self.assertEqual(members[f"{CMD}-004"]["PreferredAvailabilityZone"], "lab-a")
        pe = g["NodeGroups"][0]["PrimaryEndpoint"]
        for cid, m in members.items():
            want = "primary" if cid == f"{CMD}-001" else "replica"
            self.assertEqual(m.get("CurrentRole"), want, cid)
            info = info_replication(*member_endpoint(g, cid))
            if want == "replica":
                self.assertEqual(info.get("role"), "slave", cid)
                self.assertEqual(int(info.get("master_port", 0)), pe["Port"], cid)
                self.assertEqual(info.get("master_link_status"), "up", cid)
            else:
                self.assertEqual(info.get("connected_slaves"), "3")
        # Data written to the primary reaches the new replicas.
        r = fx.redis_cli(pe["Address"], pe["Port"], "SET", "rk", "v1")
        self.assertEqual(r.stdout.strip(), "OK", r.stdout + r.stderr)
        for cid in (f"{CMD}-003", f"{CMD}-004"):
            ep = member_endpoint(g, cid)
            deadline = time.monotonic() + 5
            got = None
            while time.monotonic() < deadline:
                got = fx.redis_cli(*ep, "GET", "rk").stdout.strip()
                if got == "v1":
                    break
                time.sleep(0.1)
            self.assertEqual(got, "v1", f"{cid} at {ep}: {info_replication(*ep)}")
        # Remove two by name (CLI v2, ReplicasToRemove).
        fx.aws("decrease-replica-count", "--replication-group-id", CMD, "--apply-immediately",
               "--replicas-to-remove", f"{CMD}-002", f"{CMD}-004")
        g = fx.wait_status(CMD, timeout_s=60)
        self.assertEqual(sorted(g["MemberClusters"]), [f"{CMD}-001", f"{CMD}-003"])
        self.assertEqual(fx.group_processes([f"{CMD}-002", f"{CMD}-004"]), [])
        info = info_replication(pe["Address"], pe["Port"])
        self.assertEqual(info.get("connected_slaves"), "1")

    def expect(self, code, status, fn, **kw):
        before = [(g["ReplicationGroupId"], g["Status"], sorted(g["MemberClusters"]))
                  for g in fx.describe()]
        with self.assertRaises(ClientError, msg=f"{kw} was accepted") as cm:
            fn(**kw)
        got = fx.error_code(cm.exception)
        self.assertEqual(got, (code, status), f"{kw}: {cm.exception}")
        print(f"  {fn.__name__} {kw}: {got[0]}: {cm.exception.response['Error']['Message']}",
              flush=True)
        after = [(g["ReplicationGroupId"], g["Status"], sorted(g["MemberClusters"]))
                 for g in fx.describe()]
        self.assertEqual(after, before)

    def test_03_faults(self):
        c = fx.client()
        inc, dec = c.increase_replica_count, c.decrease_replica_count
        self.expect("ReplicationGroupNotFoundFault", 404, inc, ReplicationGroupId="nope",
                    NewReplicaCount=2, ApplyImmediately=True)
        self.expect("NoOperationFault", 400, inc, ReplicationGroupId=CME, NewReplicaCount=1,
                    ApplyImmediately=True)
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    NewReplicaCount=6, ApplyImmediately=True)
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    NewReplicaCount=2, ApplyImmediately=False)
        self.expect("InvalidParameterValue", 400, dec, ReplicationGroupId=CME,
                    NewReplicaCount=0, ApplyImmediately=True)  # CME keeps 1 replica
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    NewReplicaCount=0, ApplyImmediately=True)  # increase cannot lower
        self.expect("InvalidParameterValue", 400, dec, ReplicationGroupId=CMD,
                    ReplicasToRemove=[f"{CMD}-001"], ApplyImmediately=True)  # the primary
        self.expect("InvalidParameterValue", 400, dec, ReplicationGroupId=CMD,
                    ReplicasToRemove=[f"{CMD}-009"], ApplyImmediately=True)
        self.expect("InvalidParameterCombination", 400, dec, ReplicationGroupId=CMD,
                    ReplicasToRemove=[f"{CMD}-003"], NewReplicaCount=0, ApplyImmediately=True)
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    ApplyImmediately=True)  # neither count nor configuration
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    ApplyImmediately=True,
                    ReplicaConfiguration=[{"NodeGroupId": "0009", "NewReplicaCount": 2}])
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    ApplyImmediately=True,
                    ReplicaConfiguration=[{"NodeGroupId": "0001", "NewReplicaCount": 2,
                                           "PreferredOutpostArns": ["arn:aws:outposts:x"]}])
        self.expect("InvalidParameterValue", 400, inc, ReplicationGroupId=CME,
                    ApplyImmediately=True,
                    ReplicaConfiguration=[{"NodeGroupId": "0001", "NewReplicaCount": 2,
                                           "PreferredAvailabilityZones": ["lab-a", "mars",
                                                                          "lab-b"]}])
        st, code, _ = fx.raw_call({"Action": "IncreaseReplicaCount", "Version": "2015-02-02",
                                   "ReplicationGroupId": CME, "NewReplicaCount": "2"})
        self.assertEqual((st, code), (400, "MissingParameter"))
        # One change at a time: a second call while the first runs.
        inc(ReplicationGroupId=CMD, NewReplicaCount=2, ApplyImmediately=True)
        with self.assertRaises(ClientError) as cm:
            dec(ReplicationGroupId=CMD, NewReplicaCount=0, ApplyImmediately=True)
        self.assertEqual(fx.error_code(cm.exception), ("InvalidReplicationGroupState", 400))
        fx.wait_status(CMD, timeout_s=60)

    def test_04_delete_retaining_the_primary(self):
        gid = "rep-keep"
        fx.client().create_replication_group(
            ReplicationGroupId=gid, ReplicationGroupDescription="keep", Engine="redis",
            CacheNodeType="cache.t3.micro", NumCacheClusters=3)
        g = fx.wait_status(gid)
        pe = g["NodeGroups"][0]["PrimaryEndpoint"]
        fx.redis_cli(pe["Address"], pe["Port"], "SET", "kept", "yes")
        # Refused for cluster mode enabled groups (several primaries).
        self.expect("InvalidParameterValue", 400, fx.client().delete_replication_group,
                    ReplicationGroupId=CME, RetainPrimaryCluster=True)
        _, out, _ = fx.aws("delete-replication-group", "--replication-group-id", gid,
                           "--retain-primary-cluster")
        self.assertEqual(out["ReplicationGroup"]["Status"], "deleting")
        fx.wait_gone(gid, timeout_s=60)
        self.assertEqual(fx.group_processes([f"{gid}-002", f"{gid}-003"]), [])
        self.assertEqual(len(fx.group_processes([f"{gid}-001"])), 1)
        r = fx.redis_cli(pe["Address"], pe["Port"], "GET", "kept")
        self.assertEqual(r.stdout.strip(), "yes")
        info = info_replication(pe["Address"], pe["Port"])
        self.assertEqual(info.get("role"), "master")
        self.assertEqual(info.get("connected_slaves"), "0")
        # DescribeCacheClusters shows it when the cache-cluster actions read
        # Store::ListStandaloneClusters (orch-settings); report what it says.
        try:
            cc = fx.client().describe_cache_clusters(CacheClusterId=f"{gid}-001")
            print(f"  DescribeCacheClusters {gid}-001: {cc['CacheClusters'][0].get('CacheClusterStatus')}",
                  flush=True)
        except ClientError as e:
            print(f"  DescribeCacheClusters {gid}-001: {fx.error_code(e)}", flush=True)


if __name__ == "__main__":
    fx.run(deadline_s=420)
