#!/usr/bin/python3
"""Online resharding (ModifyReplicationGroupShardConfiguration) on real redis-servers while a
cluster-aware client (redis-py RedisCluster) keeps writing and incrementing keys:

  01  3 -> 5 shards on a group holding 20,000 keys, `cachefleet watch` following it
  02  5 -> 3 with NodeGroupsToRemove (two shards that are not the newest)
  03  2 -> 3 with ReshardingConfiguration (NodeGroupId + PreferredAvailabilityZones)
  04  3 -> 2 with NodeGroupsToRetain

After each: `available`, PendingModifiedValues empty, ProgressPercentage sampled rising
monotonically while `modifying`, every key holds its last acknowledged value and the data set is
intact, the client raised no error, `redis-cli --cluster check` is clean, every node group's
Slots is what its primary really owns (an even share), and removed shards are gone (processes,
data dirs, and from every remaining node's CLUSTER NODES)."""
import time
import unittest

import fixture as fx
import reshard_common as rc

from cftools import dataset
from cftools.workload import Workload

GID, GID2 = "rs-main", "rs-azs"
KEYS = 20000
state: dict = {}


def setUpModule():
    # 3 agents x 24 node ports (4 of each idle in the warm pool): rs-main peaks at 10 nodes,
    # rs-azs at 6.
    fx.start_lab("reshard", ports_per_agent=24)


def tearDownModule():
    fx.stop_lab()


class Reshard(unittest.TestCase):
    def run_reshard(self, gid, count, **kw):
        """MRGSC under load with a sampler; returns (group after, sampler, workload, seconds)."""
        g0 = fx.describe(gid)[0]
        w = Workload(*rc.config_endpoint(g0), keys=2000, rate=400, prefix=f"w:{count}:")
        w.start()
        time.sleep(0.5)
        s = rc.Sampler(gid, period_s=0.05)
        t0 = time.monotonic()
        rg = rc.mrgsc(gid, count, **kw)
        s.start()
        self.assertEqual(rg["Status"], "modifying")
        try:
            g = fx.wait_status(gid, "available", timeout_s=240, poll_s=0.1)
        finally:
            took = time.monotonic() - t0
            time.sleep(0.3)
            s.stop()
            w.stop()
        print(f"{gid}: {len(g0['NodeGroups'])} -> {count} shards in {took:.2f} s; progress "
              f"samples {s.progress_values()[:40]}", flush=True)
        return g, s, w, took

    def test_01_grow_3_to_5(self):
        g = rc.create_cme(GID, 3, 1)
        t = dataset.load_keys(*rc.config_endpoint(g), KEYS)
        print(f"loaded {KEYS} keys in {t:.2f} s", flush=True)
        watcher = rc.watch_cli(GID, "--timeout", "240", "--kind", "reshard")
        try:
            g, s, w, _ = self.run_reshard(GID, 5)
            out, err = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
        print(f"cachefleet watch (rc {watcher.returncode}):\n{out}{err}", flush=True)
        g = rc.assert_reshard_done(self, GID, 5, 1, ["0001", "0002", "0003", "0004", "0005"])
        state["grown"] = True  # test_02 can go on from here whatever fails below
        rc.assert_data(self, g, KEYS)
        rc.assert_progress_monotonic(self, s)
        grown = [ids for _, st, _, ids in s.samples if st == "modifying" and len(ids) == 5]
        self.assertTrue(grown, f"the new node groups never showed while modifying: "
                               f"{[ids for *_, ids in s.samples][:5]}")
        rc.assert_no_errors(self, w, GID)
        self.assertEqual(watcher.returncode, 0, f"cachefleet watch failed:\n{out}{err}")
        self.assertIn("succeeded", out)
        self.assertIn("100.0%", out)
        ops = rc.reshard_ops(GID)
        self.assertTrue(ops, "no reshard operation listed")
        last = max(ops, key=lambda o: int(o["id"]))
        self.assertEqual(last["state"], "succeeded", last)
        self.assertEqual(float(last["progress_percentage"]), 100.0, last)
        self.assertEqual(last["slots_done"], last["slots_planned"], last)
        # 3 -> 5: 5 x 3276/3277 slots; the new shards take their share only.
        self.assertEqual(last["slots_planned"], 16384 - 3 * 3277, last)
        self.assertGreater(last["keys_moved"], 0, last)

    def test_02_shrink_5_to_3_remove(self):
        self.assertTrue(state.get("grown"), "test_01 did not grow the group")
        g0 = fx.describe(GID)[0]
        removed = ["0002", "0004"]
        removed_members = [m["CacheClusterId"] for ng in g0["NodeGroups"]
                           if ng["NodeGroupId"] in removed for m in ng["NodeGroupMembers"]]
        removed_ids = list(rc.cluster_ids_of_members(removed_members).values())
        pids = [p["pid"] for p in fx.group_processes(removed_members)]
        self.assertEqual(len(pids), 4)
        g, s, w, _ = self.run_reshard(GID, 3, NodeGroupsToRemove=removed)
        g = rc.assert_reshard_done(self, GID, 3, 1, ["0001", "0003", "0005"])
        rc.assert_removed(self, GID, removed_members, removed_ids, pids)
        rc.assert_data(self, g, KEYS)
        rc.assert_progress_monotonic(self, s)
        rc.assert_no_errors(self, w, GID)

    def test_03_grow_with_resharding_configuration(self):
        g = rc.create_cme(GID2, 2, 1)
        dataset.load_keys(*rc.config_endpoint(g), 5000, prefix="z:")
        g, s, w, _ = self.run_reshard(GID2, 3, ReshardingConfiguration=[
            {"NodeGroupId": "0007", "PreferredAvailabilityZones": ["lab-c", "lab-a"]}])
        g = rc.assert_reshard_done(self, GID2, 3, 1, ["0001", "0002", "0007"])
        state["azs"] = True
        ng = [n for n in g["NodeGroups"] if n["NodeGroupId"] == "0007"][0]
        mids = sorted(m["CacheClusterId"] for m in ng["NodeGroupMembers"])
        self.assertEqual(mids, [f"{GID2}-0007-001", f"{GID2}-0007-002"])
        azs = {m["CacheClusterId"]: m["PreferredAvailabilityZone"]
               for m in ng["NodeGroupMembers"]}
        self.assertEqual(azs, {f"{GID2}-0007-001": "lab-c", f"{GID2}-0007-002": "lab-a"})
        # Where the processes really run, and which one is the primary.
        ports = rc.member_ports(mids)
        hosts = {m: fx.lab().host_of_port(p) for m, p in ports.items()}
        self.assertEqual(hosts, {f"{GID2}-0007-001": "host-c", f"{GID2}-0007-002": "host-a"})
        roles = {m: "master" in [n for n in dataset.cluster_nodes_raw("127.0.0.1", p)
                                 if "myself" in n["flags"]][0]["flags"]
                 for m, p in ports.items()}
        self.assertEqual(roles, {f"{GID2}-0007-001": True, f"{GID2}-0007-002": False})
        rc.assert_data(self, g, 5000, prefix="z:")
        rc.assert_progress_monotonic(self, s, want_intermediate=False)
        rc.assert_no_errors(self, w, GID2)

    def test_04_shrink_with_retain(self):
        self.assertTrue(state.get("azs"), "test_03 did not grow the group")
        g0 = fx.describe(GID2)[0]
        removed_members = [m["CacheClusterId"] for ng in g0["NodeGroups"]
                           if ng["NodeGroupId"] == "0002" for m in ng["NodeGroupMembers"]]
        removed_ids = list(rc.cluster_ids_of_members(removed_members).values())
        pids = [p["pid"] for p in fx.group_processes(removed_members)]
        g, s, w, _ = self.run_reshard(GID2, 2, NodeGroupsToRetain=["0001", "0007"])
        g = rc.assert_reshard_done(self, GID2, 2, 1, ["0001", "0007"])
        rc.assert_removed(self, GID2, removed_members, removed_ids, pids)
        rc.assert_data(self, g, 5000, prefix="z:")
        rc.assert_progress_monotonic(self, s, want_intermediate=False)
        rc.assert_no_errors(self, w, GID2)

    def test_05_redis_count(self):
        # Exactly the groups' nodes run (nothing leaked by launches, moves or removals).
        total = sum(len(g["MemberClusters"]) for g in fx.describe())
        self.assertEqual(len(fx.all_lab_redis()), total)


if __name__ == "__main__":
    fx.run(deadline_s=540)
