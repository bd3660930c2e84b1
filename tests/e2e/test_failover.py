#!/usr/bin/python3
"""Failover against a real lab (docs/orchestrator.md, "Failover"), both cluster modes:

* TestFailover: the primary's process really dies, the replica with the most data is
  promoted, the old primary rejoins as a replica; the events in ElastiCache's order and wording
  (read from the orchestrator's SQLite store, which is what DescribeEvents serves); Describe
  shows the new roles and PrimaryEndpoint / ConfigurationEndpoint follow; writes confirmed with
  WAIT survive.
* The rules: a second call on the same group while one runs is refused
  (InvalidReplicationGroupState), other groups fail over concurrently, the rolling-window limit
  (TestFailoverNotAvailableFault; the lab's orchestrator is restarted with a limit of 3).
* kill -9 of a primary redis-server: automatic failover (no wait for Redis Cluster's node
  timeout), WAIT-confirmed writes survive, the old node rejoins as a replica.
* AutomaticFailoverEnabled false: the node is restarted in place ("Cache node 0001 restarted").
* ModifyReplicationGroup PrimaryClusterId: a planned switch-over under a writing client loses
  no acknowledged write; AutomaticFailoverEnabled enabling/disabling.
Prints the measured timings."""
import os
import sqlite3
import threading
import time
import unittest

import redis
from botocore.exceptions import ClientError

import fixture as fx

from cftools.slots import parse_cluster_nodes

CMD, CME, CMD2, NOAF = "fo-cmd", "fo-cme", "fo-cmd2", "fo-noaf"
TIMINGS = []


def setUpModule():
    fx.start_lab("failover")
    lab = fx.lab()
    # A small TestFailover window limit, to test it without 15 failovers. (Lab.start rewrites the
    # config, so the orchestrator is started here by hand on its pinned ports.)
    lab.kill_orchestrator()
    cfg = lab.orchestrator_config
    cfg.write_text(cfg.read_text() + "failover:\n  test_failover_max_per_window: 3\n")
    offset = lab.log_path("orchestrator").stat().st_size
    p = lab._spawn("orchestrator", [str(lab.orchestrator_bin), "--config", str(cfg)])
    lab._wait_line("orchestrator", p, fx.lablib.ORCH_READY, offset)
    lab.wait_healthy()


def tearDownModule():
    for t in TIMINGS:
        print(f"[timing] {t}", flush=True)
    fx.stop_lab()


def events(source_prefix: str) -> list[str]:
    """'source: message' of every event of source_prefix and of the sources named
    '<source_prefix>-...' (a group's cache clusters), in write order (creation events left
    out)."""
    db = fx.lab().root / "orchestrator" / "orchestrator.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute("SELECT source_id, message FROM events WHERE source_id = ? OR "
                           "source_id LIKE ? ORDER BY event_id",
                           (source_prefix, source_prefix + "-%")).fetchall()
    finally:
        con.close()
    return [f"{s}: {m}" for s, m in rows
            if "created" not in m and not m.startswith("Creating")]


def create(gid: str, cme: bool, af: bool = True, nodes: int = 3) -> dict:
    kw = dict(ReplicationGroupId=gid, ReplicationGroupDescription=f"{gid} failover test",
              Engine="redis", CacheNodeType="cache.t3.micro", AutomaticFailoverEnabled=af)
    if cme:
        kw.update(CacheParameterGroupName="default.redis7.cluster.on", NumNodeGroups=3,
                  ReplicasPerNodeGroup=1)
    else:
        kw.update(NumCacheClusters=nodes)
    fx.client().create_replication_group(**kw)
    return fx.wait_status(gid, timeout_s=120)


def cmd_primary(g: dict) -> tuple[str, int]:
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    return ep["Address"], ep["Port"]


def member_port(cid: str) -> int:
    return fx.record_port(fx.member_records([cid])[cid])


def member_pid(cid: str) -> int:
    return fx.member_records([cid])[cid]["pid"]


def role_of(port: int) -> dict:
    info = redis.Redis("127.0.0.1", port, socket_timeout=2).info("replication")
    return info


def cmd_roles(g: dict) -> dict:
    return {m["CacheClusterId"]: m["CurrentRole"] for m in g["NodeGroups"][0]["NodeGroupMembers"]}


def shard_members(g: dict, ng: str) -> list[str]:
    for x in g["NodeGroups"]:
        if x["NodeGroupId"] == ng:
            return [m["CacheClusterId"] for m in x["NodeGroupMembers"]]
    raise AssertionError(f"no node group {ng}")


def cme_primary_of(g: dict, ng: str) -> str:
    """The member of node group ng that Redis itself reports as master."""
    for cid in shard_members(g, ng):
        try:
            if role_of(member_port(cid))["role"] == "master":
                return cid
        except redis.RedisError:
            pass
    raise AssertionError(f"node group {ng} has no live master")


def tag_for(port: int) -> str:
    """A hash tag whose slot the node at port owns."""
    r = redis.Redis("127.0.0.1", port, socket_timeout=2)
    owned = [rng for n in parse_cluster_nodes(r.execute_command("CLUSTER", "NODES").decode())
             if "myself" in n["flags"] for rng in n["ranges"]]
    for i in range(100000):
        slot = r.execute_command("CLUSTER", "KEYSLOT", f"t{i}")
        if any(a <= slot <= b for a, b in owned):
            return f"t{i}"
    raise AssertionError("no tag found")


def write_confirmed(port: int, prefix: str, n: int) -> dict:
    """n SETs on the primary at port, then WAIT 1: returns {key: value} of the confirmed ones."""
    r = redis.Redis("127.0.0.1", port, socket_timeout=5)
    p = r.pipeline(transaction=False)
    data = {f"{prefix}{i}": f"v{i}" for i in range(n)}
    for k, v in data.items():
        p.set(k, v)
    p.execute()
    acked = r.execute_command("WAIT", 1, 2000)
    assert acked >= 1, f"WAIT confirmed on {acked} replicas"
    return data


def assert_data(tc, port: int, data: dict) -> None:
    r = redis.Redis("127.0.0.1", port, socket_timeout=5, decode_responses=True)
    keys = list(data)
    got = r.mget(keys)
    lost = [k for k, v in zip(keys, got) if v != data[k]]
    tc.assertEqual(lost, [], f"{len(lost)} WAIT-confirmed keys lost (first: {lost[:5]})")


def wait_until(cond, timeout_s: float, what: str, poll_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (redis.RedisError, OSError, KeyError, ClientError) as e:
            last = e
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def wait_writable(port: int, timeout_s: float = 20) -> float:
    """Seconds until a SET on the node at port succeeds."""
    t0 = time.monotonic()
    r = redis.Redis("127.0.0.1", port, socket_timeout=1)
    wait_until(lambda: r.set("fo:probe", "1"), timeout_s, f"writes on {port}")
    return time.monotonic() - t0


class Failover(unittest.TestCase):
    def test_01_testfailover_cluster_mode_disabled(self):
        g = create(CMD, cme=False)
        old = [c for c, r in cmd_roles(g).items() if r == "primary"][0]
        host, port = cmd_primary(g)
        data = write_confirmed(port, "cmd:", 2000)
        t0 = time.monotonic()
        rg = fx.client().test_failover(ReplicationGroupId=CMD, NodeGroupId="0001")["ReplicationGroup"]
        self.assertEqual(rg["Status"], "modifying")
        # One failover per group at a time.
        with self.assertRaises(ClientError) as cm:
            fx.client().test_failover(ReplicationGroupId=CMD, NodeGroupId="0001")
        self.assertEqual(fx.error_code(cm.exception), ("InvalidReplicationGroupState", 400))
        g = fx.wait_status(CMD, timeout_s=60)
        total = time.monotonic() - t0
        roles = cmd_roles(g)
        new = [c for c, r in roles.items() if r == "primary"]
        self.assertEqual(len(new), 1, roles)
        new = new[0]
        self.assertNotEqual(new, old)
        self.assertEqual(roles[old], "replica")
        # PrimaryEndpoint follows the new primary; Redis agrees.
        self.assertEqual(cmd_primary(g)[1], member_port(new))
        self.assertEqual(role_of(member_port(new))["role"], "master")
        wait_until(lambda: role_of(member_port(old)).get("master_port") == member_port(new),
                   20, "old primary following the new one")
        for c in roles:
            if c != new:
                self.assertEqual(role_of(member_port(c))["master_port"], member_port(new), c)
        assert_data(self, member_port(new), data)
        self.assertEqual(events(CMD), [
            f"{CMD}: Test Failover API called for node group 0001",
            f"{old}: Failover from primary node {old} to replica node {new} completed",
            f"{CMD}: Failover from primary node {old} to replica node {new} completed",
            f"{old}: Recovering cache nodes 0001",
            f"{old}: Finished recovery for cache nodes 0001",
        ])
        # The same through DescribeEvents (newest first).
        got = fx.client().describe_events(SourceIdentifier=CMD, SourceType="replication-group",
                                          Duration=60)["Events"]
        msgs = [e["Message"] for e in got]
        self.assertEqual(msgs[:2], [
            f"Failover from primary node {old} to replica node {new} completed",
            "Test Failover API called for node group 0001"])
        got = fx.client().describe_events(SourceIdentifier=old, SourceType="cache-cluster",
                                          Duration=60)["Events"]
        self.assertEqual([e["Message"] for e in got][:3], [
            "Finished recovery for cache nodes 0001", "Recovering cache nodes 0001",
            f"Failover from primary node {old} to replica node {new} completed"])
        TIMINGS.append(f"CMD TestFailover: call -> available {total:.2f} s")

    def test_02_testfailover_cluster_mode_enabled_limit_and_concurrency(self):
        g = create(CME, cme=True)
        create(CMD2, cme=False)
        old = cme_primary_of(g, "0002")
        tag = tag_for(member_port(old))
        data = write_confirmed(member_port(old), "{" + tag + "}:", 2000)
        # Two groups at once.
        t0 = time.monotonic()
        fx.client().test_failover(ReplicationGroupId=CME, NodeGroupId="2")
        fx.client().test_failover(ReplicationGroupId=CMD2, NodeGroupId="0001")
        fx.wait_status(CMD2, timeout_s=60)
        g = fx.wait_status(CME, timeout_s=60)
        total = time.monotonic() - t0
        new = cme_primary_of(g, "0002")
        self.assertNotEqual(new, old)
        info = role_of(member_port(old))
        self.assertEqual(info["role"], "slave")
        self.assertEqual(info["master_port"], member_port(new))
        assert_data(self, member_port(new), data)
        fx.assert_slots_cover_exactly_once(self, g)
        host, port = g["ConfigurationEndpoint"]["Address"], g["ConfigurationEndpoint"]["Port"]
        wait_until(lambda: fx.cluster_check(host, port)[0], 30, "cluster check clean")
        ev = events(CME)
        self.assertEqual(ev[0], f"{CME}: Test Failover API called for node group 0002")
        self.assertEqual(ev[1:], [
            f"{old}: Failover from primary node {old} to replica node {new} completed",
            f"{CME}: Failover from primary node {old} to replica node {new} completed",
            f"{old}: Recovering cache nodes 0001",
            f"{old}: Finished recovery for cache nodes 0001",
        ])
        TIMINGS.append(f"CME TestFailover: call -> available {total:.2f} s")
        # The window limit (3 in this lab): two more node groups, then refused.
        for ng in ("0001", "0003"):
            fx.client().test_failover(ReplicationGroupId=CME, NodeGroupId=ng)
            fx.wait_status(CME, timeout_s=60)
        with self.assertRaises(ClientError) as cm:
            fx.client().test_failover(ReplicationGroupId=CME, NodeGroupId="0001")
        self.assertEqual(fx.error_code(cm.exception), ("TestFailoverNotAvailableFault", 400))
        with self.assertRaises(ClientError) as cm:
            fx.client().test_failover(ReplicationGroupId=CME, NodeGroupId="0009")
        self.assertEqual(fx.error_code(cm.exception), ("NodeGroupNotFoundFault", 404))

    def test_03_kill9_primary_process(self):
        for gid, cme in ((CMD, False), (CME, True)):
            with self.subTest(gid):
                g = fx.wait_status(gid, timeout_s=60)
                if cme:
                    old = cme_primary_of(g, "0001")
                    prefix = "{" + tag_for(member_port(old)) + "}:k9:"
                else:
                    old = [c for c, r in cmd_roles(g).items() if r == "primary"][0]
                    prefix = "k9:"
                data = write_confirmed(member_port(old), prefix, 2000)
                members = shard_members(g, "0001")
                n_events = len(events(old))
                pid = member_pid(old)
                t0 = time.monotonic()
                os.kill(pid, 9)

                def promoted():
                    for c in members:
                        if c != old and role_of(member_port(c))["role"] == "master":
                            return c
                    return None

                new = wait_until(promoted, 20, f"a replica of {gid} promoted")
                outage = time.monotonic() - t0 + wait_writable(member_port(new))
                assert_data(self, member_port(new), data)
                wait_until(lambda: role_of(member_port(old)).get("master_port") ==
                           member_port(new), 30, "old primary back as a replica")
                g = fx.wait_status(gid, timeout_s=30)
                if not cme:
                    wait_until(lambda: cmd_primary(fx.describe(gid)[0])[1] == member_port(new),
                               10, "PrimaryEndpoint on the new primary")
                wait_until(lambda: events(old)[n_events:][-1:] ==
                           [f"{old}: Finished recovery for cache nodes 0001"], 20,
                           "recovery events")
                self.assertEqual(events(old)[n_events:], [
                    f"{old}: Failover from primary node {old} to replica node {new} completed",
                    f"{old}: Recovering cache nodes 0001",
                    f"{old}: Finished recovery for cache nodes 0001",
                ])
                TIMINGS.append(f"{gid} kill -9 primary: write outage {outage:.2f} s")

    def test_04_without_automatic_failover_restart_in_place(self):
        g = create(NOAF, cme=False, af=False, nodes=2)
        prim = [c for c, r in cmd_roles(g).items() if r == "primary"][0]
        pid = member_pid(prim)
        t0 = time.monotonic()
        os.kill(pid, 9)
        wait_until(lambda: f"{prim}: Cache node 0001 restarted" in events(prim), 30,
                   "restart event")
        took = time.monotonic() - t0
        self.assertEqual(role_of(member_port(prim))["role"], "master")
        self.assertNotEqual(member_pid(prim), pid)
        g = fx.wait_status(NOAF, timeout_s=30)
        self.assertEqual(cmd_roles(g)[prim], "primary")
        self.assertNotIn("Failover", " ".join(events(NOAF)))
        TIMINGS.append(f"AF disabled kill -9: restarted in place after {took:.2f} s")
        # TestFailover needs automatic failover.
        with self.assertRaises(ClientError) as cm:
            fx.client().test_failover(ReplicationGroupId=NOAF, NodeGroupId="0001")
        self.assertEqual(fx.error_code(cm.exception)[0], "InvalidReplicationGroupState")

    def test_05_switchover_loses_nothing(self):
        g = fx.wait_status(CMD, timeout_s=60)
        roles = cmd_roles(g)
        old = [c for c, r in roles.items() if r == "primary"][0]
        target = sorted(c for c, r in roles.items() if r == "replica")[0]
        ports = {c: member_port(c) for c in roles}
        acked, errors, stop = {}, [], threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                # Always write to whichever node is the primary right now.
                for c, p in ports.items():
                    try:
                        r = redis.Redis("127.0.0.1", p, socket_timeout=1)
                        if r.info("replication")["role"] != "master":
                            continue
                        while not stop.is_set():
                            r.set(f"sw:{i}", i)
                            acked[f"sw:{i}"] = str(i)
                            i += 1
                    except redis.RedisError as e:
                        errors.append(str(e))
                time.sleep(0.005)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        rg = fx.client().modify_replication_group(ReplicationGroupId=CMD, PrimaryClusterId=target,
                                                  ApplyImmediately=True)["ReplicationGroup"]
        self.assertEqual(rg["Status"], "modifying")
        g = fx.wait_status(CMD, timeout_s=60)
        took = time.monotonic() - t0
        time.sleep(0.5)
        stop.set()
        t.join(10)
        self.assertEqual(cmd_roles(g)[target], "primary")
        self.assertEqual(role_of(ports[target])["role"], "master")
        wait_until(lambda: role_of(ports[old]).get("master_port") == ports[target], 20,
                   "old primary following")
        time.sleep(0.5)
        assert_data(self, ports[target], acked)
        self.assertGreater(len(acked), 100)
        TIMINGS.append(f"PrimaryClusterId switch-over: call -> available {took:.2f} s, "
                       f"{len(acked)} acknowledged writes, none lost, client errors: "
                       f"{len(errors)}")

    def test_06_modify_automatic_failover(self):
        c = fx.client()
        with self.assertRaises(ClientError) as cm:
            c.modify_replication_group(ReplicationGroupId=CME, AutomaticFailoverEnabled=False)
        self.assertEqual(fx.error_code(cm.exception)[0], "InvalidParameterValue")
        with self.assertRaises(ClientError) as cm:
            c.modify_replication_group(ReplicationGroupId=NOAF, CacheNodeType="cache.nope.large")
        self.assertEqual(fx.error_code(cm.exception)[0], "InvalidParameterValue")
        rg = c.modify_replication_group(ReplicationGroupId=NOAF, AutomaticFailoverEnabled=True,
                                        ApplyImmediately=True)["ReplicationGroup"]
        self.assertEqual(rg["AutomaticFailover"], "enabling")
        g = fx.wait_status(NOAF, timeout_s=30)
        self.assertEqual(g["AutomaticFailover"], "enabled")
        rg = c.modify_replication_group(ReplicationGroupId=NOAF, AutomaticFailoverEnabled=False,
                                        ApplyImmediately=True)["ReplicationGroup"]
        self.assertEqual(rg["AutomaticFailover"], "disabling")
        g = fx.wait_status(NOAF, timeout_s=30)
        self.assertEqual(g["AutomaticFailover"], "disabled")

    def test_07_host_loss(self):
        """kill -9 of an agent together with every redis-server of its host: the primaries on
        it fail over after failover.host_down_after_ms; when the agent is back its held nodes
        rejoin as replicas of the new primaries."""
        g = fx.wait_status(CMD, timeout_s=60)
        old = [c for c, r in cmd_roles(g).items() if r == "primary"][0]
        host = fx.member_records([old])[old]["host_id"]
        data = write_confirmed(member_port(old), "host:", 2000)
        n_events = len(events(CMD))
        lab = fx.lab()
        victims = [r for r in lab.node_records()
                   if r.get("host_id") == host and isinstance(r.get("pid"), int)
                   and fx.is_redis_server(r["pid"])]
        t0 = time.monotonic()
        lab.kill_agent(host)
        for r in victims:
            try:
                os.kill(r["pid"], 9)
            except OSError:
                pass
        members = list(cmd_roles(g))

        def promoted():
            for c in members:
                if c != old and role_of(member_port(c))["role"] == "master":
                    return c
            return None

        new = wait_until(promoted, 30, "a replica promoted after the host loss")
        outage = time.monotonic() - t0 + wait_writable(member_port(new))
        assert_data(self, member_port(new), data)
        g = fx.wait_status(CMD, timeout_s=30)
        self.assertEqual(cmd_roles(g)[new], "primary")
        self.assertEqual(cmd_primary(g)[1], member_port(new))
        TIMINGS.append(f"host loss (agent + nodes kill -9): write outage {outage:.2f} s")
        # The host comes back: the old primary rejoins as a replica, never as a primary.
        lab.restart_agent(host)
        wait_until(lambda: role_of(member_port(old)).get("master_port") == member_port(new), 40,
                   "old primary back as a replica")
        self.assertEqual(role_of(member_port(old))["role"], "slave")
        wait_until(lambda: events(CMD)[-1:] ==
                   [f"{old}: Finished recovery for cache nodes 0001"], 20, "recovery events")
        self.assertEqual(events(CMD)[n_events:], [
            f"{old}: Failover from primary node {old} to replica node {new} completed",
            f"{CMD}: Failover from primary node {old} to replica node {new} completed",
            f"{old}: Recovering cache nodes 0001",
            f"{old}: Finished recovery for cache nodes 0001",
        ])
        # The cluster-mode group had nodes there too: healthy again.
        g = fx.wait_status(CME, timeout_s=60)
        h, p = g["ConfigurationEndpoint"]["Address"], g["ConfigurationEndpoint"]["Port"]
        wait_until(lambda: fx.cluster_check(h, p)[0], 60, "cluster check clean after the host loss")


    def test_08_orchestrator_killed_during_a_failover(self):
        """kill -9 of the orchestrator right after TestFailover was accepted: the restarted
        orchestrator resumes the operation; the shard ends with one primary, the old one a
        replica, and each event written once."""
        g = fx.wait_status(CMD2, timeout_s=60)
        old = [c for c, r in cmd_roles(g).items() if r == "primary"][0]
        n_events = len(events(CMD2))
        lab = fx.lab()
        fx.client().test_failover(ReplicationGroupId=CMD2, NodeGroupId="0001")
        lab.kill_orchestrator()
        lab.restart_orchestrator()
        g = fx.wait_status(CMD2, timeout_s=60)
        roles = cmd_roles(g)
        new = [c for c, r in roles.items() if r == "primary"]
        self.assertEqual(len(new), 1, roles)
        new = new[0]
        self.assertNotEqual(new, old)
        self.assertEqual(role_of(member_port(new))["role"], "master")
        wait_until(lambda: role_of(member_port(old)).get("master_port") == member_port(new), 20,
                   "old primary following")
        self.assertEqual(events(CMD2)[n_events:], [
            f"{CMD2}: Test Failover API called for node group 0001",
            f"{old}: Failover from primary node {old} to replica node {new} completed",
            f"{CMD2}: Failover from primary node {old} to replica node {new} completed",
            f"{old}: Recovering cache nodes 0001",
            f"{old}: Finished recovery for cache nodes 0001",
        ])


if __name__ == "__main__":
    fx.run(deadline_s=560)
