#!/usr/bin/python3
"""kill -9 in the middle of a reshard of a group holding 200,000 keys, while a cluster-aware
client keeps writing:

  01  3 -> 5: kill -9 the ORCHESTRATOR when ProgressPercentage is between 10 and 90 (first
      sample at or above a random point in 10..60), restart it
      with the same config and store; `cachefleet watch` rides the restart out
  02  5 -> 3 (NodeGroupsToRemove 0001, 0004): kill -9 the SOURCE agent (the agent hosting
      0001's primary; the agent process only, its redis-servers keep running) in the same
      window, restart it with the same config

Each time the operation completes: `available`, no key lost (data set and the client's last
acknowledged values), no client error, `redis-cli --cluster check` clean, no open slot, every
node group's Slots what its primary owns, ProgressPercentage never went down across the
restart, and (02) the removed shards are gone."""
import os
import random
import time
import unittest

import fixture as fx
import reshard_common as rc

from cftools import dataset
from cftools.workload import Workload

GID = "rs-crash"
KEYS = int(os.environ.get("CACHEFLEET_E2E_CRASH_KEYS", "200000"))
# Kill once ProgressPercentage reaches KILL_AT (random in 10..60 unless given; printed), and
# never above 90.
KILL_AT = float(os.environ.get("CACHEFLEET_E2E_KILL_AT", "0")) or round(random.uniform(10, 60), 1)
WINDOW = (10.0, 90.0)
state: dict = {}


def setUpModule():
    print(f"killing at >= {KILL_AT} % (CACHEFLEET_E2E_KILL_AT to choose)", flush=True)
    fx.start_lab("reshard-crash", ports_per_agent=20)


def tearDownModule():
    fx.stop_lab()


def primary_host(g: dict, node_group_id: str) -> str:
    ng = [n for n in g["NodeGroups"] if n["NodeGroupId"] == node_group_id][0]
    for nid, port in rc.member_ports([m["CacheClusterId"] for m in ng["NodeGroupMembers"]]).items():
        me = [n for n in dataset.cluster_nodes_raw("127.0.0.1", port) if "myself" in n["flags"]][0]
        if "master" in me["flags"]:
            return fx.lab().host_of_port(port)
    raise AssertionError(f"no primary found for node group {node_group_id}")


class Crash(unittest.TestCase):
    def crash_reshard(self, count, kill, restart, **kw):
        """MRGSC under load; `kill()` once ProgressPercentage is inside WINDOW, then
        `restart()`; waits for `available`. Returns (progress at the kill, sampler, workload,
        watcher output)."""
        g0 = fx.describe(GID)[0]
        w = Workload(*rc.config_endpoint(g0), keys=2000, rate=300,
                            prefix=f"w:{count}:")
        w.start()
        time.sleep(0.3)
        c = fx.client()
        rc.mrgsc(GID, count, **kw)
        watcher = rc.watch_cli(GID, "--timeout", "300", "--kind", "reshard",
                               "--unreachable-timeout", "120")
        s = rc.Sampler(GID, period_s=0.05)
        s.start()
        killed_at = None
        seen = []
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                g = c.describe_replication_groups(ReplicationGroupId=GID)["ReplicationGroups"][0]
                p = rc.progress_of(g)
                seen.append((g["Status"], p))
                if g["Status"] == "modifying" and p is not None and \
                        max(WINDOW[0], KILL_AT) <= p <= WINDOW[1]:
                    kill()
                    killed_at = p
                    break
                if g["Status"] != "modifying":
                    break
                time.sleep(0.02)
            self.assertIsNotNone(killed_at, f"never saw progress in {WINDOW} (too fast or "
                                            f"stuck?); samples {seen[-60:]}")
            t_kill = time.monotonic()
            restart()
            print(f"killed at {killed_at:.1f} %, restarted in {time.monotonic() - t_kill:.2f} s",
                  flush=True)
            try:
                fx.wait_status(GID, "available", timeout_s=120, poll_s=0.1)
            except AssertionError:
                for o in rc.reshard_ops(GID):
                    o.pop("moves", None) if o.get("state") == "succeeded" else None
                    print(f"operation: {o}", flush=True)
                raise
            print(f"available {time.monotonic() - t_kill:.2f} s after the kill", flush=True)
        finally:
            time.sleep(0.3)
            s.stop()
            w.stop()
            try:
                out, err = watcher.communicate(timeout=30)
            except Exception:  # noqa: BLE001
                watcher.kill()
                out, err = watcher.communicate()
        print(f"cachefleet watch (rc {watcher.returncode}):\n{out[-1500:]}{err[-500:]}",
              flush=True)
        # What Describe showed after the restart never went below the figure at the kill.
        after = [p for _, st, p, _ in s.samples if st == "modifying" and p is not None]
        k = next((i for i, p in enumerate(after) if p >= killed_at), len(after))
        self.assertTrue(all(p >= killed_at for p in after[k:]),
                        f"progress went below {killed_at} after the restart: {after}")
        self.assertEqual(watcher.returncode, 0, f"cachefleet watch:\n{out}{err}")
        return killed_at, s, w

    def test_01_kill_orchestrator_mid_grow(self):
        g = rc.create_cme(GID, 3, 1)
        t = dataset.load_keys(*rc.config_endpoint(g), KEYS)
        print(f"loaded {KEYS} keys in {t:.2f} s", flush=True)

        def restart():
            fx.lab().restart_orchestrator()
            fx.lab().wait_healthy(timeout_s=30)

        _, s, w = self.crash_reshard(5, lambda: fx.lab().kill_orchestrator(), restart)
        g = rc.assert_reshard_done(self, GID, 5, 1, ["0001", "0002", "0003", "0004", "0005"])
        state["grown"] = True  # test_02 can go on from here whatever fails below
        rc.assert_data(self, g, KEYS)
        total = sum(len(x["MemberClusters"]) for x in fx.describe())
        self.assertEqual(len(fx.all_lab_redis()), total, "redis-servers leaked or missing")
        rc.assert_progress_monotonic(self, s)
        rc.assert_no_errors(self, w, GID)
        self.assertEqual(dataset.dbsize_of_masters(*rc.config_endpoint(g)),
                         KEYS + len(w.acked), "keys on the masters")

    def test_02_kill_source_agent_mid_shrink(self):
        self.assertTrue(state.get("grown"), "test_01 did not grow the group")
        g0 = fx.describe(GID)[0]
        removed = ["0001", "0004"]
        removed_members = [m["CacheClusterId"] for ng in g0["NodeGroups"]
                           if ng["NodeGroupId"] in removed for m in ng["NodeGroupMembers"]]
        removed_ids = list(rc.cluster_ids_of_members(removed_members).values())
        pids = [p["pid"] for p in fx.group_processes(removed_members)]
        host = primary_host(g0, "0001")
        agent_pid = fx.lab().recorded_pid(f"agent-{host}")
        redis_before = set(fx.all_lab_redis())
        print(f"source agent: {host} (pid {agent_pid})", flush=True)

        def kill():
            fx.lab().kill_agent(host)
            # Its redis-servers keep running.
            alive = set(fx.all_lab_redis())
            self.assertEqual(alive, redis_before, "redis-servers died with the agent")

        def restart():
            time.sleep(1.5)  # let the orchestrator see the broken stream and retry
            fx.lab().restart_agent(host)
            fx.lab().wait_healthy(timeout_s=30)

        _, s, w = self.crash_reshard(3, kill, restart, NodeGroupsToRemove=removed)
        self.assertNotEqual(fx.lab().recorded_pid(f"agent-{host}"), agent_pid)
        g = rc.assert_reshard_done(self, GID, 3, 1, ["0002", "0003", "0005"])
        rc.assert_removed(self, GID, removed_members, removed_ids, pids)
        rc.assert_data(self, g, KEYS)
        total = sum(len(x["MemberClusters"]) for x in fx.describe())
        self.assertEqual(len(fx.all_lab_redis()), total, "redis-servers leaked or missing")
        rc.assert_progress_monotonic(self, s)
        rc.assert_no_errors(self, w, GID)


if __name__ == "__main__":
    fx.run(deadline_s=540)
