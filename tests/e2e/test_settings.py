#!/usr/bin/python3
"""Settings end to end with real nodes and real clients (boto3, AWS CLI v2, redis-cli):
DescribeCacheEngineVersions, parameter groups (built-in and user-created; a change visible in
CONFIG GET on every node of every group using it, static parameters pending-reboot then
applied by a rolling restart, reset,
delete), CreateReplicationGroup with a user-created group (both cluster modes),
DescribeCacheClusters, and tags on every resource type by ARN, with every documented fault."""
import re
import subprocess
import time
import unittest

from botocore.exceptions import ClientError

import fixture as fx

CMD, CME = "st-cmd", "st-cme"
PG, PG_CME = "st-params", "st-params-cme"


def setUpModule():
    fx.start_lab("settings")
    c = fx.client()
    c.create_cache_parameter_group(CacheParameterGroupName=PG, CacheParameterGroupFamily="redis7",
                                   Description="settings test")
    c.modify_cache_parameter_group(CacheParameterGroupName=PG, ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
        {"ParameterName": "timeout", "ParameterValue": "120"}])
    c.create_cache_parameter_group(CacheParameterGroupName=PG_CME,
                                   CacheParameterGroupFamily="redis7", Description="cme")
    c.modify_cache_parameter_group(CacheParameterGroupName=PG_CME, ParameterNameValues=[
        {"ParameterName": "cluster-enabled", "ParameterValue": "yes"},
        {"ParameterName": "slowlog-max-len", "ParameterValue": "256"}])
    c.create_replication_group(
        ReplicationGroupId=CMD, ReplicationGroupDescription="cmd", Engine="redis",
        CacheNodeType="cache.t3.micro", NumCacheClusters=2, CacheParameterGroupName=PG)
    c.create_replication_group(
        ReplicationGroupId=CME, ReplicationGroupDescription="cme", Engine="redis",
        CacheNodeType="cache.t3.micro", NumNodeGroups=2, ReplicasPerNodeGroup=1,
        CacheParameterGroupName=PG_CME.upper())
    fx.wait_status(CMD)
    fx.wait_status(CME)


def tearDownModule():
    fx.stop_lab()


def err(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        code = fx.error_code(e)
        print(f"  {fn.__name__} {kw}: {code[0]} {code[1]}: {e.response['Error']['Message']}",
              flush=True)
        return code
    raise AssertionError(f"{fn.__name__} {kw} was accepted")


def clusters(**kw):
    return fx.client().describe_cache_clusters(**kw)["CacheClusters"]


def nodes_of(gid):
    return [cc for cc in clusters(ShowCacheNodeInfo=True) if cc["ReplicationGroupId"] == gid]


def config_get(cc, name):
    ep = cc["CacheNodes"][0]["Endpoint"]
    r = fx.redis_cli(ep["Address"], ep["Port"], "CONFIG", "GET", name)
    lines = r.stdout.splitlines()
    return lines[1] if len(lines) > 1 else None


def wait_config(tc, gid, name, want, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while True:
        got = {cc["CacheClusterId"]: config_get(cc, name) for cc in nodes_of(gid)}
        if got and all(v == want for v in got.values()):
            print(f"  {gid}: {name}={want} on {sorted(got)}", flush=True)
            return
        if time.monotonic() > deadline:
            tc.fail(f"{gid}: {name} is {got}, want {want}")
        time.sleep(0.2)


def apply_statuses(gid):
    return {cc["CacheClusterId"]: cc["CacheParameterGroup"]["ParameterApplyStatus"]
            for cc in nodes_of(gid)}


class A_EngineVersions(unittest.TestCase):
    def test_versions(self):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        version = re.search(r"v=(\d+\.\d+\.\d+)", out).group(1)
        c = fx.client()
        vs = c.describe_cache_engine_versions()["CacheEngineVersions"]
        print("  ", vs, flush=True)
        self.assertIn(version, [v["EngineVersion"] for v in vs])
        v = [v for v in vs if v["EngineVersion"] == version][0]
        self.assertEqual(v["Engine"], "redis")
        self.assertEqual(v["CacheParameterGroupFamily"], "redis" + version.split(".")[0])
        self.assertTrue(v["CacheEngineDescription"])
        self.assertTrue(v["CacheEngineVersionDescription"])
        self.assertEqual(len(c.describe_cache_engine_versions(DefaultOnly=True)
                             ["CacheEngineVersions"]), 1)
        self.assertEqual(len(c.describe_cache_engine_versions(
            Engine="redis", EngineVersion=version.split(".")[0],
            CacheParameterGroupFamily="redis7")["CacheEngineVersions"]), len(vs))
        self.assertEqual(c.describe_cache_engine_versions(Engine="memcached")
                         ["CacheEngineVersions"], [])
        self.assertEqual(c.describe_cache_engine_versions(EngineVersion="6.2")
                         ["CacheEngineVersions"], [])
        self.assertEqual(err(c.describe_cache_engine_versions, CacheParameterGroupFamily="redis99"),
                         ("InvalidParameterValue", 400))
        self.assertEqual(err(c.describe_cache_engine_versions, MaxRecords=5),
                         ("InvalidParameterValue", 400))
        self.assertEqual(err(c.describe_cache_engine_versions, Marker="zz"),
                         ("InvalidParameterValue", 400))
        rc, out, e = fx.aws("describe-cache-engine-versions", "--engine", "redis")
        self.assertEqual(rc, 0, e)
        self.assertIn(version, [v["EngineVersion"] for v in out["CacheEngineVersions"]])


class B_ParameterGroups(unittest.TestCase):
    def test_01_describe_groups_and_parameters(self):
        c = fx.client()
        groups = {g["CacheParameterGroupName"]: g for g in
                  c.describe_cache_parameter_groups()["CacheParameterGroups"]}
        for name in ("default.redis7", "default.redis7.cluster.on", PG, PG_CME):
            self.assertIn(name, groups)
            self.assertEqual(groups[name]["CacheParameterGroupFamily"], "redis7")
            self.assertFalse(groups[name]["IsGlobal"])
            self.assertEqual(groups[name]["ARN"],
                             f"arn:aws:elasticache:{fx.REGION}:{fx.lablib.ACCOUNT_ID}:"
                             f"parametergroup:{name}")
        one = c.describe_cache_parameter_groups(CacheParameterGroupName=PG.upper())
        self.assertEqual([g["CacheParameterGroupName"] for g in one["CacheParameterGroups"]], [PG])
        self.assertEqual(err(c.describe_cache_parameter_groups, CacheParameterGroupName="nope"),
                         ("CacheParameterGroupNotFound", 404))
        params = c.describe_cache_parameters(CacheParameterGroupName=PG)
        by = {p["ParameterName"]: p for p in params["Parameters"]}
        self.assertEqual(by["maxmemory-policy"]["ParameterValue"], "allkeys-lru")
        self.assertEqual(by["maxmemory-policy"]["Source"], "user")
        self.assertEqual(by["maxmemory-policy"]["ChangeType"], "immediate")
        self.assertTrue(by["maxmemory-policy"]["IsModifiable"])
        self.assertIn("noeviction", by["maxmemory-policy"]["AllowedValues"])
        self.assertEqual(by["databases"]["ChangeType"], "requires-reboot")
        self.assertEqual(by["databases"]["DataType"], "integer")
        self.assertFalse(by["lua-time-limit"]["IsModifiable"])
        self.assertEqual(by["timeout"]["Source"], "user")
        self.assertEqual(by["tcp-keepalive"]["Source"], "engine-default")
        user = c.describe_cache_parameters(CacheParameterGroupName=PG, Source="user")
        self.assertEqual(sorted(p["ParameterName"] for p in user["Parameters"]),
                         ["maxmemory-policy", "timeout"])
        system = c.describe_cache_parameters(CacheParameterGroupName="default.redis7.cluster.on",
                                             Source="system")["Parameters"]
        self.assertEqual([(p["ParameterName"], p["ParameterValue"]) for p in system],
                         [("cluster-enabled", "yes")])
        # Pagination: 20 per page, then the rest, no Marker on the last page.
        p1 = c.describe_cache_parameters(CacheParameterGroupName=PG, MaxRecords=20)
        self.assertEqual(len(p1["Parameters"]), 20)
        p2 = c.describe_cache_parameters(CacheParameterGroupName=PG, MaxRecords=20,
                                         Marker=p1["Marker"])
        self.assertNotIn("Marker", p2)
        self.assertEqual(len(p1["Parameters"]) + len(p2["Parameters"]), len(by))
        self.assertEqual(err(c.describe_cache_parameters, CacheParameterGroupName=PG,
                             Source="bogus"), ("InvalidParameterValue", 400))
        self.assertEqual(err(c.describe_cache_parameters, CacheParameterGroupName="nope"),
                         ("CacheParameterGroupNotFound", 404))
        ed = c.describe_engine_default_parameters(CacheParameterGroupFamily="redis7")
        self.assertEqual(ed["EngineDefaults"]["CacheParameterGroupFamily"], "redis7")
        eby = {p["ParameterName"]: p for p in ed["EngineDefaults"]["Parameters"]}
        self.assertEqual(eby["maxmemory-policy"]["ParameterValue"], "volatile-lru")
        self.assertEqual(len(eby), len(by))
        self.assertEqual(err(c.describe_engine_default_parameters,
                             CacheParameterGroupFamily="redis99"), ("InvalidParameterValue", 400))
        rc, out, e = fx.aws("describe-cache-parameters", "--cache-parameter-group-name", PG,
                            "--source", "user")
        self.assertEqual(rc, 0, e)
        self.assertEqual(len(out["Parameters"]), 2)

    def test_02_values_reach_every_node(self):
        # Set before the groups existed: applied once the nodes were available.
        wait_config(self, CMD, "maxmemory-policy", "allkeys-lru")
        wait_config(self, CMD, "timeout", "120")
        wait_config(self, CME, "slowlog-max-len", "256")
        # A change now reaches every node of every group using the parameter group.
        fx.client().modify_cache_parameter_group(CacheParameterGroupName=PG, ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"},
            {"ParameterName": "notify-keyspace-events", "ParameterValue": "Ex"}])
        wait_config(self, CMD, "maxmemory-policy", "allkeys-lfu")
        wait_config(self, CMD, "notify-keyspace-events", "xE")
        rc, out, e = fx.aws("modify-cache-parameter-group", "--cache-parameter-group-name",
                            PG_CME, "--parameter-name-values",
                            "ParameterName=maxmemory-policy,ParameterValue=volatile-ttl")
        self.assertEqual(rc, 0, e)
        self.assertEqual(out["CacheParameterGroupName"], PG_CME)
        wait_config(self, CME, "maxmemory-policy", "volatile-ttl")
        deadline = time.monotonic() + 10
        while set(apply_statuses(CMD).values()) != {"in-sync"} and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(set(apply_statuses(CMD).values()), {"in-sync"})
        ev = fx.client().describe_events(SourceIdentifier=PG,
                                         SourceType="cache-parameter-group")["Events"]
        self.assertTrue(any("modified" in e["Message"] for e in ev), ev)

    def test_03_static_parameter_pending_reboot(self):
        fx.client().modify_cache_parameter_group(CacheParameterGroupName=PG, ParameterNameValues=[
            {"ParameterName": "databases", "ParameterValue": "32"}])
        # pending-reboot until a rolling restart (started by the orchestrator itself, replicas
        # first; test_rolling_restart.py) has restarted each node with the new value.
        st = apply_statuses(CMD)
        self.assertTrue(set(st.values()) <= {"pending-reboot", "in-sync"}, st)
        self.assertIn("pending-reboot", st.values(), st)
        cc = next(c for c in nodes_of(CMD) if st[c["CacheClusterId"]] == "pending-reboot")
        self.assertEqual(cc["CacheParameterGroup"]["CacheNodeIdsToReboot"], ["0001"])
        self.assertEqual(cc["CacheNodes"][0]["ParameterGroupStatus"], "pending-reboot")
        wait_config(self, CMD, "databases", "32", timeout_s=60)
        fx.wait_status(CMD, timeout_s=60)
        deadline = time.monotonic() + 10
        while set(apply_statuses(CMD).values()) != {"in-sync"} and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(set(apply_statuses(CMD).values()), {"in-sync"})
        self.assertEqual(set(apply_statuses(CME).values()), {"in-sync"})

    def test_04_reset(self):
        c = fx.client()
        c.reset_cache_parameter_group(CacheParameterGroupName=PG, ParameterNameValues=[
            {"ParameterName": "timeout"}])
        wait_config(self, CMD, "timeout", "0")
        self.assertEqual(config_get(nodes_of(CMD)[0], "maxmemory-policy"), "allkeys-lfu")
        c.reset_cache_parameter_group(CacheParameterGroupName=PG, ResetAllParameters=True)
        wait_config(self, CMD, "maxmemory-policy", "volatile-lru")
        wait_config(self, CMD, "notify-keyspace-events", "")
        self.assertEqual(c.describe_cache_parameters(CacheParameterGroupName=PG, Source="user")
                         ["Parameters"], [])
        # databases back to its default: another rolling restart.
        wait_config(self, CMD, "databases", "16", timeout_s=60)
        fx.wait_status(CMD, timeout_s=60)

    def test_05_faults(self):
        c = fx.client()
        pnv = [{"ParameterName": "timeout", "ParameterValue": "5"}]
        cases = [
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName="default.redis7",
                                                  ParameterNameValues=pnv),
             ("InvalidParameterValue", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName="nope",
                                                  ParameterNameValues=pnv),
             ("CacheParameterGroupNotFound", 404)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "no-such-param", "ParameterValue": "1"}]),
             ("InvalidParameterValue", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "lua-time-limit", "ParameterValue": "5000"}]),
             ("InvalidParameterValue", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "maxmemory-policy", "ParameterValue": "lru-please"}]),
             ("InvalidParameterValue", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "timeout", "ParameterValue": "-3"}]),
             ("InvalidParameterValue", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "timeout", "ParameterValue": "1"}] * 2),
             ("InvalidParameterCombination", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "cluster-enabled", "ParameterValue": "yes"}]),
             ("InvalidCacheParameterGroupState", 400)),
            (c.modify_cache_parameter_group, dict(CacheParameterGroupName=PG, ParameterNameValues=[
                {"ParameterName": "timeout", "ParameterValue": str(i)} for i in range(21)]),
             ("InvalidParameterValue", 400)),
            (c.reset_cache_parameter_group, dict(CacheParameterGroupName=PG),
             ("InvalidParameterValue", 400)),
            (c.reset_cache_parameter_group, dict(CacheParameterGroupName=PG,
                                                 ResetAllParameters=True,
                                                 ParameterNameValues=[{"ParameterName": "timeout"}]),
             ("InvalidParameterCombination", 400)),
            (c.reset_cache_parameter_group, dict(CacheParameterGroupName="default.redis7",
                                                 ResetAllParameters=True),
             ("InvalidParameterValue", 400)),
            (c.create_cache_parameter_group, dict(CacheParameterGroupName=PG,
                                                  CacheParameterGroupFamily="redis7",
                                                  Description="x"),
             ("CacheParameterGroupAlreadyExists", 400)),
            (c.create_cache_parameter_group, dict(CacheParameterGroupName="default.redis7",
                                                  CacheParameterGroupFamily="redis7",
                                                  Description="x"),
             ("InvalidParameterValue", 400)),
            (c.create_cache_parameter_group, dict(CacheParameterGroupName="bad--name",
                                                  CacheParameterGroupFamily="redis7",
                                                  Description="x"),
             ("InvalidParameterValue", 400)),
            (c.create_cache_parameter_group, dict(CacheParameterGroupName="fam",
                                                  CacheParameterGroupFamily="memcached1.6",
                                                  Description="x"),
             ("InvalidParameterValue", 400)),
            (c.create_cache_parameter_group, dict(CacheParameterGroupName="fam",
                                                  CacheParameterGroupFamily="redis99",
                                                  Description="x"),
             ("InvalidParameterValue", 400)),
            (c.delete_cache_parameter_group, dict(CacheParameterGroupName=PG),
             ("InvalidCacheParameterGroupState", 400)),
            (c.delete_cache_parameter_group, dict(CacheParameterGroupName="default.redis7"),
             ("InvalidCacheParameterGroupState", 400)),
            (c.delete_cache_parameter_group, dict(CacheParameterGroupName="nope"),
             ("CacheParameterGroupNotFound", 404)),
            (c.create_replication_group, dict(ReplicationGroupId="st-x",
                                              ReplicationGroupDescription="x",
                                              CacheParameterGroupName="nope"),
             ("CacheParameterGroupNotFound", 404)),
            (c.create_replication_group, dict(ReplicationGroupId="st-x",
                                              ReplicationGroupDescription="x",
                                              NumCacheClusters=2,
                                              CacheParameterGroupName=PG_CME),
             ("InvalidParameterCombination", 400)),
        ]
        before = (c.describe_cache_parameters(CacheParameterGroupName=PG)["Parameters"],
                  sorted(g["CacheParameterGroupName"] for g in
                         c.describe_cache_parameter_groups()["CacheParameterGroups"]))
        for fn, kw, want in cases:
            self.assertEqual(err(fn, **kw), want, kw)
        after = (c.describe_cache_parameters(CacheParameterGroupName=PG)["Parameters"],
                 sorted(g["CacheParameterGroupName"] for g in
                        c.describe_cache_parameter_groups()["CacheParameterGroups"]))
        self.assertEqual(before, after, "a rejected request changed something")
        self.assertEqual(err(c.describe_replication_groups, ReplicationGroupId="st-x"),
                         ("ReplicationGroupNotFoundFault", 404))

    def test_06_create_delete_and_quota(self):
        c = fx.client()
        created = []
        try:
            code = None
            for i in range(200):
                name = f"st-quota-{i:03d}"
                try:
                    c.create_cache_parameter_group(CacheParameterGroupName=name,
                                                   CacheParameterGroupFamily="redis7",
                                                   Description="q")
                    created.append(name)
                except ClientError as e:
                    code = fx.error_code(e)
                    break
            self.assertEqual(code, ("CacheParameterGroupQuotaExceeded", 400))
            self.assertEqual(len(created) + 2, 150)  # PG and PG_CME exist
            # Paging through all groups (2 built-in + 150).
            names, marker = [], None
            while True:
                kw = {"MaxRecords": 100}
                if marker:
                    kw["Marker"] = marker
                page = c.describe_cache_parameter_groups(**kw)
                names += [g["CacheParameterGroupName"] for g in page["CacheParameterGroups"]]
                marker = page.get("Marker")
                if not marker:
                    break
            self.assertEqual(len(names), 152)
            self.assertEqual(len(set(names)), 152)
        finally:
            for name in created:
                c.delete_cache_parameter_group(CacheParameterGroupName=name)
        self.assertEqual(err(c.describe_cache_parameter_groups,
                             CacheParameterGroupName=created[0]),
                         ("CacheParameterGroupNotFound", 404))


class C_CacheClusters(unittest.TestCase):
    def test_01_every_node(self):
        rgs = {g["ReplicationGroupId"]: g for g in fx.describe()}
        ccs = {cc["CacheClusterId"]: cc for cc in clusters(ShowCacheNodeInfo=True)}
        members = set(rgs[CMD]["MemberClusters"]) | set(rgs[CME]["MemberClusters"])
        self.assertEqual(set(ccs), members)
        for gid in (CMD, CME):
            for ng in rgs[gid]["NodeGroups"]:
                for m in ng["NodeGroupMembers"]:
                    cc = ccs[m["CacheClusterId"]]
                    self.assertEqual(cc["ReplicationGroupId"], gid)
                    self.assertEqual(cc["CacheClusterStatus"], "available")
                    self.assertEqual(cc["PreferredAvailabilityZone"],
                                     m["PreferredAvailabilityZone"])
                    self.assertEqual(cc["CacheNodeType"], "cache.t3.micro")
                    self.assertEqual(cc["Engine"], "redis")
                    self.assertTrue(cc["EngineVersion"])
                    self.assertEqual(cc["NumCacheNodes"], 1)
                    self.assertEqual(cc["CacheParameterGroup"]["CacheParameterGroupName"],
                                     PG if gid == CMD else PG_CME)
                    self.assertEqual(cc["ARN"], f"arn:aws:elasticache:{fx.REGION}:"
                                                f"{fx.lablib.ACCOUNT_ID}:cluster:{cc['CacheClusterId']}")
                    node = cc["CacheNodes"][0]
                    self.assertEqual(node["CacheNodeId"], "0001")
                    if "ReadEndpoint" in m:
                        self.assertEqual(node["Endpoint"], m["ReadEndpoint"])
                    ep = node["Endpoint"]
                    self.assertEqual(fx.redis_cli(ep["Address"], ep["Port"], "PING").stdout.strip(),
                                     "PONG")
        plain = clusters()
        self.assertTrue(all("CacheNodes" not in cc for cc in plain))
        one = clusters(CacheClusterId=f"{CMD}-001".upper())
        self.assertEqual([cc["CacheClusterId"] for cc in one], [f"{CMD}-001"])
        self.assertEqual(clusters(ShowCacheClustersNotInReplicationGroups=True), [])
        rc, out, e = fx.aws("describe-cache-clusters", "--show-cache-node-info", "--page-size", "20")
        self.assertEqual(rc, 0, e)
        self.assertEqual(len(out["CacheClusters"]), len(members))
        rc, _, e = fx.aws("wait", "cache-cluster-available", "--cache-cluster-id", f"{CMD}-002")
        self.assertEqual(rc, 0, e)

    def test_02_faults(self):
        c = fx.client()
        self.assertEqual(err(c.describe_cache_clusters, CacheClusterId="no-such-cluster"),
                         ("CacheClusterNotFound", 404))
        self.assertEqual(err(c.describe_cache_clusters, CacheClusterId="fake_cluster"),
                         ("InvalidParameterValue", 400))
        self.assertEqual(err(c.describe_cache_clusters, MaxRecords=10),
                         ("InvalidParameterValue", 400))
        self.assertEqual(err(c.describe_cache_clusters, Marker="garbage"),
                         ("InvalidParameterValue", 400))


class D_Tags(unittest.TestCase):
    def arns(self):
        rg = fx.describe(CMD)[0]["ARN"]
        cl = clusters(CacheClusterId=f"{CME}-0001-002")[0]["ARN"]
        pgs = {g["CacheParameterGroupName"]: g["ARN"] for g in
               fx.client().describe_cache_parameter_groups()["CacheParameterGroups"]}
        return [rg, cl, pgs[PG], pgs["default.redis7"]]

    def test_01_round_trip_every_type(self):
        c = fx.client()
        for arn in self.arns():
            self.assertEqual(c.list_tags_for_resource(ResourceName=arn)["TagList"], [], arn)
            out = c.add_tags_to_resource(ResourceName=arn, Tags=[
                {"Key": "env", "Value": "prod"}, {"Key": "team", "Value": ""}])
            self.assertEqual(out["TagList"], [{"Key": "env", "Value": "prod"},
                                              {"Key": "team", "Value": ""}])
            out = c.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "env", "Value": "dev"}])
            self.assertEqual(out["TagList"][0], {"Key": "env", "Value": "dev"})
            rc, cli, e = fx.aws("list-tags-for-resource", "--resource-name", arn)
            self.assertEqual(rc, 0, e)
            self.assertEqual(cli["TagList"], out["TagList"])
            out = c.remove_tags_from_resource(ResourceName=arn, TagKeys=["team"])
            self.assertEqual(out["TagList"], [{"Key": "env", "Value": "dev"}])
            self.assertEqual(c.list_tags_for_resource(ResourceName=arn)["TagList"],
                             [{"Key": "env", "Value": "dev"}])
            print(f"  {arn}: ok", flush=True)
        # The replication group's tags show on its member clusters (ElastiCache propagates
        # them); removing one there is TagNotFound (it belongs to the group).
        for cc in nodes_of(CMD):
            tl = c.list_tags_for_resource(ResourceName=cc["ARN"])["TagList"]
            self.assertEqual(tl, [{"Key": "env", "Value": "dev"}], cc["CacheClusterId"])
        self.assertEqual(err(c.remove_tags_from_resource, ResourceName=nodes_of(CMD)[0]["ARN"],
                             TagKeys=["env"]), ("TagNotFound", 404))
        # Tags given at creation show up.
        c.create_cache_parameter_group(CacheParameterGroupName="st-tagged",
                                       CacheParameterGroupFamily="redis7", Description="t",
                                       Tags=[{"Key": "a", "Value": "1"}])
        arn = [g["ARN"] for g in c.describe_cache_parameter_groups(
            CacheParameterGroupName="st-tagged")["CacheParameterGroups"]][0]
        self.assertEqual(c.list_tags_for_resource(ResourceName=arn)["TagList"],
                         [{"Key": "a", "Value": "1"}])
        c.delete_cache_parameter_group(CacheParameterGroupName="st-tagged")
        self.assertEqual(err(c.list_tags_for_resource, ResourceName=arn),
                         ("CacheParameterGroupNotFound", 404))

    def test_02_faults(self):
        c = fx.client()
        rg, cl, pg, _ = self.arns()
        base = f"arn:aws:elasticache:{fx.REGION}:{fx.lablib.ACCOUNT_ID}"
        before = [c.list_tags_for_resource(ResourceName=a)["TagList"] for a in (rg, cl, pg)]
        t = [{"Key": "k", "Value": "v"}]
        cases = [
            (c.list_tags_for_resource, dict(ResourceName="not-an-arn"), ("InvalidARN", 400)),
            (c.add_tags_to_resource, dict(ResourceName="arn:aws:s3:::bucket", Tags=t),
             ("InvalidARN", 400)),
            (c.list_tags_for_resource,
             dict(ResourceName=f"arn:aws:elasticache:xx-nowhere-1:{fx.lablib.ACCOUNT_ID}"
                               f":replicationgroup:{CMD}"), ("InvalidARN", 400)),
            (c.list_tags_for_resource, dict(ResourceName=f"{base}:widget:x"), ("InvalidARN", 400)),
            (c.list_tags_for_resource, dict(ResourceName=f"{base}:replicationgroup:nope"),
             ("ReplicationGroupNotFoundFault", 404)),
            (c.add_tags_to_resource, dict(ResourceName=f"{base}:cluster:nope", Tags=t),
             ("CacheClusterNotFound", 404)),
            (c.remove_tags_from_resource, dict(ResourceName=f"{base}:parametergroup:nope",
                                               TagKeys=["k"]),
             ("CacheParameterGroupNotFound", 404)),
            (c.list_tags_for_resource, dict(ResourceName=f"{base}:snapshot:nope"),
             ("SnapshotNotFoundFault", 404)),
            (c.remove_tags_from_resource, dict(ResourceName=rg, TagKeys=["absent"]),
             ("TagNotFound", 404)),
            (c.add_tags_to_resource, dict(ResourceName=cl, Tags=[
                {"Key": f"k{i}", "Value": "v"} for i in range(51)]),
             ("TagQuotaPerResourceExceeded", 400)),
            (c.add_tags_to_resource, dict(ResourceName=pg, Tags=[{"Key": "aws:x", "Value": "v"}]),
             ("InvalidParameterValue", 400)),
        ]
        for fn, kw, want in cases:
            self.assertEqual(err(fn, **kw), want, kw)
        # 49 more fit (50 in all), the 51st does not.
        c.add_tags_to_resource(ResourceName=cl, Tags=[{"Key": f"q{i}", "Value": "v"}
                                                      for i in range(50 - len(before[1]))])
        self.assertEqual(err(c.add_tags_to_resource, ResourceName=cl,
                             Tags=[{"Key": "one-more", "Value": "v"}]),
                         ("TagQuotaPerResourceExceeded", 400))
        after = [c.list_tags_for_resource(ResourceName=a)["TagList"] for a in (rg, pg)]
        self.assertEqual(after, [before[0], before[2]])
        rc, _, e = fx.aws("add-tags-to-resource", "--resource-name", "bad", "--tags",
                          "Key=a,Value=b", expect_ok=False)
        self.assertIn("InvalidARN", e)


if __name__ == "__main__":
    fx.run(deadline_s=660)
