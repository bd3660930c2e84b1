// Rolling restart: the pure order (replicas first, switch-over, old primary; a node group
// without replica in place), the payload, and the operation end to end against the in-process
// fake agents (real gRPC): static parameters of a user parameter group, RebootCacheCluster,
// EngineVersion, with their faults, and crashes before every commit followed by a resume in a
// fresh orchestrator (no node restarted twice, every event once).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "orchestrator/rolling_restart/rolling_restart_frontend.h"
#include "orchestrator/rolling_restart/rolling_restart_reconciler.h"
#include "orchestrator/rolling_restart/rolling_restart_types.h"
#include "orchestrator/parameters/parameters_feature.h"
#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;

// ---------------------------------------------------------------------------------------------
// pure

NodeRecord Member(const std::string& id, const std::string& ng, int member, bool primary) {
  NodeRecord n;
  n.node_id = id;
  n.node_group_id = ng;
  n.member_index = member;
  n.desired_role = primary ? NodeRole::kPrimary : NodeRole::kReplica;
  return n;
}

GroupView TwoShards(bool second_has_replica) {
  GroupView v;
  v.group.id = "g";
  v.group.cluster_enabled = true;
  for (const char* ng : {"0001", "0002"}) {
    NodeGroupRecord r;
    r.node_group_id = ng;
    v.node_groups.push_back(r);
  }
  v.nodes = {Member("g-0001-001", "0001", 1, true), Member("g-0001-002", "0001", 2, false),
             Member("g-0001-003", "0001", 3, false), Member("g-0002-001", "0002", 1, true)};
  if (second_has_replica) v.nodes.push_back(Member("g-0002-002", "0002", 2, false));
  return v;
}

// Walks the plan as the reconciler would, assuming every action succeeds.
std::vector<std::string> Walk(GroupView v, RollingRestartPayload p) {
  std::vector<std::string> out;
  for (int guard = 0; guard < 50; ++guard) {
    RestartAction a = NextRestartAction(v, p);
    if (a.kind == RestartAction::kDone) break;
    if (a.kind == RestartAction::kRestart) {
      out.push_back(std::string(a.in_place_primary ? "in-place " : "restart ") + a.node_id);
      p.progress[a.node_id].phase = "restarted";
    } else if (a.kind == RestartAction::kAwait) {
      p.progress[a.node_id].phase = "done";
    } else {
      out.push_back("switch " + a.node_id + "->" + a.candidates.front());
      p.switch_to[a.node_group_id] = a.candidates.front();
      p.switched[a.node_group_id] = true;
      for (auto& n : v.nodes)
        if (n.node_group_id == a.node_group_id)
          n.desired_role =
              n.node_id == a.candidates.front() ? NodeRole::kPrimary : NodeRole::kReplica;
    }
  }
  return out;
}

TEST(RollingRestartPlan, ReplicasFirstThenSwitchOverThenTheOldPrimary) {
  GroupView v = TwoShards(true);
  RollingRestartPayload p;
  for (const auto& n : v.nodes) p.nodes.push_back(n.node_id);
  EXPECT_EQ(Walk(v, p), (std::vector<std::string>{
                            "restart g-0001-002", "restart g-0001-003",
                            "switch g-0001-001->g-0001-002", "restart g-0001-001",
                            "restart g-0002-002", "switch g-0002-001->g-0002-002",
                            "restart g-0002-001"}));
}

TEST(RollingRestartPlan, ANodeGroupWithoutReplicaRestartsItsPrimaryInPlace) {
  GroupView v = TwoShards(false);
  RollingRestartPayload p;
  p.nodes = {"g-0002-001"};
  EXPECT_EQ(Walk(v, p), (std::vector<std::string>{"in-place g-0002-001"}));
}

TEST(RollingRestartPlan, OnlyTheTargetsAndAPrimaryTargetSwitchesToAHealthyReplica) {
  GroupView v = TwoShards(true);
  RollingRestartPayload p;
  p.nodes = {"g-0001-001"};  // RebootCacheCluster of a primary with replicas: switch first
  EXPECT_EQ(Walk(v, p), (std::vector<std::string>{"switch g-0001-001->g-0001-002",
                                                  "restart g-0001-001"}));
  p.nodes = {"g-0001-003"};
  EXPECT_EQ(Walk(v, p), (std::vector<std::string>{"restart g-0001-003"}));
  // A restarted replica is preferred for the switch-over.
  p.nodes = {"g-0001-003", "g-0001-001"};
  EXPECT_EQ(Walk(v, p), (std::vector<std::string>{"restart g-0001-003",
                                                  "switch g-0001-001->g-0001-003",
                                                  "restart g-0001-001"}));
}

TEST(RollingRestartPlan, AResumedOperationFinishesTheNodeOnItsWayFirst) {
  GroupView v = TwoShards(true);
  RollingRestartPayload p;
  for (const auto& n : v.nodes) p.nodes.push_back(n.node_id);
  p.progress["g-0001-003"].phase = "restarting";
  auto a = NextRestartAction(v, p);
  EXPECT_EQ(a.kind, RestartAction::kRestart);
  EXPECT_EQ(a.node_id, "g-0001-003");
  p.progress["g-0001-003"].phase = "done";
  p.progress["g-0001-002"].phase = "done";
  p.switch_to["0001"] = "g-0001-003";  // persisted, promotion not recorded yet
  a = NextRestartAction(v, p);
  EXPECT_EQ(a.kind, RestartAction::kSwitchOver);
  EXPECT_EQ(a.candidates, std::vector<std::string>{"g-0001-003"});
}

TEST(RollingRestartPlan, PayloadRoundTripAndTransitions) {
  RollingRestartPayload p;
  p.reason = RestartReason::kEngineVersion;
  p.engine_version = "7.2.4";
  p.nodes = {"a", "b"};
  p.progress["a"] = {"restarting", 4242, 7};
  p.switch_to["0001"] = "b";
  p.switched["0001"] = true;
  auto back = RollingRestartPayloadFromJson(RollingRestartPayloadToJson(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->reason, RestartReason::kEngineVersion);
  EXPECT_EQ(back->engine_version, "7.2.4");
  EXPECT_EQ(back->nodes, p.nodes);
  EXPECT_EQ(back->progress["a"].pid_before, 4242);
  EXPECT_EQ(back->progress["a"].generation, 7);
  EXPECT_EQ(back->switch_to["0001"], "b");
  EXPECT_TRUE(back->switched["0001"]);
  EXPECT_FALSE(RollingRestartPayloadFromJson("{}").ok());
  const auto k = OpKind::kRollingRestart;
  const auto cme = Topology::kClusterModeEnabled;
  EXPECT_EQ(ParseOpKind(OpKindName(k)), k);
  EXPECT_EQ(ParseOpState(OpStateName(OpState::kRestartNodes)), OpState::kRestartNodes);
  EXPECT_TRUE(IsValidTransition(k, cme, OpState::kPending, OpState::kRestartNodes));
  EXPECT_TRUE(IsValidTransition(k, cme, OpState::kRestartNodes, OpState::kSucceeded));
  EXPECT_TRUE(IsValidTransition(k, cme, OpState::kPending, OpState::kSucceeded));
  EXPECT_FALSE(IsValidTransition(k, cme, OpState::kRestartNodes, OpState::kFailed));
  EXPECT_FALSE(IsValidTransition(k, cme, OpState::kSucceeded, OpState::kRestartNodes));
}

// ---------------------------------------------------------------------------------------------
// end to end against the fake agents

std::string FaultCode(const std::optional<api::ApiError>& e) { return e ? e->code : "ok"; }

class RollingRestartTest : public testing::FakeFleet {
 protected:
  void Configure(OrchestratorConfig& cfg) override {
    cfg.failover.restart_ready_timeout_ms = 1000;
    cfg.failover.failover_timeout_ms = 1000;
    cfg.cluster_node_timeout_ms = 100;  // the rolling restart's cluster settle: 20 ms
  }
  // One applier pass and the trigger, as the App's applier loop does.
  int ApplyAndTrigger() {
    app().parameters().applier.RunOnce();
    return StartPendingRollingRestarts(store(), [this](int64_t id) { app().Poke(id); });
  }

  bool WaitIdle(const std::string& id, int timeout_ms = 15000) {
    return WaitFor(id, "available", timeout_ms);
  }

  void Create(const Params& p) {
    ASSERT_EQ(FaultCode(Call("CreateReplicationGroup", p)), "ok");
    ASSERT_TRUE(WaitIdle(p.at("ReplicationGroupId")));
  }

  void CreateParameterGroup(const std::string& name, bool cluster) {
    ASSERT_EQ(FaultCode(Call("CreateCacheParameterGroup",
                                    {{"CacheParameterGroupName", name},
                                     {"CacheParameterGroupFamily", "redis7"},
                                     {"Description", "d"}})),
              "ok");
    if (cluster)
      SetParameter(name, "cluster-enabled", "yes");
  }
  void SetParameter(const std::string& pg, const std::string& k, const std::string& v) {
    ASSERT_EQ(FaultCode(Call(
                  "ModifyCacheParameterGroup",
                  {{"CacheParameterGroupName", pg},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterName", k},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterValue", v}})),
              "ok");
  }

  std::vector<std::string> Messages(const std::string& source) { return EventMessages(source); }
  int Count(const std::vector<std::string>& v, const std::string& needle) {
    return static_cast<int>(
        std::count_if(v.begin(), v.end(), [&](const std::string& s) {
          return s.find(needle) != std::string::npos;
        }));
  }
  std::vector<std::string> Restarts() {
    std::lock_guard lk(net_->mu);
    return net_->restarts;
  }
  std::vector<std::string> Promotions() {
    std::lock_guard lk(net_->mu);
    return net_->promotions;
  }
  std::string Running(const std::string& node, const std::string& key) {
    std::lock_guard lk(net_->mu);
    auto& r = net_->nodes.at(node).running;
    return r.count(key) ? r.at(key) : "";
  }
  std::string Role(const std::string& node) {
    std::lock_guard lk(net_->mu);
    return net_->nodes.at(node).role;
  }
  std::string Primary(const GroupView& v, const std::string& ng) {
    for (const auto& n : v.nodes)
      if (n.node_group_id == ng && n.desired_role == NodeRole::kPrimary) return n.node_id;
    return "";
  }

  // A cluster-mode-enabled 2x1 group "cme" using the user parameter group "pg" (cluster on).
  void CreateCme() {
    CreateParameterGroup("pg", true);
    Create({{"ReplicationGroupId", "cme"},
            {"ReplicationGroupDescription", "2x1"},
            {"NumNodeGroups", "2"},
            {"ReplicasPerNodeGroup", "1"},
            {"CacheParameterGroupName", "pg"}});
    app().parameters().applier.RunOnce();  // the values (cluster-enabled is never sent) -> in-sync
    const auto statuses = *store().ParameterApplyStatuses();
    for (const auto& [id, st] : statuses) EXPECT_EQ(st, "in-sync") << id;
  }
};

TEST_F(RollingRestartTest, StaticParameterAppliedByARollingRestartReplicasFirst) {
  StartApp();
  CreateCme();
  const GroupView before = View("cme");
  const std::string p1 = Primary(before, "0001"), p2 = Primary(before, "0002");
  SetParameter("pg", "databases", "32");
  SetParameter("pg", "timeout", "7");  // dynamic, in the same generation range
  const auto statuses = *store().ParameterApplyStatuses();
  for (const auto& [id, st] : statuses) EXPECT_EQ(st, "pending-reboot") << id;
  EXPECT_EQ(ApplyAndTrigger(), 1);
  EXPECT_EQ(GroupStatusName(View("cme").group.status), std::string("modifying"));
  EXPECT_EQ(ApplyAndTrigger(), 0);  // one operation at a time
  ASSERT_TRUE(WaitIdle("cme"));

  // Per node group: the replica, then (after the switch-over to it) the old primary.
  const auto restarts = Restarts();
  ASSERT_EQ(restarts.size(), 4u);
  auto pos = [&](const std::string& id) {
    return std::find(restarts.begin(), restarts.end(), id) - restarts.begin();
  };
  for (const auto& ng : {"0001", "0002"}) {
    std::string prim = Primary(before, ng), repl;
    for (const auto& n : before.nodes)
      if (n.node_group_id == ng && n.node_id != prim) repl = n.node_id;
    EXPECT_LT(pos(repl), pos(prim)) << ng;
    EXPECT_EQ(Primary(View("cme"), ng), repl) << "the switch-over is recorded";
    EXPECT_EQ(Role(repl), "master");
    EXPECT_EQ(Role(prim), "slave");
  }
  EXPECT_EQ(Promotions().size(), 2u);
  {
    std::lock_guard lk(net_->mu);
    for (const auto& m : net_->failover_methods) EXPECT_EQ(m, "CLUSTER FAILOVER");
  }
  for (const auto& n : View("cme").nodes) {
    EXPECT_EQ(Running(n.node_id, "databases"), "32") << n.node_id;
    EXPECT_EQ(Running(n.node_id, "timeout"), "7") << n.node_id;
    EXPECT_EQ(n.status, "available");
    EXPECT_EQ(store().ParameterApplyStatuses()->at(n.node_id), "in-sync");
  }
  auto ev = Messages("cme");
  EXPECT_EQ(Count(ev, "Rolling restart of replication group cme started"), 1);
  EXPECT_EQ(Count(ev, "Finished rolling restart of replication group cme"), 1);
  EXPECT_EQ(Count(ev, "Failover from primary node " + p1), 1);
  EXPECT_EQ(Count(ev, "Failover from primary node " + p2), 1);
  for (const auto& n : before.nodes) {
    EXPECT_EQ(Count(Messages(n.node_id), "Cache node 0001 restarted"), 1) << n.node_id;
    EXPECT_EQ(Count(Messages(n.node_id), "Rebooting cache node 0001"), 1) << n.node_id;
  }
  // Nothing left to do.
  EXPECT_EQ(ApplyAndTrigger(), 0);
  EXPECT_EQ(Restarts().size(), 4u);
}

TEST_F(RollingRestartTest, ABusyGroupGetsItsRollingRestartOnceAvailable) {
  StartApp();
  CreateCme();
  SetParameter("pg", "databases", "4");
  // Another operation is running (simulated: the group is modifying).
  FailoverChange busy;
  busy.group_status = "modifying";
  OperationRecord op;
  op.group_id = "cme";
  op.kind = OpKind::kModifyFailover;
  op.topology = Topology::kClusterModeEnabled;
  op.payload = "{}";
  auto r = store().BeginGroupOperation("cme", op, nullptr, busy);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ApplyAndTrigger(), 0);
  auto rec = **store().GetOperation(r->second);
  FailoverChange done;
  done.group_status = "available";
  ASSERT_TRUE(store().TransitionWithChange(rec, OpState::kSucceeded, "", done).ok());
  EXPECT_EQ(ApplyAndTrigger(), 1);
  ASSERT_TRUE(WaitIdle("cme"));
  for (const auto& n : View("cme").nodes) EXPECT_EQ(Running(n.node_id, "databases"), "4");
}

TEST_F(RollingRestartTest, RebootCacheClusterOfAPrimaryWithoutReplicaRestartsItInPlace) {
  StartApp();
  Create({{"ReplicationGroupId", "solo"},
          {"ReplicationGroupDescription", "one node"},
          {"NumCacheClusters", "1"}});
  const std::string node = View("solo").nodes.at(0).node_id;
  pugi::xml_document doc;
  ASSERT_EQ(FaultCode(Call("RebootCacheCluster",
                                  {{"CacheClusterId", node},
                                   {"CacheNodeIdsToReboot.CacheNodeId.1", "0001"}},
                                  &doc)),
            "ok");
  auto cc = doc.child("Result").child("CacheCluster");
  EXPECT_STREQ(cc.child_value("CacheClusterId"), node.c_str());
  EXPECT_STREQ(cc.child_value("CacheClusterStatus"), "rebooting cluster nodes");
  ASSERT_TRUE(WaitIdle("solo"));
  EXPECT_EQ(Restarts(), std::vector<std::string>{node});
  EXPECT_TRUE(Promotions().empty());
  EXPECT_EQ(Role(node), "master");
  EXPECT_EQ(View("solo").nodes.at(0).status, "available");
  EXPECT_EQ(Count(Messages(node), "Cache node 0001 restarted"), 1);
  EXPECT_EQ(Count(Messages(node), "Rebooting cache node 0001 of cache cluster " + node), 1);
}

TEST_F(RollingRestartTest, RebootCacheClusterOfAPrimarySwitchesOverFirstWithAutomaticFailover) {
  StartApp();
  Create({{"ReplicationGroupId", "cmd"},
          {"ReplicationGroupDescription", "primary + 1"},
          {"NumCacheClusters", "2"},
          {"AutomaticFailoverEnabled", "true"}});
  const GroupView v = View("cmd");
  const std::string prim = Primary(v, "0001");
  std::string repl;
  for (const auto& n : v.nodes)
    if (n.node_id != prim) repl = n.node_id;
  ASSERT_EQ(FaultCode(Call("RebootCacheCluster",
                                  {{"CacheClusterId", prim},
                                   {"CacheNodeIdsToReboot.CacheNodeId.1", "0001"}})),
            "ok");
  ASSERT_TRUE(WaitIdle("cmd"));
  EXPECT_EQ(Restarts(), std::vector<std::string>{prim});
  EXPECT_EQ(Promotions(), std::vector<std::string>{repl});
  EXPECT_EQ(Primary(View("cmd"), "0001"), repl);
  EXPECT_EQ(Role(prim), "slave");
  {
    std::lock_guard lk(net_->mu);
    EXPECT_EQ(net_->failover_methods, std::vector<std::string>{"FAILOVER"});
  }
}

TEST_F(RollingRestartTest, RebootCacheClusterFaults) {
  StartApp();
  Create({{"ReplicationGroupId", "cmd"},
          {"ReplicationGroupDescription", "primary + 1"},
          {"NumCacheClusters", "2"}});
  app().StopRunner();  // operations stay recorded (the group stays busy)
  const GroupView v = View("cmd");
  const std::string a = v.nodes.at(0).node_id, b = v.nodes.at(1).node_id;
  auto reboot = [&](Params p) { return Call("RebootCacheCluster", p); };
  const std::string n1 = "CacheNodeIdsToReboot.CacheNodeId.1";
  EXPECT_EQ(FaultCode(reboot({{n1, "0001"}})), "MissingParameter");
  EXPECT_EQ(FaultCode(reboot({{"CacheClusterId", a}})), "MissingParameter");
  EXPECT_EQ(FaultCode(reboot({{"CacheClusterId", "bad--id"}, {n1, "0001"}})),
            "InvalidParameterValue");
  EXPECT_EQ(FaultCode(reboot({{"CacheClusterId", a}, {n1, "0001"}, {"Force", "true"}})),
            "InvalidParameterValue");
  auto e = reboot({{"CacheClusterId", "nope"}, {n1, "0001"}});
  ASSERT_EQ(FaultCode(e), "CacheClusterNotFound");
  EXPECT_EQ(e->http_status, 404);
  EXPECT_EQ(FaultCode(reboot({{"CacheClusterId", a}, {n1, "0001"}, {"CacheNodeIdsToReboot.CacheNodeId.2", "0002"}})),
            "InvalidParameterValue");
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty()) << "a fault writes nothing";
  // Accepted (upper case id too), then the group is busy for any other reboot.
  pugi::xml_document doc;
  std::string upper = a;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_EQ(FaultCode(Call("RebootCacheCluster", {{"CacheClusterId", upper}, {n1, "0001"}},
                                  &doc)),
            "ok");
  EXPECT_STREQ(doc.child("Result").child("CacheCluster").child_value("CacheClusterStatus"),
               "rebooting cluster nodes");
  EXPECT_EQ(FaultCode(reboot({{"CacheClusterId", b}, {n1, "0001"}})), "InvalidCacheClusterState");
  EXPECT_EQ(FaultCode(reboot({{"CacheClusterId", a}, {n1, "0001"}})), "InvalidCacheClusterState");
  pugi::xml_document d2;
  ASSERT_EQ(FaultCode(Call("DescribeCacheClusters", {{"CacheClusterId", a}}, &d2)), "ok");
  EXPECT_STREQ(d2.child("Result").child("CacheClusters").child("CacheCluster").child_value(
                   "CacheClusterStatus"),
               "rebooting cluster nodes");
  // A restarted orchestrator carries it out.
  NewApp();
  StartApp();
  ASSERT_TRUE(WaitIdle("cmd"));
  EXPECT_EQ(Restarts(), std::vector<std::string>{a});
  EXPECT_EQ(View("cmd").nodes.at(0).status, "available");
}

TEST_F(RollingRestartTest, EngineVersionFaultsAndUpgrade) {
  versions_ = {{"7.0.15", "7.2.4"}, {"7.0.15", "7.2.4"}, {"7.0.15", "7.2.4"}};
  NewApp();
  StartApp();
  Create({{"ReplicationGroupId", "cmd"},
          {"ReplicationGroupDescription", "primary + 1"},
          {"NumCacheClusters", "2"},
          {"EngineVersion", "7.0.15"}});
  ASSERT_EQ(View("cmd").group.engine_version, "7.0.15");
  auto modify = [&](const std::string& version, const char* apply = "true") {
    Params p = {{"ReplicationGroupId", "cmd"}, {"EngineVersion", version}};
    if (apply) p["ApplyImmediately"] = apply;
    return Call("ModifyReplicationGroup", p);
  };
  // Not offered by the hosts, named in the fault.
  auto e = modify("6.2");
  ASSERT_EQ(FaultCode(e), "InvalidParameterValue");
  EXPECT_NE(e->message.find("7.0.15, 7.2.4"), std::string::npos) << e->message;
  EXPECT_EQ(FaultCode(modify("7.3")), "InvalidParameterValue");
  EXPECT_EQ(FaultCode(modify("nonsense")), "InvalidParameterValue");
  // ApplyImmediately=false (or absent): validated the same way, recorded for the maintenance
  // window (maintenance_test.cc has the scheduler), nothing started.
  EXPECT_EQ(FaultCode(modify("6.2", "false")), "InvalidParameterValue");
  EXPECT_EQ(FaultCode(modify("7.2", "false")), "ok");
  EXPECT_EQ(FaultCode(modify("7.2", nullptr)), "ok");
  EXPECT_EQ(View("cmd").group.pending_modifications.at("EngineVersion"), "7.2");
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
  // The same version: the group unchanged, no operation; the immediate request supersedes the
  // pending one.
  EXPECT_EQ(FaultCode(modify("7.0.15")), "ok");
  EXPECT_TRUE(View("cmd").group.pending_modifications.empty());
  EXPECT_EQ(FaultCode(modify("7.0")), "ok");  // 7.0 matches 7.0.15 only: the same version
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
  EXPECT_TRUE(Restarts().empty());

  // Upgrade: every node restarted with 7.2.4, replicas first.
  for (auto& a : agents_) a->installed_version = "7.2.4";
  pugi::xml_document doc;
  ASSERT_EQ(FaultCode(Call("ModifyReplicationGroup",
                                  {{"ReplicationGroupId", "cmd"},
                                   {"EngineVersion", "7.2"},
                                   {"ApplyImmediately", "true"}},
                                  &doc)),
            "ok");
  EXPECT_STREQ(doc.child("Result").child("ReplicationGroup").child_value("Status"), "modifying");
  EXPECT_EQ(FaultCode(modify("7.2")), "InvalidReplicationGroupState");
  ASSERT_TRUE(WaitIdle("cmd"));
  const GroupView v = View("cmd");
  EXPECT_EQ(v.group.engine_version, "7.2.4");
  EXPECT_EQ(Restarts().size(), 2u);
  {
    std::lock_guard lk(net_->mu);
    for (const auto& n : v.nodes) EXPECT_EQ(net_->nodes.at(n.node_id).engine_version, "7.2.4");
  }
  EXPECT_EQ(Count(Messages("cmd"), "upgraded to engine version 7.2.4"), 1);
  // No downgrade.
  e = modify("7.0.15");
  ASSERT_EQ(FaultCode(e), "InvalidParameterValue");
  EXPECT_NE(e->message.find("downgrade"), std::string::npos) << e->message;
}

TEST_F(RollingRestartTest, EngineVersionOnlyWhatEveryHostOfTheGroupOffers) {
  versions_ = {{"7.0.15", "7.2.4"}, {"7.0.15", "7.2.4"}, {"7.0.15"}};
  NewApp();
  StartApp();
  Create({{"ReplicationGroupId", "cmd"},
          {"ReplicationGroupDescription", "three nodes, three hosts"},
          {"NumCacheClusters", "3"},
          {"EngineVersion", "7.0.15"}});
  auto e = Call("ModifyReplicationGroup", {{"ReplicationGroupId", "cmd"},
                                                   {"EngineVersion", "7.2.4"},
                                                   {"ApplyImmediately", "true"}});
  ASSERT_EQ(FaultCode(e), "InvalidParameterValue");
  EXPECT_NE(e->message.find("they offer: 7.0.15)"), std::string::npos) << e->message;
}

// Crash before every commit of the restart-nodes steps (2x1 CME, static parameter: restart,
// await, switch-over choice, promotion), then resume in a fresh orchestrator: it finishes, no
// node is restarted twice, no promotion happens twice, every event is written once.
TEST_F(RollingRestartTest, CrashBeforeEveryCommitResumesWithoutRestartingTwice) {
  StartApp();
  CreateCme();
  app().StopRunner();
  const int kSteps = 17;  // 4 nodes x (record, restart, await) + 2 x (choose, promote) + finish
  for (int n = 1; n <= kSteps; ++n) {
    SCOPED_TRACE("crash at step " + std::to_string(n));
    {
      std::lock_guard lk(net_->mu);
      net_->restarts.clear();
      net_->promotions.clear();
    }
    const size_t events_before = Messages("cme").size();
    SetParameter("pg", "databases", std::to_string(n + 1));
    NewApp();
    testing::CrashAt crash(Handler(OpKind::kRollingRestart), OpState::kRestartNodes, n);
    StartWith({OpKind::kRollingRestart}, &crash);
    ASSERT_EQ(ApplyAndTrigger(), 1);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!crash.crashed() && !store().ListUnfinishedOperations()->empty() &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(crash.crashed());
    app().StopRunner();
    NewApp();
    StartApp();
    ASSERT_TRUE(WaitIdle("cme"));
    auto r = Restarts();
    std::sort(r.begin(), r.end());
    EXPECT_EQ(std::adjacent_find(r.begin(), r.end()), r.end()) << "a node restarted twice";
    EXPECT_EQ(r.size(), 4u);
    EXPECT_EQ(Promotions().size(), 2u);
    for (const auto& node : View("cme").nodes) {
      EXPECT_EQ(Running(node.node_id, "databases"), std::to_string(n + 1));
      EXPECT_EQ(store().ParameterApplyStatuses()->at(node.node_id), "in-sync");
    }
    auto ev = Messages("cme");
    EXPECT_EQ(ev.size() - events_before, 4u)  // started, 2 failovers, finished
        << "events: " << ev.size() - events_before;
    app().StopRunner();
  }
  NewApp();
  StartApp();
}

}  // namespace
}  // namespace cf::orchestrator
