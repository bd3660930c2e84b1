#!/usr/bin/python3
"""Rolling restart against a real lab (docs/orchestrator.md, "Rolling restart"): a static
parameter (`databases`) of a user parameter group is applied to a cluster-mode-enabled 2x1
group by a rolling restart (replicas first, a coordinated switch-over, then the old primary)
while a redis-py RedisCluster client keeps writing: every node restarted (INFO run_id changed)
and running the new value (CONFIG GET), the client saw no error, every key holds its last
acknowledged value, ParameterApplyStatus in-sync. Then RebootCacheCluster through AWS CLI v2,
with its faults, and a kill -9 of the orchestrator in the middle of a rolling restart (resumed,
no node restarted twice)."""
import time
import unittest

from botocore.exceptions import ClientError

import fixture as fx
import reshard_common as rc

from cftools.workload import Workload

GID, PG = "roll-cme", "roll-pg"


def setUpModule():
    fx.start_lab("rolling")
    c = fx.client()
    c.create_cache_parameter_group(CacheParameterGroupName=PG,
                                   CacheParameterGroupFamily="redis7", Description="rolling")
    c.modify_cache_parameter_group(CacheParameterGroupName=PG, ParameterNameValues=[
        {"ParameterName": "cluster-enabled", "ParameterValue": "yes"}])
    rc.create_cme(GID, 2, 1, CacheParameterGroupName=PG)


def tearDownModule():
    fx.stop_lab()


def nodes_of(gid):
    ccs = fx.client().describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    return {cc["CacheClusterId"]: cc for cc in ccs if cc.get("ReplicationGroupId") == gid}


def endpoint(cc):
    ep = cc["CacheNodes"][0]["Endpoint"]
    return ep["Address"], ep["Port"]


def info(cc, section):
    out = {}
    for line in fx.redis_cli(*endpoint(cc), "INFO", section).stdout.splitlines():
        k, _, v = line.strip().partition(":")
        if v:
            out[k] = v
    return out


def config_get(cc, name):
    lines = fx.redis_cli(*endpoint(cc), "CONFIG", "GET", name).stdout.splitlines()
    return lines[1] if len(lines) > 1 else None


def roles(gid):
    """Each member's role as Redis itself reports it (INFO replication): primary / replica."""
    return {cid: "primary" if info(cc, "replication").get("role") == "master" else "replica"
            for cid, cc in nodes_of(gid).items()}


class RollingRestart(unittest.TestCase):
    def test_01_static_parameter_by_rolling_restart_with_a_writing_client(self):
        before = nodes_of(GID)
        self.assertEqual(len(before), 4)
        run_ids = {cid: info(cc, "server")["run_id"] for cid, cc in before.items()}
        roles_before = roles(GID)
        for cc in before.values():
            self.assertEqual(config_get(cc, "databases"), "16")
        g = fx.describe(GID)[0]
        w = Workload(*rc.config_endpoint(g), keys=500, rate=300)
        w.start()
        seen = []
        try:
            time.sleep(0.5)
            t0 = time.monotonic()
            fx.client().modify_cache_parameter_group(CacheParameterGroupName=PG,
                                                     ParameterNameValues=[
                {"ParameterName": "databases", "ParameterValue": "32"}])
            # The applier (every second, or poked) starts the rolling restart.
            deadline = time.monotonic() + 10
            while fx.describe(GID)[0]["Status"] != "modifying" and time.monotonic() < deadline:
                time.sleep(0.05)
            fx.wait_status(GID, timeout_s=60, seen=seen)
            took = time.monotonic() - t0
            time.sleep(0.5)
        finally:
            w.stop()
        print(f"  rolling restart of 4 nodes in {took:.1f} s; statuses {seen}", flush=True)
        # (redis-py follows the switch-overs' MOVED replies and, for a connection to an old
        # primary that restarts, reconnects and retries by itself: neither reaches the caller.)
        self.assertIn("modifying", seen)
        rc.assert_no_errors(self, w, GID)
        after = nodes_of(GID)
        for cid, cc in after.items():
            self.assertEqual(config_get(cc, "databases"), "32", cid)
            self.assertNotEqual(info(cc, "server")["run_id"], run_ids[cid], f"{cid} not restarted")
            self.assertEqual(cc["CacheParameterGroup"]["ParameterApplyStatus"], "in-sync", cid)
            self.assertEqual(cc["CacheParameterGroup"]["CacheNodeIdsToReboot"], [], cid)
            self.assertEqual(cc["CacheClusterStatus"], "available", cid)
        # Every node group switched over: the old replicas are the primaries now.
        roles_after = roles(GID)
        for cid, role in roles_before.items():
            self.assertEqual(roles_after[cid], "replica" if role == "primary" else "primary", cid)
        host, port = rc.config_endpoint(fx.describe(GID)[0])
        ok, out = fx.cluster_check(host, port)
        self.assertTrue(ok, out)
        ev = [e["Message"] for e in fx.client().describe_events(
            SourceIdentifier=GID, SourceType="replication-group", Duration=10)["Events"]]
        self.assertTrue(any("Rolling restart of replication group" in m for m in ev), ev)
        self.assertTrue(any("Finished rolling restart" in m for m in ev), ev)
        self.assertEqual(sum("Failover from primary node" in m for m in ev), 2, ev)

    def test_02_reboot_cache_cluster_via_cli(self):
        before = nodes_of(GID)
        replica = next(cid for cid, r in roles(GID).items() if r == "replica")
        run_id = info(before[replica], "server")["run_id"]
        _, out, _ = fx.aws("reboot-cache-cluster", "--cache-cluster-id", replica,
                           "--cache-node-ids-to-reboot", "0001")
        self.assertEqual(out["CacheCluster"]["CacheClusterId"], replica)
        self.assertEqual(out["CacheCluster"]["CacheClusterStatus"], "rebooting cluster nodes")
        self.assertEqual(fx.describe(GID)[0]["Status"], "modifying")
        fx.wait_status(GID, timeout_s=30)
        cc = nodes_of(GID)[replica]
        self.assertEqual(cc["CacheClusterStatus"], "available")
        self.assertNotEqual(info(cc, "server")["run_id"], run_id)
        rep = info(cc, "replication")
        self.assertEqual((rep.get("role"), rep.get("master_link_status")), ("slave", "up"))
        ev = [e["Message"] for e in fx.client().describe_events(
            SourceIdentifier=replica, SourceType="cache-cluster", Duration=10)["Events"]]
        self.assertIn("Cache node 0001 restarted", ev)
        # Faults, nothing started.
        for args, code in [
                (("--cache-cluster-id", replica, "--cache-node-ids-to-reboot", "0002"),
                 "InvalidParameterValue"),
                (("--cache-cluster-id", "roll-nope-0001-001", "--cache-node-ids-to-reboot",
                  "0001"), "CacheClusterNotFound")]:
            rc_, _, err = fx.aws("reboot-cache-cluster", *args, expect_ok=False)
            self.assertNotEqual(rc_, 0, args)
            self.assertIn(code, err, args)
        self.assertEqual(fx.describe(GID)[0]["Status"], "available")
        with self.assertRaises(ClientError) as cm:
            fx.client().reboot_cache_cluster(CacheClusterId=replica, CacheNodeIdsToReboot=[])
        self.assertEqual(fx.error_code(cm.exception)[1], 400)

    def test_03_kill_9_of_the_orchestrator_mid_way_restarts_no_node_twice(self):
        def restarts():
            """Per node: how many times its agent restarted it with a new spec."""
            out = {}
            for name in fx.lab().components:
                if not name.startswith("agent-"):
                    continue
                for line in fx.lab().log_path(name).read_text(errors="replace").splitlines():
                    if "restarting with the new spec (ReconfigureNode)" in line:
                        cid = line.split("[node] [", 1)[-1].split("]", 1)[0]
                        out[cid] = out.get(cid, 0) + 1
            return out
        before = restarts()
        g = fx.describe(GID)[0]
        w = Workload(*rc.config_endpoint(g), keys=500, rate=200, prefix="k9:")
        w.start()
        try:
            fx.client().modify_cache_parameter_group(CacheParameterGroupName=PG,
                                                     ParameterNameValues=[
                {"ParameterName": "databases", "ParameterValue": "8"}])
            deadline = time.monotonic() + 10
            while fx.describe(GID)[0]["Status"] != "modifying" and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.5)  # a node or two restarted, the rest to come
            fx.lab().kill_orchestrator()
            fx.lab().restart_orchestrator()
            fx.lab().wait_healthy(timeout_s=30)
            fx.wait_status(GID, timeout_s=60)
            time.sleep(0.5)
        finally:
            w.stop()
        rc.assert_no_errors(self, w, GID)
        after = restarts()
        delta = {cid: after.get(cid, 0) - before.get(cid, 0) for cid in nodes_of(GID)}
        print(f"  restarts per node across the kill -9: {delta}", flush=True)
        self.assertEqual(set(delta.values()), {1}, delta)
        log = fx.lab().log_path("orchestrator").read_text(errors="replace")
        self.assertRegex(log, r"rolling-restart#\d+\] resuming in state restart-nodes",
                         "the kill did not land in the middle of the rolling restart")
        for cid, cc in nodes_of(GID).items():
            self.assertEqual(config_get(cc, "databases"), "8", cid)
            self.assertEqual(cc["CacheParameterGroup"]["ParameterApplyStatus"], "in-sync", cid)


if __name__ == "__main__":
    fx.run(deadline_s=150)
