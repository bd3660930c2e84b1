#!/usr/bin/python3
"""AWS CLI v2 (/usr/bin/aws) against a private lab: create cluster mode enabled and disabled
groups, check placement, slots and data with redis-cli, paginate, delete and check that nothing
of a deleted group is left behind."""
import re
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import fixture as fx

CME, CMD = "cli-cme", "cli-cmd"
PAGE_GROUPS = [f"cli-page-{i:02d}" for i in range(22)]
state = {}


def setUpModule():
    fx.start_lab("cli", ports_per_agent=40)


def tearDownModule():
    fx.stop_lab()


def cli_describe(gid):
    rc, out, err = fx.aws("describe-replication-groups", "--replication-group-id", gid,
                          expect_ok=False)
    return rc, out, err


def cli_wait_available(tc, gid, timeout_s=120):
    """Polls with the CLI itself (each call takes ~0.5 s; the CLI waiter polls every 15 s)."""
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        rc, out, err = cli_describe(gid)
        tc.assertEqual(rc, 0, f"describe {gid} failed: {err}")
        g = out["ReplicationGroups"][0]
        if not seen or seen[-1] != g["Status"]:
            seen.append(g["Status"])
        if g["Status"] == "available":
            return g
        tc.assertEqual(g["Status"], "creating", f"{gid}: statuses {seen}")
        time.sleep(0.2)
    tc.fail(f"{gid} not available after {timeout_s}s (statuses {seen})")


class Cli(unittest.TestCase):
    def test_01_create_cme_and_cmd(self):
        rc, out, err = fx.aws(
            "create-replication-group", "--replication-group-id", CME,
            "--replication-group-description", "cli cluster mode on", "--engine", "redis",
            "--cache-node-type", "cache.t3.micro",
            "--cache-parameter-group-name", "default.redis7.cluster.on",
            "--num-node-groups", "3", "--replicas-per-node-group", "1",
            "--automatic-failover-enabled")
        rg = out["ReplicationGroup"]
        self.assertEqual(rg["ReplicationGroupId"], CME)
        self.assertEqual(rg["Status"], "creating")
        state["cme_created"] = rg
        rc, out, err = fx.aws(
            "create-replication-group", "--replication-group-id", CMD,
            "--replication-group-description", "cli cluster mode off", "--engine", "redis",
            "--cache-node-type", "cache.t3.micro", "--num-cache-clusters", "3",
            "--preferred-cache-cluster-a-zs", "lab-a", "lab-b", "lab-c")
        self.assertEqual(out["ReplicationGroup"]["Status"], "creating")
        self.assertEqual(out["ReplicationGroup"]["ReplicationGroupId"], CMD)

        # The same id again: the CLI prints the fault code and exits 254.
        rc, out, err = fx.aws(
            "create-replication-group", "--replication-group-id", CME,
            "--replication-group-description", "dup", "--num-cache-clusters", "1",
            expect_ok=False)
        self.assertEqual(rc, 254, err)
        self.assertIn("(ReplicationGroupAlreadyExists)", err)

    def test_02_cme_available_and_healthy(self):
        g = cli_wait_available(self, CME)
        self.assertIs(g["ClusterEnabled"], True)
        self.assertEqual(len(g["NodeGroups"]), 3)
        want_members = sorted(f"{CME}-{s:04d}-{n:03d}" for s in (1, 2, 3) for n in (1, 2))
        self.assertEqual(sorted(g["MemberClusters"]), want_members)
        fx.assert_slots_cover_exactly_once(self, g)
        for ng in g["NodeGroups"]:
            members = ng["NodeGroupMembers"]
            self.assertEqual(len(members), 2, ng)
            azs = [m["PreferredAvailabilityZone"] for m in members]
            self.assertEqual(len(set(azs)), 2, f"shard {ng['NodeGroupId']} members share an AZ: {azs}")
            self.assertTrue(set(azs) <= {"lab-a", "lab-b", "lab-c"}, azs)
        cfg = g["ConfigurationEndpoint"]
        host, port = cfg["Address"], cfg["Port"]
        state["cme_cfg"] = (host, port)

        ok, out = fx.cluster_check(host, port)
        self.assertTrue(ok, f"redis-cli --cluster check not clean:\n{out}")
        masters, replicas = fx.primaries_and_replicas(host, port)
        self.assertEqual((len(masters), len(replicas)), (3, 3), out)
        by_id = {m["id"]: m for m in masters}
        for r in replicas:
            m = by_id.get(r["master"])
            self.assertIsNotNone(m, f"replica {r['port']} follows unknown master {r['master']}")
            hr, hm = fx.lab().host_of_port(r["port"]), fx.lab().host_of_port(m["port"])
            self.assertIsNotNone(hr, f"port {r['port']} outside every agent's range")
            self.assertNotEqual(hr, hm, f"replica {r['port']} on the same agent as its primary")
        self.assertEqual(sorted(r["master"] for r in replicas), sorted(by_id))
        for n in masters + replicas:
            info = fx.redis_cli(n["host"], n["port"], "CLUSTER", "INFO").stdout
            self.assertIn("cluster_state:ok", info, f"{n['port']}: {info}")
        # Every member's AZ is the AZ of the agent that runs it.
        recs = fx.member_records(want_members)
        self.assertEqual(sorted(recs), want_members, "node.json missing for some members")
        for ng in g["NodeGroups"]:
            for m in ng["NodeGroupMembers"]:
                self.assertEqual(fx.lab().az_of_host(recs[m["CacheClusterId"]]["host_id"]),
                                 m["PreferredAvailabilityZone"], m)
        procs = fx.group_processes(want_members)
        self.assertEqual(len(procs), 6, procs)

        res = fx.write_read_keys(host, port, 1000, prefix="cli:key:")
        self.assertEqual(res["written"], 1000, res)
        self.assertEqual(res["read_ok"], 1000, res)
        counts = [int(fx.redis_cli(m["host"], m["port"], "DBSIZE").stdout) for m in masters]
        self.assertEqual(sum(counts), 1000)
        self.assertTrue(all(c > 0 for c in counts), f"keys not spread over shards: {counts}")

    def test_03_cmd_available_primary_and_replicas(self):
        g = cli_wait_available(self, CMD)
        self.assertIs(g["ClusterEnabled"], False)
        self.assertEqual(sorted(g["MemberClusters"]), [f"{CMD}-00{i}" for i in (1, 2, 3)])
        self.assertEqual(len(g["NodeGroups"]), 1)
        ng = g["NodeGroups"][0]
        self.assertEqual(ng["NodeGroupId"], "0001")
        members = ng["NodeGroupMembers"]
        roles = sorted(m["CurrentRole"] for m in members)
        self.assertEqual(roles, ["primary", "replica", "replica"])
        self.assertEqual(sorted(m["PreferredAvailabilityZone"] for m in members),
                         ["lab-a", "lab-b", "lab-c"])
        primary = [m for m in members if m["CurrentRole"] == "primary"][0]
        self.assertEqual(primary["PreferredAvailabilityZone"], "lab-a",
                         "PreferredCacheClusterAZs lists the primary's AZ first")
        for m in members:
            ep = m["ReadEndpoint"]
            self.assertEqual(fx.lab().az_of_host(fx.lab().host_of_port(ep["Port"])),
                             m["PreferredAvailabilityZone"], m)
        pe = ng["PrimaryEndpoint"]
        self.assertEqual((pe["Address"], pe["Port"]),
                         (primary["ReadEndpoint"]["Address"], primary["ReadEndpoint"]["Port"]))
        self.assertIn("ReaderEndpoint", ng)
        self.assertIn(ng["ReaderEndpoint"]["Port"], [m["ReadEndpoint"]["Port"] for m in members])

        r = fx.redis_cli(pe["Address"], pe["Port"], "SET", "cli:cmd:k", "hello")
        self.assertEqual(r.stdout.strip(), "OK", r.stdout + r.stderr)
        for m in members:
            if m["CurrentRole"] != "replica":
                continue
            ep = m["ReadEndpoint"]
            deadline = time.monotonic() + 10
            val = None
            while time.monotonic() < deadline:
                val = fx.redis_cli(ep["Address"], ep["Port"], "GET", "cli:cmd:k").stdout.strip()
                if val == "hello":
                    break
                time.sleep(0.1)
            self.assertEqual(val, "hello", f"replica {m['CacheClusterId']} lacks the write")
            w = fx.redis_cli(ep["Address"], ep["Port"], "SET", "cli:cmd:x", "1").stdout
            self.assertIn("READONLY", w, f"replica {m['CacheClusterId']} accepted a write")

    def test_04_pagination(self):
        c = fx.client()
        for gid in PAGE_GROUPS:
            c.create_replication_group(ReplicationGroupId=gid,
                                       ReplicationGroupDescription="pagination",
                                       NumCacheClusters=1, CacheNodeType="cache.t3.micro")
        for gid in PAGE_GROUPS:
            fx.wait_status(gid, timeout_s=180)
        every = sorted(g["ReplicationGroupId"] for g in fx.describe())
        self.assertEqual(len(every), len(PAGE_GROUPS) + 2, every)

        rc, p1, err = fx.aws("describe-replication-groups", "--no-paginate", "--max-records", "20")
        self.assertEqual(len(p1["ReplicationGroups"]), 20)
        self.assertTrue(p1.get("Marker"), "first page of 20 has no Marker")
        rc, p2, err = fx.aws("describe-replication-groups", "--no-paginate", "--max-records", "20",
                             "--marker", p1["Marker"])
        self.assertEqual(len(p2["ReplicationGroups"]), len(every) - 20)
        self.assertFalse(p2.get("Marker"), f"last page has a Marker: {p2.get('Marker')}")
        ids = [g["ReplicationGroupId"] for g in p1["ReplicationGroups"] + p2["ReplicationGroups"]]
        self.assertEqual(sorted(ids), every, "pages overlap or miss groups")

        rc, allp, err = fx.aws("describe-replication-groups", "--page-size", "20")
        ids = [g["ReplicationGroupId"] for g in allp["ReplicationGroups"]]
        self.assertEqual(sorted(ids), every, "CLI auto-pagination lost or repeated groups")
        rc, alld, err = fx.aws("describe-replication-groups")
        self.assertEqual(sorted(g["ReplicationGroupId"] for g in alld["ReplicationGroups"]), every)

        # Delete them all at once; every one must go away with its process and data.
        recs = fx.member_records([f"{g}-001" for g in PAGE_GROUPS])
        self.assertEqual(len(recs), len(PAGE_GROUPS))
        pids = [p["pid"] for p in fx.group_processes([f"{g}-001" for g in PAGE_GROUPS])]
        self.assertEqual(len(pids), len(PAGE_GROUPS))
        for gid in PAGE_GROUPS:
            self.assertEqual(c.delete_replication_group(ReplicationGroupId=gid)
                             ["ReplicationGroup"]["Status"], "deleting")
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda g: fx.wait_gone(g, timeout_s=120), PAGE_GROUPS))
        fx.assert_group_gone(self, [f"{g}-001" for g in PAGE_GROUPS], pids)

    def test_05_delete(self):
        members = {}
        pids = {}
        for gid in (CME, CMD):
            rc, out, err = cli_describe(gid)
            self.assertEqual(rc, 0, err)
            members[gid] = out["ReplicationGroups"][0]["MemberClusters"]
            pids[gid] = [p["pid"] for p in fx.group_processes(members[gid])]
            self.assertEqual(len(pids[gid]), len(members[gid]))
        for gid in (CME, CMD):
            rc, out, err = fx.aws("delete-replication-group", "--replication-group-id", gid)
            self.assertEqual(out["ReplicationGroup"]["Status"], "deleting")
        for gid in (CME, CMD):
            deadline = time.monotonic() + 120
            while True:
                rc, out, err = cli_describe(gid)
                if rc != 0:
                    self.assertEqual(rc, 254, err)
                    self.assertIn("(ReplicationGroupNotFoundFault)", err)
                    break
                self.assertEqual(out["ReplicationGroups"][0]["Status"], "deleting")
                self.assertLess(time.monotonic(), deadline, f"{gid} never went away")
                time.sleep(0.2)
            t0 = time.monotonic()
            rc, out, err = fx.aws("wait", "replication-group-deleted", "--replication-group-id",
                                  gid, expect_ok=False, timeout_s=60)
            self.assertEqual(rc, 0, f"waiter failed: {err}")
            self.assertLess(time.monotonic() - t0, 14, "deleted waiter did not succeed on its first poll")
            fx.assert_group_gone(self, members[gid], pids[gid])
        self.assertEqual(fx.all_lab_redis(), [], "redis-servers left after deleting every group")
        rc, out, err = fx.aws("describe-replication-groups")
        self.assertEqual(out["ReplicationGroups"], [])


if __name__ == "__main__":
    fx.run(deadline_s=600)
