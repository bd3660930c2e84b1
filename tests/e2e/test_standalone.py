#!/usr/bin/python3
"""Issue 5 leftovers end to end (docs/orchestrator.md): a replication group switched from a
user-created parameter group back to the built-in default.redis7 (CONFIG GET shows the
default on every node); AutomaticFailoverEnabled followed by the nodes' persisted spec
(hold_max_ms in the agents' node.json); DeleteReplicationGroup RetainPrimaryCluster=true ->
DescribeCacheClusters shows the standalone cache cluster (boto3 and AWS CLI v2) and its data is
still readable with redis-py at its endpoint -> DeleteCacheCluster stops its redis-server and
frees its port. Faults are checked to change nothing."""
import socket
import time
import unittest

import redis
from botocore.exceptions import ClientError

import fixture as fx

GID = "sa-cmd"
PG = "sa-pg"


def setUpModule():
    fx.start_lab("standalone")
    c = fx.client()
    c.create_cache_parameter_group(CacheParameterGroupName=PG, CacheParameterGroupFamily="redis7",
                                   Description="standalone test")
    c.modify_cache_parameter_group(CacheParameterGroupName=PG, ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"},
        {"ParameterName": "notify-keyspace-events", "ParameterValue": "KEA"}])
    c.create_replication_group(
        ReplicationGroupId=GID, ReplicationGroupDescription="standalone", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2, CacheParameterGroupName=PG)
    fx.wait_status(GID)


def tearDownModule():
    fx.stop_lab()


def clusters(**kw):
    out, marker = [], None
    while True:
        page = fx.client().describe_cache_clusters(ShowCacheNodeInfo=True,
                                                   **({"Marker": marker} if marker else {}), **kw)
        out += page["CacheClusters"]
        marker = page.get("Marker")
        if not marker:
            return out


def members():
    return [cc for cc in clusters() if cc.get("ReplicationGroupId") == GID]


def endpoint(cc):
    ep = cc["CacheNodes"][0]["Endpoint"]
    return ep["Address"], ep["Port"]


def config_get(cc, name):
    host, port = endpoint(cc)
    return redis.Redis(host=host, port=port, socket_timeout=5).config_get(name).get(name)


def wait_for(tc, what, fn, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got[0]:
            return got[1]
        if time.monotonic() > deadline:
            tc.fail(f"{what}: {got[1]}")
        time.sleep(0.2)


def spec_of(node_id):
    recs = [r for r in fx.lab().node_records() if r["node_id"] == node_id]
    return recs[0]["spec"] if recs else None


def port_is_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Standalone(unittest.TestCase):
    def test_01_switch_back_to_the_builtin_group(self):
        def policies(want):
            got = {cc["CacheClusterId"]: (config_get(cc, "maxmemory-policy"),
                                          config_get(cc, "notify-keyspace-events"),
                                          cc["CacheParameterGroup"]["ParameterApplyStatus"])
                   for cc in members()}
            return all(v == want for v in got.values()) and len(got) == 2, got
        wait_for(self, "user group values", lambda: policies(("allkeys-lfu", "AKE", "in-sync")))
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--cache-parameter-group-name", "default.redis7",
                           "--apply-immediately")
        self.assertEqual(out["ReplicationGroup"]["Status"], "available")
        got = wait_for(self, "built-in defaults",
                       lambda: policies(("volatile-lru", "", "in-sync")))
        print(f"  back on default.redis7: {got}", flush=True)
        for cc in members():
            self.assertEqual(cc["CacheParameterGroup"]["CacheParameterGroupName"],
                             "default.redis7")
        # The user group is free again (not in use) and still a user group; default.redis7 is
        # listed once, as a built-in group.
        names = [g["CacheParameterGroupName"] for g in
                 fx.client().describe_cache_parameter_groups()["CacheParameterGroups"]]
        self.assertEqual(names.count("default.redis7"), 1, names)
        self.assertIn(PG, names)

    def test_02_automatic_failover_reaches_the_node_specs(self):
        ids = [cc["CacheClusterId"] for cc in members()]
        self.assertEqual(len(ids), 2)
        without = {spec_of(i)["hold_max_ms"] for i in ids}
        self.assertEqual(len(without), 1)
        self.assertGreater(next(iter(without)), 0)
        fx.client().modify_replication_group(ReplicationGroupId=GID,
                                             AutomaticFailoverEnabled=True,
                                             ApplyImmediately=True)
        fx.wait_status(GID)
        wait_for(self, "hold_max_ms 0 with automatic failover",
                 lambda: (all(spec_of(i)["hold_max_ms"] == 0 for i in ids),
                          {i: spec_of(i)["hold_max_ms"] for i in ids}))
        _, out, _ = fx.aws("modify-replication-group", "--replication-group-id", GID,
                           "--no-automatic-failover-enabled", "--apply-immediately")
        fx.wait_status(GID)
        got = wait_for(self, "hold_max_ms back without automatic failover",
                       lambda: ({spec_of(i)["hold_max_ms"] for i in ids} == without,
                                {i: spec_of(i)["hold_max_ms"] for i in ids}))
        print(f"  hold_max_ms after the round trip: {got}", flush=True)
        # The parameter group's values survived the re-spec.
        for cc in members():
            self.assertEqual(config_get(cc, "maxmemory-policy"), "volatile-lru")

    def test_03_retained_primary_is_a_standalone_cluster(self):
        c = fx.client()
        primary = f"{GID}-001"
        cc = [x for x in members() if x["CacheClusterId"] == primary][0]
        host, port = endpoint(cc)
        r = redis.Redis(host=host, port=port, socket_timeout=5)
        for i in range(100):
            r.set(f"k{i}", f"v{i}")
        # A member cannot be deleted on its own.
        with self.assertRaises(ClientError) as cm:
            c.delete_cache_cluster(CacheClusterId=f"{GID}-002")
        self.assertEqual(fx.error_code(cm.exception), ("InvalidCacheClusterState", 400))
        self.assertIn("member of a replication group", str(cm.exception))
        replica_pids = [p["pid"] for p in fx.group_processes([f"{GID}-002"])]
        self.assertEqual(len(replica_pids), 1)

        c.delete_replication_group(ReplicationGroupId=GID, RetainPrimaryCluster=True)
        fx.wait_gone(GID)
        _, out, _ = fx.aws("describe-cache-clusters", "--show-cache-node-info",
                           "--show-cache-clusters-not-in-replication-groups")
        got = out["CacheClusters"]
        self.assertEqual([x["CacheClusterId"] for x in got], [primary])
        sa = got[0]
        self.assertNotIn("ReplicationGroupId", sa)
        self.assertEqual(sa["CacheClusterStatus"], "available")
        self.assertEqual(sa["NumCacheNodes"], 1)
        self.assertEqual(sa["CacheNodeType"], "cache.t3.micro")
        self.assertEqual(sa["Engine"], "redis")
        self.assertEqual(sa["CacheParameterGroup"]["CacheParameterGroupName"], "default.redis7")
        self.assertTrue(sa["ARN"].endswith(f":cluster:{primary}"), sa["ARN"])
        self.assertEqual(endpoint(sa), (host, port))
        self.assertEqual([x["CacheClusterId"] for x in clusters()], [primary])
        one = c.describe_cache_clusters(CacheClusterId=primary)["CacheClusters"]
        self.assertEqual(len(one), 1)
        # Its data is still there, and it takes writes (a master without replicas).
        r = redis.Redis(host=host, port=port, socket_timeout=5)
        self.assertEqual([r.get(f"k{i}") for i in range(100)],
                         [f"v{i}".encode() for i in range(100)])
        self.assertEqual(r.info("replication")["role"], "master")
        r.set("after", "1")
        self.assertFalse(any(fx.is_redis_server(p) for p in replica_pids))
        # Tags: listed (none), not added.
        tags = c.list_tags_for_resource(ResourceName=sa["ARN"])["TagList"]
        self.assertEqual(tags, [])
        with self.assertRaises(ClientError) as cm:
            c.add_tags_to_resource(ResourceName=sa["ARN"], Tags=[{"Key": "k", "Value": "v"}])
        self.assertEqual(fx.error_code(cm.exception), ("InvalidParameterValue", 400))

    def test_04_delete_cache_cluster(self):
        c = fx.client()
        primary = f"{GID}-001"
        sa = c.describe_cache_clusters(CacheClusterId=primary,
                                       ShowCacheNodeInfo=True)["CacheClusters"][0]
        host, port = endpoint(sa)
        pids = [p["pid"] for p in fx.group_processes([primary])]
        self.assertEqual(len(pids), 1)
        self.assertFalse(port_is_free(port))
        for kw, code in (({"CacheClusterId": "sa-nope"}, ("CacheClusterNotFound", 404)),
                         ({"CacheClusterId": primary, "FinalSnapshotIdentifier": "final"},
                          ("InvalidParameterValue", 400)),
                         ({"CacheClusterId": "bad--id"}, ("InvalidParameterValue", 400))):
            with self.assertRaises(ClientError, msg=str(kw)) as cm:
                c.delete_cache_cluster(**kw)
            self.assertEqual(fx.error_code(cm.exception), code, kw)
            print(f"  {kw}: {code[0]}: {cm.exception.response['Error']['Message']}", flush=True)
        self.assertEqual(c.describe_cache_clusters(CacheClusterId=primary)["CacheClusters"][0]
                         ["CacheClusterStatus"], "available")
        self.assertTrue(fx.is_redis_server(pids[0]))

        _, out, _ = fx.aws("delete-cache-cluster", "--cache-cluster-id", primary)
        self.assertEqual(out["CacheCluster"]["CacheClusterId"], primary)
        self.assertEqual(out["CacheCluster"]["CacheClusterStatus"], "deleting")
        self.assertNotIn("ReplicationGroupId", out["CacheCluster"])

        def gone():
            try:
                st = c.describe_cache_clusters(CacheClusterId=primary)["CacheClusters"][0][
                    "CacheClusterStatus"]
                self.assertEqual(st, "deleting")
                return False, st
            except ClientError as e:
                return fx.error_code(e) == ("CacheClusterNotFound", 404), fx.error_code(e)
        wait_for(self, "standalone cluster deleted", gone)
        self.assertFalse(fx.is_redis_server(pids[0]))
        self.assertEqual(fx.group_processes([primary]), [])
        self.assertTrue(port_is_free(port))
        self.assertEqual(clusters(), [])
        events = c.describe_events(SourceIdentifier=primary, SourceType="cache-cluster")["Events"]
        self.assertTrue(any(e["Message"] == f"Cache cluster {primary} deleted" for e in events),
                        events)
        # The port is the store's again: a new group on that host may take it.
        c.create_replication_group(ReplicationGroupId="sa-next",
                                   ReplicationGroupDescription="next", NumCacheClusters=3)
        fx.wait_status("sa-next")
        ports = [endpoint(x) for x in clusters() if x.get("ReplicationGroupId") == "sa-next"]
        print(f"  freed {host}:{port}; new group on {ports}", flush=True)
        # Each node takes its host's lowest free port: the freed one is that host's lowest.
        self.assertIn((host, port), ports)
        c.delete_replication_group(ReplicationGroupId="sa-next")
        fx.wait_gone("sa-next")


if __name__ == "__main__":
    fx.run(deadline_s=400)
