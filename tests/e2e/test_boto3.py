#!/usr/bin/python3
"""boto3 (/usr/bin/python3) against a private lab: create / wait / describe / delete in both
cluster modes, explicit NodeGroupConfiguration, id case-insensitivity, and every documented
fault of Create/Describe/Delete (code and HTTP status), with a check after each rejection that
nothing changed."""
import time
import unittest

from botocore.config import Config
from botocore.exceptions import ClientError

import fixture as fx

CME, CMD, NGC = "boto-cme", "boto-cmd", "boto-ngc"
PORTS_PER_AGENT = 16  # 48 node ports in the lab (4 per agent idle in the warm pool): small
                      # enough to exhaust on purpose
state = {}


def setUpModule():
    fx.start_lab("boto3", ports_per_agent=PORTS_PER_AGENT)


def tearDownModule():
    fx.stop_lab()


def cme_kwargs(gid, shards=3, replicas=1, **extra):
    kw = dict(ReplicationGroupId=gid, ReplicationGroupDescription=f"{gid} cluster mode on",
              Engine="redis", CacheNodeType="cache.t3.micro",
              CacheParameterGroupName="default.redis7.cluster.on", NumNodeGroups=shards,
              ReplicasPerNodeGroup=replicas, AutomaticFailoverEnabled=True)
    kw.update(extra)
    return kw


def cmd_kwargs(gid, n=3, **extra):
    kw = dict(ReplicationGroupId=gid, ReplicationGroupDescription=f"{gid} cluster mode off",
              Engine="redis", CacheNodeType="cache.t3.micro", NumCacheClusters=n)
    kw.update(extra)
    return kw


def wait_available(gid):
    fx.client().get_waiter("replication_group_available").wait(
        ReplicationGroupId=gid, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return fx.describe(gid)[0]


def snapshot():
    return sorted(fx.describe(), key=lambda g: g["ReplicationGroupId"])


class Boto3(unittest.TestCase):
    def test_01_create_both_modes(self):
        c = fx.client()
        t0 = time.monotonic()
        for kw in (cme_kwargs(CME), cmd_kwargs(CMD, PreferredCacheClusterAZs=["lab-b", "lab-c", "lab-a"]),
                   cme_kwargs(NGC, shards=2, NodeGroupConfiguration=[
                       {"NodeGroupId": "0001", "Slots": "0-4999", "ReplicaCount": 1,
                        "PrimaryAvailabilityZone": "lab-b", "ReplicaAvailabilityZones": ["lab-c"]},
                       {"NodeGroupId": "0002", "Slots": "5000-16383", "ReplicaCount": 1,
                        "PrimaryAvailabilityZone": "lab-c", "ReplicaAvailabilityZones": ["lab-a"]}]),
                   cmd_kwargs("MyGroup", n=1)):
            rg = c.create_replication_group(**kw)["ReplicationGroup"]
            self.assertEqual(rg["Status"], "creating", kw["ReplicationGroupId"])
            self.assertEqual(rg["ReplicationGroupId"], kw["ReplicationGroupId"].lower())
        self.assertEqual(sorted(g["ReplicationGroupId"] for g in fx.describe()),
                         sorted([CME, CMD, NGC, "mygroup"]))
        for gid in (CME, CMD, NGC, "mygroup"):
            wait_available(gid)
        print(f"4 groups available after {time.monotonic() - t0:.1f}s", flush=True)

    def test_02_cme(self):
        g = fx.describe(CME)[0]
        self.assertEqual(g["Status"], "available")
        self.assertIs(g["ClusterEnabled"], True)
        self.assertEqual(sorted(g["MemberClusters"]),
                         sorted(f"{CME}-{s:04d}-{n:03d}" for s in (1, 2, 3) for n in (1, 2)))
        fx.assert_slots_cover_exactly_once(self, g)
        cfg = g["ConfigurationEndpoint"]
        ok, out = fx.cluster_check(cfg["Address"], cfg["Port"])
        self.assertTrue(ok, out)
        masters, replicas = fx.primaries_and_replicas(cfg["Address"], cfg["Port"])
        self.assertEqual((len(masters), len(replicas)), (3, 3))
        mhost = {m["id"]: fx.lab().host_of_port(m["port"]) for m in masters}
        for r in replicas:
            self.assertNotEqual(fx.lab().host_of_port(r["port"]), mhost[r["master"]])
        from redis.cluster import RedisCluster
        rc = RedisCluster(host=cfg["Address"], port=cfg["Port"], socket_timeout=5)
        try:
            for i in range(1000):
                rc.set(f"boto:{i}", f"v{i}")
            bad = [i for i in range(1000) if rc.get(f"boto:{i}") != f"v{i}".encode()]
            self.assertEqual(bad, [])
        finally:
            rc.close()

    def test_03_cmd(self):
        g = fx.describe(CMD)[0]
        self.assertIs(g["ClusterEnabled"], False)
        self.assertEqual(sorted(g["MemberClusters"]), [f"{CMD}-00{i}" for i in (1, 2, 3)])
        ng = g["NodeGroups"][0]
        members = ng["NodeGroupMembers"]
        self.assertEqual(sorted(m["CurrentRole"] for m in members), ["primary", "replica", "replica"])
        primary = [m for m in members if m["CurrentRole"] == "primary"][0]
        self.assertEqual(primary["PreferredAvailabilityZone"], "lab-b")
        self.assertEqual(sorted(m["PreferredAvailabilityZone"] for m in members),
                         ["lab-a", "lab-b", "lab-c"])
        import redis
        pe = ng["PrimaryEndpoint"]
        p = redis.Redis(host=pe["Address"], port=pe["Port"], socket_timeout=5)
        p.set("boto:cmd", "x" * 100)
        self.assertEqual(p.execute_command("ROLE")[0], b"master")
        for m in members:
            if m["CurrentRole"] == "replica":
                ep = m["ReadEndpoint"]
                r = redis.Redis(host=ep["Address"], port=ep["Port"], socket_timeout=5)
                self.assertEqual(r.execute_command("ROLE")[0], b"slave")
                deadline = time.monotonic() + 10
                while r.get("boto:cmd") is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(r.get("boto:cmd"), b"x" * 100)

    def test_04_node_group_configuration_honoured(self):
        g = fx.describe(NGC)[0]
        slots = {ng["NodeGroupId"]: ng["Slots"] for ng in g["NodeGroups"]}
        self.assertEqual(slots, {"0001": "0-4999", "0002": "5000-16383"})
        azs = {ng["NodeGroupId"]: sorted(m["PreferredAvailabilityZone"] for m in ng["NodeGroupMembers"])
               for ng in g["NodeGroups"]}
        self.assertEqual(azs, {"0001": ["lab-b", "lab-c"], "0002": ["lab-a", "lab-c"]})
        cfg = g["ConfigurationEndpoint"]
        ok, out = fx.cluster_check(cfg["Address"], cfg["Port"])
        self.assertTrue(ok, out)
        masters, replicas = fx.primaries_and_replicas(cfg["Address"], cfg["Port"])
        where = {}
        for m in masters:
            self.assertEqual(len(m["slots"]), 1, m)
            where[m["slots"][0]] = fx.lab().host_of_port(m["port"])
        self.assertEqual(where, {(0, 4999): "host-b", (5000, 16383): "host-c"},
                         "PrimaryAvailabilityZone not honoured")
        rhost = {fx.lab().host_of_port(r["port"]) for r in replicas}
        self.assertEqual(rhost, {"host-c", "host-a"}, "ReplicaAvailabilityZones not honoured")

    def test_05_id_case_insensitive(self):
        for v in ("mygroup", "MYGROUP", "MyGroup"):
            gs = fx.describe(v)
            self.assertEqual([g["ReplicationGroupId"] for g in gs], ["mygroup"], v)
        with self.assertRaises(ClientError) as cm:
            fx.client().create_replication_group(**cmd_kwargs("MYGROUP", n=1))
        self.assertEqual(fx.error_code(cm.exception), ("ReplicationGroupAlreadyExists", 400))

    def test_06_bad_input(self):
        c = fx.client()
        loose = fx.client(config=Config(parameter_validation=False,
                                        retries={"max_attempts": 3, "mode": "standard"}))
        before = snapshot()
        self.assertEqual(len(before), 4)
        self.assertTrue(all(g["Status"] == "available" for g in before))
        gap = [{"Slots": "0-8000", "ReplicaCount": 1}, {"Slots": "8002-16383", "ReplicaCount": 1}]
        overlap = [{"Slots": "0-8191", "ReplicaCount": 1}, {"Slots": "8000-16383", "ReplicaCount": 1}]
        beyond = [{"Slots": "0-8191", "ReplicaCount": 1}, {"Slots": "8192-16384", "ReplicaCount": 1}]
        cases = [
            ("create existing id", lambda: c.create_replication_group(**cme_kwargs(CME)),
             "ReplicationGroupAlreadyExists", 400),
            ("create existing id, other case",
             lambda: c.create_replication_group(**cmd_kwargs(CMD.upper(), n=1)),
             "ReplicationGroupAlreadyExists", 400),
            ("describe missing", lambda: c.describe_replication_groups(ReplicationGroupId="no-such-group"),
             "ReplicationGroupNotFoundFault", 404),
            ("describe missing 40-char id",
             lambda: c.describe_replication_groups(ReplicationGroupId="a" * 40),
             "ReplicationGroupNotFoundFault", 404),
            ("delete missing", lambda: c.delete_replication_group(ReplicationGroupId="no-such-group"),
             "ReplicationGroupNotFoundFault", 404),
            ("MaxRecords 5", lambda: c.describe_replication_groups(MaxRecords=5),
             "InvalidParameterValue", 400),
            ("MaxRecords 101", lambda: c.describe_replication_groups(MaxRecords=101),
             "InvalidParameterValue", 400),
            ("NumCacheClusters 7", lambda: c.create_replication_group(**cmd_kwargs("bad-n7", n=7)),
             "InvalidParameterValue", 400),
            ("ReplicasPerNodeGroup 6",
             lambda: c.create_replication_group(**cme_kwargs("bad-r6", shards=2, replicas=6)),
             "InvalidParameterValue", 400),
            ("slots with a gap", lambda: c.create_replication_group(
                **cme_kwargs("bad-gap", shards=2, NodeGroupConfiguration=gap)),
             "InvalidParameterValue", 400),
            ("slots overlapping", lambda: c.create_replication_group(
                **cme_kwargs("bad-overlap", shards=2, NodeGroupConfiguration=overlap)),
             "InvalidParameterValue", 400),
            ("slot 16384", lambda: c.create_replication_group(
                **cme_kwargs("bad-beyond", shards=2, NodeGroupConfiguration=beyond)),
             "InvalidParameterValue", 400),
            # AWS: "Redis with cluster mode enabled cannot be created with auto failover turned off."
            ("cluster mode without automatic failover", lambda: c.create_replication_group(
                **cme_kwargs("bad-noaf", AutomaticFailoverEnabled=False)),
             "InvalidParameterValue", 400),
            # AWS: "When using automatic failover, there must be at least 2 cache clusters in the
            # replication group."
            ("automatic failover with 1 cluster", lambda: c.create_replication_group(
                **cmd_kwargs("bad-af1", n=1, AutomaticFailoverEnabled=True)),
             "InvalidParameterCombination", 400),
            ("Multi-AZ without automatic failover", lambda: c.create_replication_group(
                **cmd_kwargs("bad-maz", n=2, AutomaticFailoverEnabled=False, MultiAZEnabled=True)),
             "InvalidParameterCombination", 400),
            ("more nodes than the hosts' port ranges", lambda: c.create_replication_group(
                **cme_kwargs("too-big", shards=10, replicas=5)),
             "InsufficientCacheClusterCapacity", 400),
            ("create without description", lambda: loose.create_replication_group(
                ReplicationGroupId="no-desc", NumCacheClusters=1),
             "MissingParameter", 400),
            ("create without id", lambda: loose.create_replication_group(
                ReplicationGroupDescription="no id", NumCacheClusters=1),
             "MissingParameter", 400),
            ("delete without id", lambda: loose.delete_replication_group(),
             "MissingParameter", 400),
        ]
        for bad in ("Bad_ID", "a--b", "1abc", "abc-", "a" * 41):
            cases += [
                (f"create id {bad!r}", lambda b=bad: c.create_replication_group(**cmd_kwargs(b, n=1)),
                 "InvalidParameterValue", 400),
                (f"describe id {bad!r}",
                 lambda b=bad: c.describe_replication_groups(ReplicationGroupId=b),
                 "InvalidParameterValue", 400),
                (f"delete id {bad!r}",
                 lambda b=bad: c.delete_replication_group(ReplicationGroupId=b),
                 "InvalidParameterValue", 400),
            ]
        wrong_secret = fx.client(secret="not-the-secret")
        unknown_key = fx.client(access_key="AKIDUNKNOWNKEY000000")
        cases += [
            ("wrong secret (describe)", lambda: wrong_secret.describe_replication_groups(),
             "SignatureDoesNotMatch", 403),
            ("wrong secret (create)",
             lambda: wrong_secret.create_replication_group(**cmd_kwargs("sig-bad", n=1)),
             "SignatureDoesNotMatch", 403),
            ("wrong secret (delete)",
             lambda: wrong_secret.delete_replication_group(ReplicationGroupId=CMD),
             "SignatureDoesNotMatch", 403),
            ("unknown key (create)",
             lambda: unknown_key.create_replication_group(**cmd_kwargs("key-bad", n=1)),
             "InvalidClientTokenId", 403),
            ("unknown key (delete)",
             lambda: unknown_key.delete_replication_group(ReplicationGroupId=CMD),
             "InvalidClientTokenId", 403),
        ]
        failures = []
        for name, call, code, status in cases:
            try:
                call()
                got = ("<success>", 200)
            except ClientError as e:
                got = fx.error_code(e)
            if got != (code, status):
                failures.append(f"{name}: got {got}, want {(code, status)}")
            after = snapshot()
            if after != before:
                failures.append(f"{name}: state changed: "
                                f"{[g['ReplicationGroupId'] + '/' + g['Status'] for g in after]}")
                before = after
        for params, code in ((dict(Action="DescribeNothing", Version="2015-02-02"), "InvalidAction"),
                             (dict(Action="CreateReplicationGroup", Version="2015-02-02",
                                   ReplicationGroupId="raw-nodesc", NumCacheClusters="1"),
                              "MissingParameter")):
            status, got, body = fx.raw_call(params)
            if (got, status) != (code, 400):
                failures.append(f"raw {params['Action']}: got {(got, status)}, want {(code, 400)}")
        if snapshot() != before:
            failures.append("raw requests changed the state")
        self.assertEqual(failures, [], "\n".join(failures))
        print(f"{len(cases) + 2} rejections checked", flush=True)

    def test_07_delete_while_creating(self):
        c = fx.client()
        gid = "boto-busy"
        rg = c.create_replication_group(**cme_kwargs(gid, shards=3, replicas=2))["ReplicationGroup"]
        self.assertEqual(rg["Status"], "creating")
        with self.assertRaises(ClientError) as cm:
            c.delete_replication_group(ReplicationGroupId=gid)
        self.assertEqual(fx.error_code(cm.exception), ("InvalidReplicationGroupState", 400))
        self.assertIn(fx.describe(gid)[0]["Status"], ("creating", "available"))
        g = wait_available(gid)
        self.assertEqual(len(g["MemberClusters"]), 9)
        cfg = g["ConfigurationEndpoint"]
        ok, out = fx.cluster_check(cfg["Address"], cfg["Port"])
        self.assertTrue(ok, out)

    def test_08_delete_all(self):
        c = fx.client()
        groups = fx.describe()
        members = {g["ReplicationGroupId"]: g["MemberClusters"] for g in groups}
        pids = {gid: [p["pid"] for p in fx.group_processes(m)] for gid, m in members.items()}
        for gid, m in members.items():
            self.assertEqual(len(pids[gid]), len(m), f"{gid}: processes {pids[gid]} for {m}")
        for gid in members:
            rg = c.delete_replication_group(ReplicationGroupId=gid.upper())["ReplicationGroup"]
            self.assertEqual((rg["ReplicationGroupId"], rg["Status"]), (gid, "deleting"))
        with self.assertRaises(ClientError) as cm:  # a second delete of a deleting group
            c.delete_replication_group(ReplicationGroupId=CME)
        self.assertIn(fx.error_code(cm.exception),
                      [("InvalidReplicationGroupState", 400), ("ReplicationGroupNotFoundFault", 404)])
        for gid in members:
            seen = []
            fx.wait_gone(gid, seen=seen)
            self.assertTrue(set(seen) <= {"deleting"}, f"{gid}: {seen}")
            c.get_waiter("replication_group_deleted").wait(
                ReplicationGroupId=gid, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
            fx.assert_group_gone(self, members[gid], pids[gid])
        self.assertEqual(fx.describe(), [])
        self.assertEqual(fx.all_lab_redis(), [])


if __name__ == "__main__":
    fx.run(deadline_s=600)
