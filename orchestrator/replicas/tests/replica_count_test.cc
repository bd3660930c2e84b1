// IncreaseReplicaCount / DecreaseReplicaCount: the validator (every rule, fault code asserted),
// the replica placement, and the operations end to end against the in-process fake agents in
// both cluster modes, including a "crash" before every commit, rejections that change nothing
// and replicas following a primary that failed over.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "orchestrator/core/id_rules.h"
#include "orchestrator/replicas/replica_count_frontend.h"
#include "orchestrator/replicas/replica_count_validator.h"
#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::TestHost;

// ---- validator ------------------------------------------------------------------------------

std::string ParseCode(const Params& p, bool increase) {
  auto r = ParseReplicaCountRequest(api::QueryParams(p), increase, GroupLimits{});
  if (auto* e = std::get_if<api::ApiError>(&r)) return e->code;
  return "";
}

TEST(ReplicaCountValidator, ParseRules) {
  const Params base = {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"}};
  auto with = [&](Params extra) {
    Params p = base;
    for (auto& [k, v] : extra) p[k] = v;
    return p;
  };
  EXPECT_EQ(ParseCode(with({{"NewReplicaCount", "2"}}), true), "");
  EXPECT_EQ(ParseCode({{"ApplyImmediately", "true"}, {"NewReplicaCount", "2"}}, true),
            "MissingParameter");
  EXPECT_EQ(ParseCode({{"ReplicationGroupId", "g"}, {"NewReplicaCount", "2"}}, true),
            "MissingParameter");
  EXPECT_EQ(ParseCode(with({{"ApplyImmediately", "false"}, {"NewReplicaCount", "2"}}), true),
            "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{"ReplicationGroupId", "bad--id"}, {"NewReplicaCount", "2"}}), true),
            "InvalidParameterValue");
  EXPECT_EQ(ParseCode(base, true), "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{"NewReplicaCount", "6"}}), true), "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{"NewReplicaCount", "-1"}}), false), "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{"NewReplicaCount", "x"}}), true), "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{"Bogus", "1"}, {"NewReplicaCount", "1"}}), true),
            "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{"ReplicasToRemove.member.1", "g-002"}}), true),
            "InvalidParameterValue");  // Increase does not know ReplicasToRemove
  EXPECT_EQ(ParseCode(with({{"ReplicasToRemove.member.1", "g-002"}}), false), "");
  EXPECT_EQ(ParseCode(with({{"ReplicasToRemove.member.1", "g-002"}, {"NewReplicaCount", "1"}}),
                      false),
            "InvalidParameterCombination");
  const std::string cs = "ReplicaConfiguration.ConfigureShard.1.";
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"}, {cs + "NewReplicaCount", "2"}}), true), "");
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"},
                            {cs + "NewReplicaCount", "2"},
                            {"NewReplicaCount", "2"}}),
                      true),
            "InvalidParameterCombination");
  EXPECT_EQ(ParseCode(with({{cs + "NewReplicaCount", "2"}}), true), "MissingParameter");
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"}}), true), "MissingParameter");
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "00001"}, {cs + "NewReplicaCount", "2"}}), true),
            "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"},
                            {cs + "NewReplicaCount", "1"},
                            {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.1", "a"}}),
                      true),
            "InvalidParameterValue");  // needs NewReplicaCount + 1 AZs
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"},
                            {cs + "NewReplicaCount", "1"},
                            {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.1", "a"},
                            {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.2", "b"}}),
                      true),
            "");
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"},
                            {cs + "NewReplicaCount", "1"},
                            {cs + "PreferredOutpostArns.PreferredOutpostArn.1", "arn:x"}}),
                      true),
            "InvalidParameterValue");
  EXPECT_EQ(ParseCode(with({{cs + "NodeGroupId", "1"},
                            {cs + "NewReplicaCount", "1"},
                            {"ReplicaConfiguration.ConfigureShard.2.NodeGroupId", "0001"},
                            {"ReplicaConfiguration.ConfigureShard.2.NewReplicaCount", "1"}}),
                      true),
            "InvalidParameterValue");  // listed twice
}

GroupView MakeGroup(bool cme, int shards, int replicas) {
  GroupView v;
  v.group.id = "g";
  v.group.status = GroupStatus::kAvailable;
  v.group.cluster_enabled = cme;
  v.group.automatic_failover = cme;
  v.group.engine_version = "7.0.15";
  const char* hosts[] = {"host-a", "host-b", "host-c"};
  const char* azs[] = {"lab-a", "lab-b", "lab-c"};
  int k = 0;
  for (int s = 1; s <= shards; ++s) {
    NodeGroupRecord ng;
    ng.group_id = "g";
    ng.node_group_id = FormatNodeGroupId(s);
    ng.status = "available";
    v.node_groups.push_back(ng);
    for (int m = 1; m <= replicas + 1; ++m, ++k) {
      NodeRecord n;
      n.group_id = "g";
      n.node_group_id = ng.node_group_id;
      n.member_index = m;
      n.node_id = cme ? CmeMemberId("g", ng.node_group_id, m) : CmdMemberId("g", m);
      n.desired_role = m == 1 ? NodeRole::kPrimary : NodeRole::kReplica;
      n.host_id = hosts[k % 3];
      n.az = azs[k % 3];
      n.port = 30000 + k;
      v.nodes.push_back(n);
    }
  }
  return v;
}

std::variant<ReplicaPlan, api::ApiError> Check(const GroupView& g, const Params& extra,
                                               bool increase) {
  Params p = {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"}};
  for (auto& [k, v] : extra) p[k] = v;
  auto r = ParseReplicaCountRequest(api::QueryParams(p), increase, GroupLimits{});
  if (auto* e = std::get_if<api::ApiError>(&r)) return *e;
  ReplicaCountContext ctx;
  ctx.azs = {{"lab-a", true}, {"lab-b", true}, {"lab-c", true}};
  return CheckReplicaCount(std::get<ReplicaCountRequest>(r), g, ctx);
}

std::string CheckCode(const GroupView& g, const Params& extra, bool increase) {
  auto r = Check(g, extra, increase);
  if (auto* e = std::get_if<api::ApiError>(&r)) return e->code;
  return "";
}

TEST(ReplicaCountValidator, AgainstTheGroup) {
  GroupView cme = MakeGroup(true, 3, 1);
  // Increase every shard to 2: one new replica each, ids after the existing members.
  auto plan = std::get<ReplicaPlan>(Check(cme, {{"NewReplicaCount", "2"}}, true));
  ASSERT_EQ(plan.add.size(), 3u);
  EXPECT_EQ(plan.add[0].node_id, "g-0001-003");
  EXPECT_EQ(plan.Summary(), "0001 1->2, 0002 1->2, 0003 1->2");
  EXPECT_EQ(CheckCode(cme, {{"NewReplicaCount", "1"}}, true), "NoOperationFault");
  EXPECT_EQ(CheckCode(cme, {{"NewReplicaCount", "0"}}, true), "InvalidParameterValue");
  EXPECT_EQ(CheckCode(cme, {{"NewReplicaCount", "0"}}, false),
            "InvalidParameterValue");  // CME keeps >= 1 replica (automatic failover)
  EXPECT_EQ(CheckCode(cme, {{"NewReplicaCount", "2"}}, false), "InvalidParameterValue");
  EXPECT_EQ(CheckCode(cme, {{"NewReplicaCount", "1"}}, false), "NoOperationFault");
  const std::string cs = "ReplicaConfiguration.ConfigureShard.1.";
  EXPECT_EQ(CheckCode(cme, {{cs + "NodeGroupId", "7"}, {cs + "NewReplicaCount", "2"}}, true),
            "InvalidParameterValue");
  // Per shard with AZs: primary first, the new replica takes the entry after the existing ones.
  auto p2 = std::get<ReplicaPlan>(
      Check(cme,
            {{cs + "NodeGroupId", "2"},
             {cs + "NewReplicaCount", "2"},
             {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.1", "lab-c"},
             {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.2", "lab-a"},
             {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.3", "lab-b"}},
            true));
  ASSERT_EQ(p2.add.size(), 1u);
  EXPECT_EQ(p2.add[0].node_group_id, "0002");
  EXPECT_EQ(*p2.add[0].preferred_az, "lab-b");
  EXPECT_EQ(CheckCode(cme,
                      {{cs + "NodeGroupId", "2"},
                       {cs + "NewReplicaCount", "2"},
                       {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.1", "x"},
                       {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.2", "y"},
                       {cs + "PreferredAvailabilityZones.PreferredAvailabilityZone.3", "mars"}},
                      true),
            "InvalidParameterValue");

  // CMD without failover: down to 0 is fine; the highest-numbered replica goes first.
  GroupView cmd = MakeGroup(false, 1, 2);
  auto d = std::get<ReplicaPlan>(Check(cmd, {{"NewReplicaCount", "1"}}, false));
  ASSERT_EQ(d.remove, std::vector<std::string>{"g-003"});
  EXPECT_EQ(CheckCode(cmd, {{"NewReplicaCount", "0"}}, false), "");
  EXPECT_EQ(CheckCode(cmd, {{"ReplicasToRemove.member.1", "G-002"}}, false), "");
  EXPECT_EQ(CheckCode(cmd, {{"ReplicasToRemove.member.1", "g-001"}}, false),
            "InvalidParameterValue");  // the primary
  EXPECT_EQ(CheckCode(cmd, {{"ReplicasToRemove.member.1", "g-009"}}, false),
            "InvalidParameterValue");
  // After a failover the observed master is the primary: g-002 can no longer be removed...
  cmd.nodes[1].observed.known = true;
  cmd.nodes[1].observed.role = "master";
  EXPECT_EQ(CheckCode(cmd, {{"ReplicasToRemove.member.1", "g-002"}}, false),
            "InvalidParameterValue");
  // ... and g-001 (now a replica) can.
  EXPECT_EQ(CheckCode(cmd, {{"ReplicasToRemove.member.1", "g-001"}}, false), "");
  // Increase of CMD: the next group-wide member index.
  auto i = std::get<ReplicaPlan>(Check(cmd, {{"NewReplicaCount", "4"}}, true));
  ASSERT_EQ(i.add.size(), 2u);
  EXPECT_EQ(i.add[0].node_id, "g-004");
  EXPECT_EQ(i.add[1].node_id, "g-005");
  // With automatic failover (or Multi-AZ) a CMD group keeps one replica.
  cmd.group.automatic_failover = true;
  EXPECT_EQ(CheckCode(cmd, {{"NewReplicaCount", "0"}}, false), "InvalidParameterValue");
  // Node quota.
  GroupView big = MakeGroup(true, 90, 4);
  EXPECT_EQ(CheckCode(big, {{"NewReplicaCount", "5"}}, true), "NodeQuotaForCustomerExceeded");
  // Not available.
  cme.group.status = GroupStatus::kModifying;
  EXPECT_EQ(CheckCode(cme, {{"NewReplicaCount", "2"}}, true), "InvalidReplicationGroupState");
}

TEST(ReplicaCountValidator, PlanJsonRoundTrip) {
  ReplicaPlan p;
  p.increase = true;
  p.add.push_back({"g-0001-003", "0001", 3, std::string("lab-c")});
  p.add.push_back({"g-0002-003", "0002", 3, std::nullopt});
  p.remove = {"x"};
  p.replicas["0001"] = {1, 2};
  auto back = ReplicaPlanFromJson(ReplicaPlanToJson(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(ReplicaPlanToJson(*back), ReplicaPlanToJson(p));
  EXPECT_FALSE(ReplicaPlanFromJson("{").ok());
}

TEST(ReplicaPlacement, NewReplicasAvoidTheirShardsHostsAndAZs) {
  GroupView g = MakeGroup(true, 3, 1);  // shard 1 on a,b; 2 on c,a; 3 on b,c
  FleetSnapshot snap;
  const char* azs[] = {"lab-a", "lab-b", "lab-c"};
  for (int i = 0; i < 3; ++i) {
    snap.hosts.push_back(TestHost(std::string("host-") + char('a' + i), azs[i], 30000 + 1000 * i));
    snap.used_ports.push_back({});
    snap.node_counts.push_back(2);
  }
  std::vector<ReplicaPlan::NewReplica> add = {{"g-0001-003", "0001", 3, std::nullopt},
                                              {"g-0002-003", "0002", 3, std::nullopt},
                                              {"g-0003-003", "0003", 3, std::nullopt}};
  std::vector<NodeRecord> nodes(3);
  ASSERT_TRUE(PlaceNewReplicas(snap, g, add, 60000, nodes).ok());
  EXPECT_EQ(nodes[0].host_id, "host-c");
  EXPECT_EQ(nodes[1].host_id, "host-b");
  EXPECT_EQ(nodes[2].host_id, "host-a");
  // Two more replicas for shard 1 (hosts a, b used): one on c, the other shares a host.
  add = {{"g-0001-003", "0001", 3, std::nullopt}, {"g-0001-004", "0001", 4, std::nullopt}};
  nodes.assign(2, NodeRecord{});
  ASSERT_TRUE(PlaceNewReplicas(snap, g, add, 60000, nodes).ok());
  EXPECT_NE(nodes[0].host_id, nodes[1].host_id);
  EXPECT_TRUE(nodes[0].host_id == "host-c" || nodes[1].host_id == "host-c");
  EXPECT_NE(nodes[0].port, 0u);
  // A preferred AZ wins even if the shard uses it.
  add = {{"g-0001-003", "0001", 3, std::string("lab-a")}};
  nodes.assign(1, NodeRecord{});
  ASSERT_TRUE(PlaceNewReplicas(snap, g, add, 60000, nodes).ok());
  EXPECT_EQ(nodes[0].az, "lab-a");
  // Every host down -> capacity.
  for (auto& h : snap.hosts) h.state = HostState::kDown;
  auto st = PlaceNewReplicas(snap, g, add, 60000, nodes);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kResourceExhausted);
}

// ---- operations against the fake agents -----------------------------------------------------

using testing::CrashAt;

class ReplicaOpsTest : public testing::FakeFleet {
 protected:
  bool WaitFor(const std::string& id, const std::string& status, int timeout_ms = 15000) {
    return FakeFleet::WaitFor(id, status, timeout_ms);
  }

  void Create(bool cme, bool start = true) {
    if (start) StartApp();
    Params p = {{"ReplicationGroupId", "g"}, {"ReplicationGroupDescription", "d"}};
    if (cme) {
      p["NumNodeGroups"] = "3";
      p["ReplicasPerNodeGroup"] = "1";
    } else {
      p["NumCacheClusters"] = "2";
    }
    ASSERT_FALSE(Call("CreateReplicationGroup", p));
    ASSERT_TRUE(WaitFor("g", "available"));
  }

  // Every node group has `replicas` replicas on hosts distinct from each other (3 hosts), each
  // following its primary in the fake network; store and network agree on the nodes.
  void ExpectReplicas(int replicas) {
    GroupView v = View("g");
    EXPECT_EQ(v.group.status, GroupStatus::kAvailable);
    std::lock_guard lk(net_->mu);
    EXPECT_EQ(net_->nodes.size(), v.nodes.size());
    for (const auto& ng : v.node_groups) {
      std::vector<const NodeRecord*> members;
      for (const auto& n : v.nodes)
        if (n.node_group_id == ng.node_group_id) members.push_back(&n);
      EXPECT_EQ(members.size(), static_cast<size_t>(replicas + 1)) << ng.node_group_id;
      std::set<std::string> hosts;
      const testing::FakeNode* master = nullptr;
      for (const auto* n : members) {
        hosts.insert(n->host_id);
        EXPECT_EQ(n->status, "available");
        auto it = net_->nodes.find(n->node_id);
        ASSERT_NE(it, net_->nodes.end()) << n->node_id;
        if (it->second.role == "master") master = &it->second;
      }
      EXPECT_EQ(hosts.size(), std::min<size_t>(members.size(), 3)) << ng.node_group_id;
      ASSERT_NE(master, nullptr);
      for (const auto* n : members) {
        const auto& fn = net_->nodes.at(n->node_id);
        if (&fn == master) continue;
        EXPECT_EQ(fn.role, "slave") << n->node_id;
        if (v.group.cluster_enabled)
          EXPECT_EQ(fn.master_cluster_node_id, master->cluster_node_id) << n->node_id;
        else
          EXPECT_EQ(fn.master_port, master->port) << n->node_id;
      }
    }
  }

  bool HasEvent(const std::string& prefix) {
    auto events = store().ListEvents("g");
    if (!events) return false;
    for (const auto& e : *events)
      if (e.message.rfind(prefix, 0) == 0) return true;
    return false;
  }
};

const Params kUp2 = {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                     {"NewReplicaCount", "2"}};
const Params kDown1 = {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                       {"NewReplicaCount", "1"}};

TEST_F(ReplicaOpsTest, ClusterModeUpAndDown) {
  Create(true);
  pugi::xml_document doc;
  ASSERT_FALSE(Call("IncreaseReplicaCount", kUp2, &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "modifying");
  EXPECT_EQ(View("g").nodes.size(), 9u);
  ASSERT_TRUE(WaitFor("g", "available"));
  ExpectReplicas(2);
  EXPECT_TRUE(HasEvent("Increasing the replica count"));
  EXPECT_TRUE(HasEvent("Finished increasing the replica count"));

  int forgets_before = 0;
  for (auto& a : agents_) forgets_before += a->forget_calls;
  ASSERT_FALSE(Call("DecreaseReplicaCount", kDown1));
  ASSERT_TRUE(WaitFor("g", "available"));
  ExpectReplicas(1);
  int forgets = 0;
  for (auto& a : agents_) forgets += a->forget_calls;
  EXPECT_GE(forgets - forgets_before, 6);  // every remaining node forgets, twice
  // The highest-numbered replicas went.
  for (const auto& n : View("g").nodes) EXPECT_LE(n.member_index, 2) << n.node_id;
  EXPECT_TRUE(HasEvent("Finished decreasing the replica count"));
}

TEST_F(ReplicaOpsTest, ClusterModeDisabledUpAndDownByName) {
  Create(false);
  Params p = kUp2;
  p["NewReplicaCount"] = "3";
  ASSERT_FALSE(Call("IncreaseReplicaCount", p));
  ASSERT_TRUE(WaitFor("g", "available"));
  ExpectReplicas(3);
  ASSERT_FALSE(Call("DecreaseReplicaCount", {{"ReplicationGroupId", "g"},
                                                    {"ApplyImmediately", "true"},
                                                    {"ReplicasToRemove.member.1", "g-002"},
                                                    {"ReplicasToRemove.member.2", "g-004"}}));
  ASSERT_TRUE(WaitFor("g", "available"));
  ExpectReplicas(1);
  std::set<std::string> ids;
  for (const auto& n : View("g").nodes) ids.insert(n.node_id);
  EXPECT_EQ(ids, (std::set<std::string>{"g-001", "g-003"}));
  // Down to zero replicas (no automatic failover).
  p = kDown1;
  p["NewReplicaCount"] = "0";
  ASSERT_FALSE(Call("DecreaseReplicaCount", p));
  ASSERT_TRUE(WaitFor("g", "available"));
  EXPECT_EQ(View("g").nodes.size(), 1u);
}

TEST_F(ReplicaOpsTest, NewReplicasFollowTheCurrentPrimary) {
  Create(false);
  // The replica took over (as after a failover): g-002 is master, g-001 its replica.
  {
    std::lock_guard lk(net_->mu);
    auto& a = net_->nodes.at("g-001");
    auto& b = net_->nodes.at("g-002");
    b.role = "master";
    b.master_port = 0;
    b.master_host.clear();
    a.role = "slave";
    a.master_host = b.address;
    a.master_port = b.port;
  }
  // Let a poll record the roles.
  ASSERT_FALSE(Call("IncreaseReplicaCount", kUp2));
  ASSERT_TRUE(WaitFor("g", "available"));
  std::lock_guard lk(net_->mu);
  const auto& b = net_->nodes.at("g-002");
  EXPECT_EQ(net_->nodes.at("g-003").role, "slave");
  EXPECT_EQ(net_->nodes.at("g-003").master_port, b.port);
}

TEST_F(ReplicaOpsTest, RejectionsChangeNothing) {
  Create(true);
  struct Case {
    std::string action;
    Params p;
    std::string code;
  };
  const std::string cs = "ReplicaConfiguration.ConfigureShard.1.";
  std::vector<Case> cases = {
      {"IncreaseReplicaCount", {{"ReplicationGroupId", "nope"}, {"ApplyImmediately", "true"},
                                {"NewReplicaCount", "2"}}, "ReplicationGroupNotFoundFault"},
      {"IncreaseReplicaCount", {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                                {"NewReplicaCount", "1"}}, "NoOperationFault"},
      {"IncreaseReplicaCount", {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                                {"NewReplicaCount", "6"}}, "InvalidParameterValue"},
      {"IncreaseReplicaCount", {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "false"},
                                {"NewReplicaCount", "2"}}, "InvalidParameterValue"},
      {"DecreaseReplicaCount", {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                                {"NewReplicaCount", "0"}}, "InvalidParameterValue"},
      {"DecreaseReplicaCount", {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                                {"ReplicasToRemove.member.1", "g-0001-001"}},
       "InvalidParameterValue"},
      {"IncreaseReplicaCount", {{"ReplicationGroupId", "g"}, {"ApplyImmediately", "true"},
                                {cs + "NodeGroupId", "0009"}, {cs + "NewReplicaCount", "2"}},
       "InvalidParameterValue"},
  };
  for (const auto& c : cases) {
    auto e = Call(c.action, c.p);
    ASSERT_TRUE(e) << c.code;
    EXPECT_EQ(e->code, c.code) << e->message;
  }
  // No capacity: every host is full.
  LimitHosts(2);
  auto e = Call("IncreaseReplicaCount", kUp2);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InsufficientCacheClusterCapacity");
  GroupView v = View("g");
  EXPECT_EQ(v.group.status, GroupStatus::kAvailable);
  EXPECT_EQ(v.nodes.size(), 6u);
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
  EXPECT_FALSE(HasEvent("Increasing"));
  EXPECT_FALSE(HasEvent("Decreasing"));
}

TEST_F(ReplicaOpsTest, OneChangeAtATime) {
  Create(true);
  for (auto& a : agents_) a->fail_all = true;  // the increase cannot progress
  ASSERT_FALSE(Call("IncreaseReplicaCount", kUp2));
  auto e = Call("DecreaseReplicaCount", kDown1);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidReplicationGroupState");
  e = Call("DeleteReplicationGroup", {{"ReplicationGroupId", "g"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidReplicationGroupState");
  for (auto& a : agents_) a->fail_all = false;
  ASSERT_TRUE(WaitFor("g", "available"));
  ExpectReplicas(2);
}

// A crash before the commit of every step, then a fresh process resumes.
class ReplicaCrashTest : public ReplicaOpsTest,
                         public ::testing::WithParamInterface<std::tuple<bool, bool, OpState>> {};

TEST_P(ReplicaCrashTest, SurvivesACrashBeforeAnyCommit) {
  const auto [cme, increase, at] = GetParam();
  Create(cme);
  if (!increase) {
    Params p = kUp2;
    ASSERT_FALSE(Call("IncreaseReplicaCount", p));
    ASSERT_TRUE(WaitFor("g", "available"));
  }
  app().StopRunner();
  NewApp();
  CrashAt crash(Handler(OpKind::kIncreaseReplicas), at);
  StartWith({OpKind::kIncreaseReplicas, OpKind::kDecreaseReplicas}, &crash);
  ASSERT_FALSE(Call(increase ? "IncreaseReplicaCount" : "DecreaseReplicaCount",
                           increase ? kUp2 : kDown1));
  ASSERT_TRUE(WaitUntil([&] { return crash.crashed(); }));
  Restart();
  ASSERT_TRUE(WaitFor("g", "available", 30000));
  ExpectReplicas(increase ? 2 : 1);
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, ReplicaCrashTest,
    ::testing::Values(std::make_tuple(true, true, OpState::kPending),
                      std::make_tuple(true, true, OpState::kLaunchNodes),
                      std::make_tuple(true, true, OpState::kMeet),
                      std::make_tuple(true, true, OpState::kAwaitMembership),
                      std::make_tuple(true, true, OpState::kReplicate),
                      std::make_tuple(true, true, OpState::kAwaitHealthy),
                      std::make_tuple(false, true, OpState::kLaunchNodes),
                      std::make_tuple(false, true, OpState::kReplicate),
                      std::make_tuple(false, true, OpState::kAwaitHealthy),
                      std::make_tuple(true, false, OpState::kPending),
                      std::make_tuple(true, false, OpState::kForgetNodes),
                      std::make_tuple(true, false, OpState::kStopNodes),
                      std::make_tuple(false, false, OpState::kPending),
                      std::make_tuple(false, false, OpState::kStopNodes)),
    [](const auto& info) {
      std::string n = std::string(std::get<0>(info.param) ? "cme_" : "cmd_") +
                      (std::get<1>(info.param) ? "up_" : "down_") +
                      OpStateName(std::get<2>(info.param));
      for (auto& c : n)
        if (c == '-') c = '_';
      return n;
    });

TEST_F(ReplicaOpsTest, DeleteRetainingThePrimary) {
  Create(false);
  Params p = kUp2;
  ASSERT_FALSE(Call("IncreaseReplicaCount", p));
  ASSERT_TRUE(WaitFor("g", "available"));
  const NodeRecord primary = View("g").nodes[0];
  ASSERT_EQ(primary.node_id, "g-001");
  pugi::xml_document doc;
  ASSERT_FALSE(Call("DeleteReplicationGroup",
                           {{"ReplicationGroupId", "g"}, {"RetainPrimaryCluster", "true"}}, &doc));
  EXPECT_STREQ(doc.child("Result").child("ReplicationGroup").child_value("Status"), "deleting");
  ASSERT_TRUE(WaitUntil([&] { return !*store().GetGroup("g"); }));
  auto standalone = store().ListStandaloneClusters();
  ASSERT_TRUE(standalone.ok());
  ASSERT_EQ(standalone->size(), 1u);
  EXPECT_EQ((*standalone)[0].cluster_id, "g-001");
  EXPECT_EQ((*standalone)[0].former_group_id, "g");
  EXPECT_EQ((*standalone)[0].port, primary.port);
  EXPECT_EQ((*standalone)[0].cache_node_type, "cache.t3.micro");
  {
    std::lock_guard lk(net_->mu);
    ASSERT_EQ(net_->nodes.size(), 1u);
    EXPECT_EQ(net_->nodes.begin()->first, "g-001");
  }
  auto events = store().ListEvents("g-001");
  ASSERT_TRUE(events.ok());
  EXPECT_FALSE(events->empty());
  // The retained node's port stays reserved: a new group never gets it on that host.
  ASSERT_FALSE(Call("CreateReplicationGroup", {{"ReplicationGroupId", "h"},
                                                      {"ReplicationGroupDescription", "d"},
                                                      {"NumCacheClusters", "6"}}));
  ASSERT_TRUE(WaitFor("h", "available"));
  for (const auto& n : View("h").nodes)
    EXPECT_FALSE(n.host_id == primary.host_id && n.port == primary.port) << n.node_id;
}

TEST_F(ReplicaOpsTest, RetainPrimaryRefusedForClusterMode) {
  Create(true);
  auto e = Call("DeleteReplicationGroup",
                       {{"ReplicationGroupId", "g"}, {"RetainPrimaryCluster", "true"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidParameterValue");
  EXPECT_EQ(View("g").group.status, GroupStatus::kAvailable);
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
}

TEST_F(ReplicaOpsTest, RetainPrimarySurvivesACrashAtStopNodes) {
  Create(false);
  app().StopRunner();
  NewApp();
  CrashAt crash(Handler(OpKind::kIncreaseReplicas), OpState::kStopNodes);
  StartWith({OpKind::kIncreaseReplicas, OpKind::kDecreaseReplicas}, &crash);
  ASSERT_FALSE(Call("DeleteReplicationGroup",
                           {{"ReplicationGroupId", "g"}, {"RetainPrimaryCluster", "true"}}));
  ASSERT_TRUE(WaitUntil([&] { return crash.crashed(); }));
  Restart();
  ASSERT_TRUE(WaitUntil([&] { return !*store().GetGroup("g"); }));
  ASSERT_EQ(store().ListStandaloneClusters()->size(), 1u);
  std::lock_guard lk(net_->mu);
  EXPECT_EQ(net_->nodes.size(), 1u);
}

TEST_F(ReplicaOpsTest, ModifySettingsAreValidatedStoredAndReturned) {
  Create(false);
  pugi::xml_document doc;
  ASSERT_FALSE(Call("ModifyReplicationGroup",
                           {{"ReplicationGroupId", "g"},
                            {"ReplicationGroupDescription", "new words"},
                            {"SnapshottingClusterId", "G-002"},
                            {"SnapshotWindow", "03:00-04:00"},
                            {"PreferredMaintenanceWindow", "TUE:01:00-tue:02:30"},
                            {"NotificationTopicArn", "arn:aws:sns:us-east-1:1:t"},
                            {"NotificationTopicStatus", "inactive"},
                            {"SecurityGroupIds.SecurityGroupId.1", "sg-9"},
                            {"AutoMinorVersionUpgrade", "false"},
                            {"ApplyImmediately", "false"}},
                           &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Description"), "new words");
  EXPECT_STREQ(rg.child_value("SnapshottingClusterId"), "g-002");
  EXPECT_STREQ(rg.child_value("SnapshotWindow"), "03:00-04:00");
  EXPECT_STREQ(rg.child_value("Status"), "available");
  GroupView v = View("g");
  EXPECT_EQ(v.group.description, "new words");
  EXPECT_EQ(v.group.preferred_maintenance_window, "tue:01:00-tue:02:30");
  EXPECT_EQ(v.group.notification_topic_arn, "arn:aws:sns:us-east-1:1:t");
  EXPECT_EQ(v.group.notification_topic_status, "inactive");
  EXPECT_EQ(v.group.security_group_ids, std::vector<std::string>{"sg-9"});
  EXPECT_FALSE(v.group.auto_minor_version_upgrade);
  EXPECT_TRUE(HasEvent("Modified replication group g"));
  struct Case {
    Params p;
    std::string code;
  };
  std::vector<Case> cases = {
      {{{"ReplicationGroupDescription", std::string(256, 'x')}}, "InvalidParameterValue"},
      {{{"SnapshottingClusterId", "g-009"}}, "CacheClusterNotFound"},
      {{{"SnapshotRetentionLimit", "-1"}}, "InvalidParameterValue"},
      {{{"SnapshotRetentionLimit", "3"}}, "InvalidParameterValue"},
      {{{"SnapshotWindow", "3-4"}}, "InvalidParameterValue"},
      {{{"PreferredMaintenanceWindow", "sun:01:00-sun:01:30"}}, "InvalidParameterValue"},
      {{{"NotificationTopicArn", "topic"}}, "InvalidParameterValue"},
      {{{"NotificationTopicStatus", "on"}}, "InvalidParameterValue"},
      {{{"AutoMinorVersionUpgrade", "yes"}}, "InvalidParameterValue"},
      {{{"AuthToken", "0123456789abcdef"}}, "InvalidParameterValue"},  // no set handles it
  };
  for (auto c : cases) {
    c.p["ReplicationGroupId"] = "g";
    auto e = Call("ModifyReplicationGroup", c.p);
    ASSERT_TRUE(e) << c.code;
    EXPECT_EQ(e->code, c.code) << e->message;
  }
  EXPECT_EQ(View("g").group.description, "new words");
}

TEST(ReplicaCountStates, Transitions) {
  const auto cme = Topology::kClusterModeEnabled, cmd = Topology::kClusterModeDisabled;
  EXPECT_EQ(NextState(OpKind::kIncreaseReplicas, cme, OpState::kLaunchNodes), OpState::kMeet);
  EXPECT_EQ(NextState(OpKind::kIncreaseReplicas, cmd, OpState::kLaunchNodes), OpState::kReplicate);
  EXPECT_EQ(NextState(OpKind::kDecreaseReplicas, cme, OpState::kPending), OpState::kForgetNodes);
  EXPECT_EQ(NextState(OpKind::kDecreaseReplicas, cmd, OpState::kPending), OpState::kStopNodes);
  EXPECT_FALSE(IsValidTransition(OpKind::kIncreaseReplicas, cmd, OpState::kLaunchNodes,
                                 OpState::kMeet));
  EXPECT_FALSE(IsValidTransition(OpKind::kDecreaseReplicas, cme, OpState::kPending,
                                 OpState::kStopNodes));
  EXPECT_TRUE(IsValidTransition(OpKind::kDecreaseReplicas, cmd, OpState::kStopNodes,
                                OpState::kSucceeded));
  EXPECT_EQ(ParseOpKind("increase-replica-count"), OpKind::kIncreaseReplicas);
  EXPECT_EQ(ParseOpKind("decrease-replica-count"), OpKind::kDecreaseReplicas);
}

}  // namespace
}  // namespace cf::orchestrator
