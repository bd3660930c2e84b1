// Failover: the pure decisions (replica choice, FORCE/TAKEOVER, rate limit,
// host loss), the state machines, and TestFailover / automatic failover /
// recovery / ModifyReplicationGroup end to end against the in-process fake
// agents (real gRPC), including crashes before every commit followed by a
// resume in a fresh orchestrator.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "orchestrator/failover/failover_types.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/app.h"
#include "orchestrator/failover/failover_feature.h"
#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;

// ---------------------------------------------------------------------------------------------
// pure decisions

NodeRecord Node(const std::string& id, int member) {
  NodeRecord n;
  n.node_id = id;
  n.member_index = member;
  return n;
}

ReplicaCandidate Cand(const NodeRecord& n, int64_t offset, bool up = true,
                      const std::string& state = "running", const std::string& role = "slave") {
  ReplicaCandidate c;
  c.node = &n;
  c.answered = true;
  c.host_up = up;
  c.state = state;
  c.role = role;
  c.repl_offset = offset;
  return c;
}

TEST(FailoverDecisions, ChooseReplicaTakesTheHighestOffsetThenTheLowestMember) {
  NodeRecord a = Node("g-002", 2), b = Node("g-003", 3), c = Node("g-004", 4);
  EXPECT_EQ(ChooseReplica({Cand(a, 100), Cand(b, 300), Cand(c, 200)}), &b);
  EXPECT_EQ(ChooseReplica({Cand(c, 300), Cand(b, 300), Cand(a, 100)}), &b);
  // Dead, unanswering, on a lost host, or not a replica: skipped.
  auto silent = Cand(b, 900);
  silent.answered = false;
  EXPECT_EQ(ChooseReplica({Cand(a, 1), silent, Cand(c, 800, false)}), &a);
  EXPECT_EQ(ChooseReplica({Cand(a, 5, true, "exited"), Cand(b, 1, true, "running", "master")}),
            nullptr);
  EXPECT_EQ(ChooseReplica({}), nullptr);
}

TEST(FailoverDecisions, TakeoverOnlyWithoutAMajorityOfPrimaries) {
  EXPECT_FALSE(NeedsTakeover(2, 3));  // 3 shards, one failed, two answer: FORCE
  EXPECT_TRUE(NeedsTakeover(1, 3));   // two of three primaries gone
  EXPECT_TRUE(NeedsTakeover(0, 1));   // a single shard: nobody can vote
  EXPECT_FALSE(NeedsTakeover(3, 5));
  EXPECT_TRUE(NeedsTakeover(2, 5));
}

TEST(FailoverDecisions, RateLimit) {
  EXPECT_TRUE(TestFailoverAllowed(0, 15));
  EXPECT_TRUE(TestFailoverAllowed(14, 15));
  EXPECT_FALSE(TestFailoverAllowed(15, 15));
  EXPECT_FALSE(TestFailoverAllowed(0, 0));
}

TEST(FailoverDecisions, HostLossNeedsSilenceAndReplicasWithoutLink) {
  HostRecord h;
  h.last_heartbeat_ms = 10000;
  EXPECT_FALSE(HostLost(h, 11000, 1500));
  EXPECT_TRUE(HostLost(h, 11501, 1500));
  NodeRecord r1 = Node("r1", 2), r2 = Node("r2", 3);
  r1.observed.known = r2.observed.known = true;
  r1.observed.state = r2.observed.state = "running";
  r1.observed.master_link_up = false;
  r2.observed.master_link_up = true;
  EXPECT_FALSE(ReplicasLostPrimary({&r1, &r2}));  // one replica still hears the primary
  r2.observed.master_link_up = false;
  EXPECT_TRUE(ReplicasLostPrimary({&r1, &r2}));
  EXPECT_FALSE(ReplicasLostPrimary({}));  // nobody to confirm
  r2.observed.known = false;
  EXPECT_FALSE(ReplicasLostPrimary({&r1, &r2}));
}

TEST(FailoverDecisions, PayloadsRoundTrip) {
  FailoverPayload p;
  p.reason = FailoverReason::kSwitchover;
  p.node_group_id = "0002";
  p.old_primary = "g-0002-001";
  p.new_primary = "g-0002-002";
  p.method = "CLUSTER FAILOVER";
  p.promoted_ms = 42;
  auto back = FailoverPayloadFromJson(FailoverPayloadToJson(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->reason, FailoverReason::kSwitchover);
  EXPECT_EQ(back->new_primary, "g-0002-002");
  EXPECT_EQ(back->promoted_ms, 42);
  auto r = RecoverPayloadFromJson(RecoverPayloadToJson({"g-001", false, "exited"}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->as_replica);
  EXPECT_FALSE(FailoverPayloadFromJson("{}").ok());
}

TEST(FailoverDecisions, EventWording) {
  EXPECT_EQ(TestFailoverCalledEvent("0001"), "Test Failover API called for node group 0001");
  EXPECT_EQ(FailoverCompletedEvent("g-001", "g-002"),
            "Failover from primary node g-001 to replica node g-002 completed");
  EXPECT_EQ(RecoveringEvent(), "Recovering cache nodes 0001");
  EXPECT_EQ(FinishedRecoveryEvent(), "Finished recovery for cache nodes 0001");
}

TEST(FailoverStates, Transitions) {
  const auto cmd = Topology::kClusterModeDisabled;
  const auto k = OpKind::kFailover;
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kPending, OpState::kKillPrimary));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kPending, OpState::kPromote));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kKillPrimary, OpState::kPromote));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kPromote, OpState::kRepointReplicas));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kPromote, OpState::kFailed));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kRepointReplicas, OpState::kRecoverNode));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kRepointReplicas, OpState::kSucceeded));
  EXPECT_TRUE(IsValidTransition(k, cmd, OpState::kRecoverNode, OpState::kSucceeded));
  // No way back once promoted; nothing skips the promotion.
  EXPECT_FALSE(IsValidTransition(k, cmd, OpState::kRepointReplicas, OpState::kFailed));
  EXPECT_FALSE(IsValidTransition(k, cmd, OpState::kKillPrimary, OpState::kRepointReplicas));
  EXPECT_FALSE(IsValidTransition(k, cmd, OpState::kRecoverNode, OpState::kFailed));
  EXPECT_FALSE(IsValidTransition(k, cmd, OpState::kSucceeded, OpState::kPromote));
  EXPECT_TRUE(
      IsValidTransition(OpKind::kRecoverNode, cmd, OpState::kPending, OpState::kRecoverNode));
  EXPECT_FALSE(IsValidTransition(OpKind::kRecoverNode, cmd, OpState::kPending, OpState::kPromote));
  EXPECT_TRUE(
      IsValidTransition(OpKind::kModifyFailover, cmd, OpState::kPending, OpState::kSucceeded));
  for (auto kind : {OpKind::kFailover, OpKind::kRecoverNode, OpKind::kModifyFailover})
    EXPECT_EQ(ParseOpKind(OpKindName(kind)), kind);
  for (auto st :
       {OpState::kKillPrimary, OpState::kPromote, OpState::kRepointReplicas, OpState::kRecoverNode})
    EXPECT_EQ(ParseOpState(OpStateName(st)), st);
}

// ---------------------------------------------------------------------------------------------
// end to end against the fake agents

using testing::CrashAt;

const Params kCmd3 = {{"ReplicationGroupId", "cmd"},
                      {"ReplicationGroupDescription", "primary + 2"},
                      {"NumCacheClusters", "3"},
                      {"AutomaticFailoverEnabled", "true"}};
const Params kCme3x1 = {{"ReplicationGroupId", "cme"},
                        {"ReplicationGroupDescription", "3x1"},
                        {"NumNodeGroups", "3"},
                        {"ReplicasPerNodeGroup", "1"}};

class FailoverTest : public testing::FakeFleet {
 protected:
  void Configure(OrchestratorConfig& cfg) override {
    cfg.failover.host_down_after_ms = 60000;
    cfg.failover.restart_ready_timeout_ms = 1000;
    cfg.failover.failover_timeout_ms = 1000;
  }

  const NodeRecord* Primary(const GroupView& v, const std::string& ng) {
    for (const auto& n : v.nodes)
      if (n.node_group_id == ng && n.desired_role == NodeRole::kPrimary) return &n;
    return nullptr;
  }


  // Every event of the group and its cache clusters, in the order written.
  std::vector<std::string> Events(const std::string& group) {
    std::vector<EventRecord> all;
    auto add = [&](const std::string& src) {
      auto ev = store().ListEvents(src);
      all.insert(all.end(), ev->begin(), ev->end());
    };
    add(group);
    for (const auto& n : View(group).nodes) add(n.node_id);
    std::sort(all.begin(), all.end(),
              [](const EventRecord& a, const EventRecord& b) { return a.id < b.id; });
    std::vector<std::string> out;
    for (const auto& e : all)
      if (e.message.find("created") == std::string::npos && e.message.rfind("Creating", 0) != 0)
        out.push_back(e.source_id + ": " + e.message);
    return out;
  }

  void SetOffset(const std::string& node, int64_t offset) {
    std::lock_guard lk(net_->mu);
    net_->nodes.at(node).repl_offset = offset;
  }

  void Kill(const std::string& node) {
    std::lock_guard lk(net_->mu);
    net_->nodes.at(node).exited = true;
  }

  std::string FakeRole(const std::string& node) {
    std::lock_guard lk(net_->mu);
    return net_->nodes.at(node).exited ? "exited" : net_->nodes.at(node).role;
  }
  std::string FakeMasterPort(const std::string& node) {
    std::lock_guard lk(net_->mu);
    return std::to_string(net_->nodes.at(node).master_port);
  }
};

TEST_F(FailoverTest, TestFailoverClusterModeDisabled) {
  StartApp();
  Create(kCmd3);
  SetOffset("cmd-002", 100);
  SetOffset("cmd-003", 500);  // the most replicated data
  pugi::xml_document doc;
  ASSERT_FALSE(
      Call("TestFailover", {{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "1"}}, &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "modifying");
  ASSERT_TRUE(WaitFor("cmd", "available"));
  GroupView v = View("cmd");
  EXPECT_EQ(Primary(v, "0001")->node_id, "cmd-003");
  EXPECT_EQ(FakeRole("cmd-003"), "master");
  EXPECT_EQ(FakeRole("cmd-001"),
            "slave");  // recovered as a replica of the new primary
  EXPECT_EQ(FakeRole("cmd-002"), "slave");
  const std::string new_port = std::to_string(Primary(v, "0001")->port);
  EXPECT_EQ(FakeMasterPort("cmd-001"), new_port);
  EXPECT_EQ(FakeMasterPort("cmd-002"), new_port);  // re-pointed
  EXPECT_EQ(Events("cmd"),
            (std::vector<std::string>{"cmd: Test Failover API called for node group 0001",
                                      "cmd-001: Failover from primary node cmd-001 to replica node "
                                      "cmd-003 completed",
                                      "cmd: Failover from primary node cmd-001 to replica node "
                                      "cmd-003 completed",
                                      "cmd-001: Recovering cache nodes 0001",
                                      "cmd-001: Finished recovery for cache nodes 0001"}));
  EXPECT_EQ(agents_[0]->kill_calls.load() + agents_[1]->kill_calls + agents_[2]->kill_calls, 1);
  {
    std::lock_guard lk(net_->mu);
    EXPECT_EQ(net_->failover_methods, std::vector<std::string>{"REPLICAOF NO ONE"});
  }
  // Describe: the new roles, PrimaryEndpoint follows the new primary.
  Heartbeat("cmd");
  pugi::xml_document d2;
  ASSERT_FALSE(Call("DescribeReplicationGroups", {{"ReplicationGroupId", "cmd"}}, &d2));
  auto ng = d2.child("Result")
                .child("ReplicationGroups")
                .child("ReplicationGroup")
                .child("NodeGroups")
                .child("NodeGroup");
  EXPECT_EQ(std::string(ng.child("PrimaryEndpoint").child_value("Port")), new_port);
  for (auto m : ng.child("NodeGroupMembers").children("NodeGroupMember"))
    EXPECT_STREQ(m.child_value("CurrentRole"),
                 std::string(m.child_value("CacheClusterId")) == "cmd-003" ? "primary" : "replica");
}

TEST_F(FailoverTest, TestFailoverClusterModeEnabledMovesTheSlots) {
  StartApp();
  Create(kCme3x1);
  GroupView before = View("cme");
  const NodeRecord* old = Primary(before, "0002");
  ASSERT_FALSE(
      Call("TestFailover", {{"ReplicationGroupId", "cme"}, {"NodeGroupId", "0002"}}));
  ASSERT_TRUE(WaitFor("cme", "available"));
  GroupView v = View("cme");
  const NodeRecord* now = Primary(v, "0002");
  ASSERT_NE(now->node_id, old->node_id);
  {
    std::lock_guard lk(net_->mu);
    EXPECT_EQ(net_->failover_methods, std::vector<std::string>{"FORCE"});  // majority is up
    EXPECT_EQ(net_->nodes.at(now->node_id).slots, before.node_groups[1].slots);
    EXPECT_TRUE(net_->nodes.at(old->node_id).slots.empty());
    EXPECT_EQ(net_->nodes.at(old->node_id).role, "slave");
    EXPECT_EQ(net_->nodes.at(old->node_id).master_cluster_node_id, now->cluster_node_id);
  }
  auto ev = Events("cme");
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0], "cme: Test Failover API called for node group 0002");
  EXPECT_EQ(ev[4], old->node_id + ": Finished recovery for cache nodes 0001");
}

TEST_F(FailoverTest, TestFailoverFaults) {
  StartApp();
  Create(kCmd3);
  ASSERT_FALSE(Call("CreateReplicationGroup", {{"ReplicationGroupId", "noaf"},
                                                      {"ReplicationGroupDescription", "d"},
                                                      {"NumCacheClusters", "2"}}));
  ASSERT_TRUE(WaitFor("noaf", "available"));
  auto code = [&](const Params& p) {
    auto e = Call("TestFailover", p);
    return e ? e->code + "/" + std::to_string(e->http_status) : std::string("ok");
  };
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"}}), "MissingParameter/400");
  EXPECT_EQ(code({{"NodeGroupId", "0001"}}), "MissingParameter/400");
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "00001"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(code({{"ReplicationGroupId", "Bad--id"}, {"NodeGroupId", "0001"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0001"}, {"Force", "true"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(code({{"ReplicationGroupId", "nope"}, {"NodeGroupId", "0001"}}),
            "ReplicationGroupNotFoundFault/404");
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0002"}}),
            "NodeGroupNotFoundFault/404");
  EXPECT_EQ(code({{"ReplicationGroupId", "noaf"}, {"NodeGroupId", "0001"}}),
            "InvalidReplicationGroupState/400");
  EXPECT_TRUE(Events("noaf").empty());
}

TEST_F(FailoverTest, OneFailoverPerGroupButGroupsInParallel) {
  StartApp();
  Create(kCmd3);
  Params other = kCmd3;
  other["ReplicationGroupId"] = "other";
  Create(other);
  for (auto& a : agents_) a->failover_fail = true;  // the promotion keeps failing for now
  ASSERT_FALSE(
      Call("TestFailover", {{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0001"}}));
  auto e = Call("TestFailover", {{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0001"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidReplicationGroupState");
  // Another group is independent.
  ASSERT_FALSE(
      Call("TestFailover", {{"ReplicationGroupId", "other"}, {"NodeGroupId", "0001"}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(View("cmd").group.status, GroupStatus::kModifying);
  EXPECT_EQ(View("other").group.status, GroupStatus::kModifying);
  for (auto& a : agents_) a->failover_fail = false;
  ASSERT_TRUE(WaitFor("cmd", "available"));
  ASSERT_TRUE(WaitFor("other", "available"));
  EXPECT_EQ(Primary(View("cmd"), "0001")->node_id == "cmd-001", false);
  EXPECT_EQ(Primary(View("other"), "0001")->node_id == "other-001", false);
}

TEST_F(FailoverTest, RateLimitPerRollingWindow) {
  cfg_.failover.test_failover_max_per_window = 2;
  NewApp();
  StartApp();
  Create(kCmd3);
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE(
        Call("TestFailover", {{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0001"}}));
    ASSERT_TRUE(WaitFor("cmd", "available"));
  }
  auto e = Call("TestFailover", {{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0001"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "TestFailoverNotAvailableFault");
  EXPECT_EQ(e->http_status, 400);
}

TEST_F(FailoverTest, CrashBeforeEveryCommitResumes) {
  for (OpState at : {OpState::kPending, OpState::kKillPrimary, OpState::kPromote,
                     OpState::kRepointReplicas, OpState::kRecoverNode}) {
    SCOPED_TRACE(OpStateName(at));
    TearDown();
    orch_.reset();
    {
      std::lock_guard lk(net_->mu);
      net_->nodes.clear();
      net_->failover_methods.clear();
    }
    std::filesystem::remove(dir_.file("orch.db"));
    NewApp();
    CrashAt crash(Handler(OpKind::kFailover), at);
    StartWith({OpKind::kFailover, OpKind::kRecoverNode, OpKind::kModifyFailover}, &crash);
    Create(kCmd3);
    ASSERT_FALSE(
        Call("TestFailover", {{"ReplicationGroupId", "cmd"}, {"NodeGroupId", "0001"}}));
    for (int i = 0; i < 400 && !crash.crashed(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(crash.crashed());
    app().StopRunner();
    NewApp();  // same database: a restarted process
    StartApp();
    ASSERT_TRUE(WaitFor("cmd", "available"));
    GroupView v = View("cmd");
    const std::string prim = Primary(v, "0001")->node_id;
    EXPECT_NE(prim, "cmd-001");
    EXPECT_EQ(FakeRole(prim), "master");
    EXPECT_EQ(FakeRole("cmd-001"), "slave");
    auto ev = Events("cmd");
    ASSERT_EQ(ev.size(), 5u) << ::testing::PrintToString(ev);
    EXPECT_EQ(ev[1],
              "cmd-001: Failover from primary node cmd-001 to replica node " + prim + " completed");
    EXPECT_EQ(ev[4], "cmd-001: Finished recovery for cache nodes 0001");
  }
}

TEST_F(FailoverTest, AutomaticFailoverWhenThePrimaryProcessExits) {
  StartApp();
  Create(kCme3x1);
  GroupView before = View("cme");
  const std::string old = Primary(before, "0001")->node_id;
  Kill(old);
  Heartbeat("cme");  // the agent reports NODE_EXITED at once
  auto started = app().failover().monitor.ScanOnce();
  ASSERT_EQ(started.size(), 1u);
  ASSERT_TRUE(WaitFor("cme", "available"));
  const std::string now = Primary(View("cme"), "0001")->node_id;
  EXPECT_NE(now, old);
  EXPECT_EQ(FakeRole(now), "master");
  EXPECT_EQ(FakeRole(old), "slave");
  EXPECT_EQ(
      Events("cme"),
      (std::vector<std::string>{
          old + ": Failover from primary node " + old + " to replica node " + now + " completed",
          "cme: Failover from primary node " + old + " to replica node " + now + " completed",
          old + ": Recovering cache nodes 0001",
          old + ": Finished recovery for cache nodes 0001"}));
  // The exit report predates the failover: another scan starts nothing.
  EXPECT_TRUE(app().failover().monitor.ScanOnce().empty());
  Heartbeat("cme");
  EXPECT_TRUE(app().failover().monitor.ScanOnce().empty());
}

TEST_F(FailoverTest, WithoutAutomaticFailoverThePrimaryRestartsInPlace) {
  StartApp();
  Create({{"ReplicationGroupId", "noaf"},
          {"ReplicationGroupDescription", "d"},
          {"NumCacheClusters", "2"}});
  Kill("noaf-001");
  Heartbeat("noaf");
  ASSERT_EQ(app().failover().monitor.ScanOnce().size(), 1u);
  ASSERT_TRUE(WaitFor("noaf", "available"));
  EXPECT_EQ(Primary(View("noaf"), "0001")->node_id, "noaf-001");
  EXPECT_EQ(FakeRole("noaf-001"), "master");
  int failovers = 0;
  for (auto& a : agents_) failovers += a->failover_calls;
  EXPECT_EQ(failovers, 0);
  EXPECT_EQ(Events("noaf"), std::vector<std::string>{"noaf-001: Cache node 0001 restarted"});
}

TEST_F(FailoverTest, HostLossFailsOverAndTheOldPrimaryRejoinsAsAReplica) {
  cfg_.failover.host_down_after_ms = 1500;
  NewApp();
  StartApp();
  Create(kCmd3);
  GroupView v = View("cmd");
  const NodeRecord* old = Primary(v, "0001");
  const std::string old_id = old->node_id, lost_host = old->host_id;
  // The host dies with its nodes: no heartbeat since long ago, the replicas'
  // links go down.
  Kill(old_id);
  auto h = *store().GetHost(lost_host);
  h->last_heartbeat_ms = NowMs() - 5000;
  ASSERT_TRUE(store().UpsertHost(*h).ok());
  // Fresh heartbeats of the other hosts (the dead one reports nothing).
  auto hosts = store().ListHosts();
  for (auto& o : *hosts)
    if (o.host_id != lost_host)
      ASSERT_TRUE(store().TouchHost(o.host_id, o.boot_id, NowMs()).ok());
  {
    std::lock_guard lk(net_->mu);
    for (const auto& n : v.nodes) {
      if (n.host_id == lost_host) continue;
      auto& f = net_->nodes.at(n.node_id);
      f.polls_since_replicate = 100;
      ASSERT_TRUE(
          store()
              .RecordObservations(n.host_id, {{n.node_id, ToObserved(net_->StatusOf(f), NowMs())}})
              .ok());
    }
  }
  ASSERT_EQ(app().failover().monitor.ScanOnce().size(), 1u);
  ASSERT_TRUE(WaitFor("cmd", "available"));
  const std::string now = Primary(View("cmd"), "0001")->node_id;
  EXPECT_NE(now, old_id);
  EXPECT_EQ(FakeRole(now), "master");
  EXPECT_EQ(FakeRole(old_id), "exited");  // still on the lost host
  // The host comes back (re-registers) and reports its held node: it rejoins as
  // a replica.
  h->last_heartbeat_ms = NowMs();
  ASSERT_TRUE(store().UpsertHost(*h).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Heartbeat("cmd");
  ASSERT_EQ(app().failover().monitor.ScanOnce().size(), 1u);
  ASSERT_TRUE(WaitFor("cmd", "available"));
  EXPECT_EQ(FakeRole(old_id), "slave");
  EXPECT_EQ(FakeMasterPort(old_id), std::to_string(Primary(View("cmd"), "0001")->port));
  auto ev = Events("cmd");
  ASSERT_EQ(ev.size(), 4u) << ::testing::PrintToString(ev);
  EXPECT_EQ(ev[2], old_id + ": Recovering cache nodes 0001");
  EXPECT_EQ(ev[3], old_id + ": Finished recovery for cache nodes 0001");
}

TEST_F(FailoverTest, ModifyPrimaryClusterIdIsACoordinatedSwitchover) {
  StartApp();
  Create(kCmd3);
  Heartbeat("cmd");
  auto code = [&](const Params& p) {
    auto e = Call("ModifyReplicationGroup", p);
    return e ? e->code : std::string("ok");
  };
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"},
                  {"PrimaryClusterId", "cmd-009"},
                  {"ApplyImmediately", "true"}}),
            "CacheClusterNotFound");
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"},
                  {"PrimaryClusterId", "cmd-001"},
                  {"ApplyImmediately", "true"}}),
            "InvalidParameterValue");
  // ApplyImmediately absent (false): recorded for the maintenance window, nothing started.
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"}, {"PrimaryClusterId", "cmd-002"}}), "ok");
  EXPECT_EQ(View("cmd").group.pending_modifications.at("PrimaryClusterId"), "cmd-002");
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
  EXPECT_EQ(code({{"ReplicationGroupId", "cmd"},
                  {"PrimaryClusterId", "cmd-002"},
                  {"ApplyImmediately", "true"}}),
            "ok");
  ASSERT_TRUE(WaitFor("cmd", "available"));
  EXPECT_TRUE(View("cmd").group.pending_modifications.empty());  // superseded
  EXPECT_EQ(Primary(View("cmd"), "0001")->node_id, "cmd-002");
  EXPECT_EQ(FakeRole("cmd-002"), "master");
  EXPECT_EQ(FakeRole("cmd-001"), "slave");
  EXPECT_EQ(FakeRole("cmd-003"), "slave");
  EXPECT_EQ(FakeMasterPort("cmd-003"), std::to_string(Primary(View("cmd"), "0001")->port));
  std::lock_guard lk(net_->mu);
  EXPECT_EQ(net_->failover_methods, std::vector<std::string>{"FAILOVER"});
}

TEST_F(FailoverTest, ModifyAutomaticFailover) {
  StartApp();
  Create({{"ReplicationGroupId", "two"},
          {"ReplicationGroupDescription", "d"},
          {"NumCacheClusters", "2"}});
  Create({{"ReplicationGroupId", "one"},
          {"ReplicationGroupDescription", "d"},
          {"NumCacheClusters", "1"}});
  Create(kCme3x1);
  auto code = [&](const Params& p) {
    auto e = Call("ModifyReplicationGroup", p);
    return e ? e->code : std::string("ok");
  };
  EXPECT_EQ(code({{"ReplicationGroupId", "one"}, {"AutomaticFailoverEnabled", "true"}}),
            "InvalidParameterCombination");
  EXPECT_EQ(code({{"ReplicationGroupId", "cme"}, {"AutomaticFailoverEnabled", "false"}}),
            "InvalidParameterValue");
  EXPECT_EQ(code({{"ReplicationGroupId", "two"}, {"MultiAZEnabled", "true"}}),
            "InvalidParameterCombination");  // needs automatic failover
  EXPECT_EQ(code({{"ReplicationGroupId", "two"}, {"AuthToken", "0123456789abcdef"}}),
            "InvalidParameterValue");  // a parameter no set handles
  EXPECT_EQ(code({{"ReplicationGroupId", "two"}, {"Bogus", "1"}}), "InvalidParameterValue");
  EXPECT_EQ(code({{"ReplicationGroupId", "two"}}), "InvalidParameterCombination");
  EXPECT_EQ(code({{"ReplicationGroupId", "nope"}, {"AutomaticFailoverEnabled", "true"}}),
            "ReplicationGroupNotFoundFault");
  EXPECT_EQ(code({{"ReplicationGroupId", "two"}, {"AutomaticFailoverEnabled", "maybe"}}),
            "InvalidParameterValue");

  pugi::xml_document doc;
  ASSERT_FALSE(Call("ModifyReplicationGroup",
                           {{"ReplicationGroupId", "two"},
                            {"AutomaticFailoverEnabled", "true"},
                            {"MultiAZEnabled", "true"},
                            {"ApplyImmediately", "true"}},
                           &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("AutomaticFailover"), "enabling");
  EXPECT_STREQ(rg.child_value("Status"), "modifying");
  ASSERT_TRUE(WaitFor("two", "available"));
  EXPECT_TRUE(View("two").group.automatic_failover);
  EXPECT_TRUE(View("two").group.multi_az);
  // Disabling automatic failover while Multi-AZ stays on is refused; both
  // together work.
  EXPECT_EQ(code({{"ReplicationGroupId", "two"}, {"AutomaticFailoverEnabled", "false"}}),
            "InvalidParameterCombination");
  pugi::xml_document d2;
  ASSERT_FALSE(Call("ModifyReplicationGroup",
                           {{"ReplicationGroupId", "two"},
                            {"AutomaticFailoverEnabled", "false"},
                            {"MultiAZEnabled", "false"},
                            {"ApplyImmediately", "true"}},
                           &d2));
  EXPECT_STREQ(d2.child("Result").child("ReplicationGroup").child_value("AutomaticFailover"),
               "disabling");
  ASSERT_TRUE(WaitFor("two", "available"));
  EXPECT_FALSE(View("two").group.automatic_failover);
}

}  // namespace
}  // namespace cf::orchestrator
