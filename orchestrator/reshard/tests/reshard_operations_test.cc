// ModifyReplicationGroupShardConfiguration end to end against the in-process fake agents (real
// gRPC, no processes): scale-out and scale-in with keys, progress and the operations JSON, a
// broken stream and an unreachable agent (retries), stale replies, a "crash" at every step, a
// stop in the middle of the moves with and without persisted progress, and the store's
// compare-and-set rules for moves.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchestrator/reshard/reshard_frontend.h"
#include "orchestrator/reshard/reshard_store.h"
#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using nlohmann::json;
using testing::FakeAgent;
using testing::Request;
using testing::TestHost;

using testing::CrashAt;

class ReshardTest : public testing::FakeFleet {
 protected:
  void Configure(OrchestratorConfig& cfg) override {
    cfg.operations.move_progress_write_ms = 5;
    cfg.operations.progress_log_interval_ms = 50;
    cfg.operations.move_error_event_interval_ms = 0;
    cfg.operations.removed_node_grace_ms = 20;
  }

  bool WaitFor(const std::string& id, const std::string& status, int timeout_ms = 15000) {
    return FakeFleet::WaitFor(id, status, timeout_ms, /*settled=*/false);
  }

  // Creates a CME group with `shards` x 1 replica and puts `keys_per_slot` keys in every slot.
  void CreateWithKeys(int shards, uint64_t keys_per_slot = 3) {
    StartApp();
    ASSERT_FALSE(Call("CreateReplicationGroup", {{"ReplicationGroupId", "cme"},
                                                        {"ReplicationGroupDescription", "d"},
                                                        {"NumNodeGroups", std::to_string(shards)},
                                                        {"ReplicasPerNodeGroup", "1"}}));
    ASSERT_TRUE(WaitFor("cme", "available"));
    std::lock_guard lk(net_->mu);
    for (auto& [id, n] : net_->nodes)
      for (const auto& r : n.slots)
        for (uint32_t s = r.start; s <= r.end; ++s) n.keys[s] = keys_per_slot;
    keys_before_ = net_->TotalKeys();
  }

  // The fake cluster: every slot owned once, even shares, no keys lost, masters = node groups.
  void ExpectBalanced(int shards) {
    GroupView v = View("cme");
    ASSERT_EQ(v.node_groups.size(), static_cast<size_t>(shards));
    std::lock_guard lk(net_->mu);
    std::vector<SlotRanges> cover;
    std::map<std::string, std::string> cluster_id_group;
    for (const auto& n : v.nodes) cluster_id_group[n.cluster_node_id] = n.node_group_id;
    for (const auto& ng : v.node_groups) {
      EXPECT_EQ(ng.status, "available");
      const uint32_t count = CountSlots(ng.slots);
      EXPECT_GE(count, kNumSlots / shards) << ng.node_group_id;
      EXPECT_LE(count, kNumSlots / shards + 1) << ng.node_group_id;
      cover.push_back(ng.slots);
    }
    EXPECT_TRUE(CheckFullCoverage(cover).ok());
    uint32_t masters = 0;
    for (const auto& [id, n] : net_->nodes) {
      if (n.role != "master") continue;
      ++masters;
      // The store's planned slots of the master's node group are what the master owns.
      const std::string ng = cluster_id_group[n.cluster_node_id];
      for (const auto& g : v.node_groups)
        if (g.node_group_id == ng) {
          EXPECT_EQ(NormalizeSlotRanges(n.slots), NormalizeSlotRanges(g.slots)) << id;
        }
    }
    EXPECT_EQ(masters, static_cast<uint32_t>(shards));
    EXPECT_EQ(net_->TotalKeys(), keys_before_);
    EXPECT_FALSE(net_->source_overlap);
    for (const auto& n : v.nodes) EXPECT_EQ(n.status, "available") << n.node_id;
    EXPECT_EQ(net_->nodes.size(), v.nodes.size());
  }

  pugi::xml_node Describe(pugi::xml_document& doc) {
    auto res = doc.append_child("DescribeReplicationGroupsResult");
    EXPECT_FALSE(app().dispatcher().Dispatch(
        Request("DescribeReplicationGroups", {{"ReplicationGroupId", "cme"}}), res));
    return res.child("ReplicationGroups").child("ReplicationGroup");
  }

  std::optional<double> DescribedProgress() {
    pugi::xml_document doc;
    auto rg = Describe(doc);
    auto p = rg.child("PendingModifiedValues")
                 .child("Resharding")
                 .child("SlotMigration")
                 .child("ProgressPercentage");
    if (!p) return std::nullopt;
    return std::stod(p.child_value());
  }

  std::vector<std::string> Events() { return EventMessages("cme"); }

  bool HasEvent(const std::string& prefix) {
    for (const auto& e : Events())
      if (e.rfind(prefix, 0) == 0) return true;
    return false;
  }

  void SetAll(std::atomic<int> FakeAgent::*field, int v) {
    for (auto& a : agents_) (a.get()->*field) = v;
  }

  uint64_t keys_before_ = 0;
};

const Params kOut5 = {
    {"ReplicationGroupId", "cme"}, {"NodeGroupCount", "5"}, {"ApplyImmediately", "true"}};

TEST_F(ReshardTest, ScaleOutThreeToFive) {
  CreateWithKeys(3);
  SetAll(&FakeAgent::move_slot_delay_ms, 1);  // long enough for the moves to overlap
  pugi::xml_document doc;
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5, &doc));
  auto rg = doc.child("Result").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "modifying");
  int creating = 0;
  for (auto ng : rg.child("NodeGroups").children("NodeGroup"))
    if (std::string(ng.child_value("Status")) == "creating") ++creating;
  EXPECT_EQ(creating, 2);
  EXPECT_EQ(std::distance(rg.child("MemberClusters").children().begin(),
                          rg.child("MemberClusters").children().end()),
            10);
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(5);
  {
    std::lock_guard lk(net_->mu);
    EXPECT_GE(net_->max_running_moves, 2);  // different sources in parallel
  }
  EXPECT_TRUE(HasEvent("Modifying number of node groups from 3 to 5 (adding 0004, 0005)"));
  EXPECT_TRUE(HasEvent("Moving 6553 slots"));
  EXPECT_TRUE(HasEvent("Finished modifying number of node groups from 3 to 5: moved 6553 slots"));
  // Describe: available, no pending values, slots of every node group.
  pugi::xml_document d2;
  auto after = Describe(d2);
  EXPECT_STREQ(after.child_value("Status"), "available");
  EXPECT_FALSE(after.child("PendingModifiedValues").first_child());
  for (auto ng : after.child("NodeGroups").children("NodeGroup")) {
    auto slots = ParseSlotRanges(ng.child_value("Slots"));
    ASSERT_TRUE(slots.ok()) << ng.child_value("Slots");
    EXPECT_GE(CountSlots(*slots), 3276u);
  }
  // The operations JSON of the finished reshard.
  auto j = json::parse(app().reshard().frontend.OperationsJson("group=cme"));
  ASSERT_GE(j["operations"].size(), 2u);
  auto op = j["operations"][0];
  EXPECT_EQ(op["kind"], "reshard");
  EXPECT_EQ(op["direction"], "scale-out");
  EXPECT_EQ(op["state"], "succeeded");
  EXPECT_DOUBLE_EQ(op["progress_percentage"].get<double>(), 100.0);
  EXPECT_EQ(op["slots_planned"], 6553);
  EXPECT_EQ(op["slots_done"], 6553);
  EXPECT_EQ(op["keys_moved"].get<uint64_t>(), 6553u * 3);
  EXPECT_EQ(op["bytes_moved"].get<uint64_t>(), 6553u * 3 * 100);
  EXPECT_FALSE(op["finished_at"].is_null());
  EXPECT_EQ(op["moves"].size(), 4u);  // 0001->0004, 0002->0004, 0002->0005, 0003->0005
}

TEST_F(ReshardTest, ScaleInFiveToThreeForgetsAndStopsTheRemovedNodes) {
  CreateWithKeys(5);
  GroupView before = View("cme");
  std::vector<std::string> removed_ids;
  for (const auto& n : before.nodes)
    if (n.node_group_id == "0002" || n.node_group_id == "0004")
      removed_ids.push_back(n.cluster_node_id);
  ASSERT_EQ(removed_ids.size(), 4u);
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration",
                           {{"ReplicationGroupId", "cme"},
                            {"NodeGroupCount", "3"},
                            {"ApplyImmediately", "true"},
                            {"NodeGroupsToRemove.NodeGroupToRemove.1", "2"},
                            {"NodeGroupsToRemove.NodeGroupToRemove.2", "0004"}}));
  EXPECT_EQ(View("cme").group.status, GroupStatus::kModifying);
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(3);
  GroupView v = View("cme");
  for (const auto& ng : v.node_groups) EXPECT_NE(ng.node_group_id, "0002");
  {
    std::lock_guard lk(net_->mu);
    for (const auto& [id, n] : net_->nodes)
      for (const auto& gone : removed_ids)
        EXPECT_TRUE(n.forgotten.count(gone)) << id << " did not forget " << gone;
  }
  // Their ports are free again: a new group may take them.
  EXPECT_TRUE(HasEvent("Finished modifying number of node groups from 5 to 3"));
  EXPECT_FALSE(DescribedProgress());
}

// Scale-in keeps the removed nodes up for removed_node_grace_ms after CLUSTER FORGET (clients
// with a stale slot map get MOVED instead of a refused connection), then stops them.
TEST_F(ReshardTest, ScaleInKeepsTheRemovedNodesUpForTheGraceBeforeStoppingThem) {
  cfg_.operations.removed_node_grace_ms = 700;
  app().StopRunner();
  NewApp();
  StartApp();
  CreateWithKeys(5);
  auto sum = [&](auto field) {
    int n = 0;
    for (auto& a : agents_) n += (a.get()->*field).load();
    return n;
  };
  const int stops_before = sum(&FakeAgent::stops);
  const int forgets_before = sum(&FakeAgent::forget_calls);
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration",
                           {{"ReplicationGroupId", "cme"},
                            {"NodeGroupCount", "3"},
                            {"ApplyImmediately", "true"},
                            {"NodeGroupsToRemove.NodeGroupToRemove.1", "0002"},
                            {"NodeGroupsToRemove.NodeGroupToRemove.2", "0004"}}));
  ASSERT_TRUE(WaitUntil([&] { return sum(&FakeAgent::forget_calls) > forgets_before; }, 30000));
  const auto forgot = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return sum(&FakeAgent::stops) > stops_before; }, 30000));
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(stopped - forgot).count(), 600);
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(3);
}

TEST_F(ReshardTest, ScaleInWithRetainAndBackOut) {
  CreateWithKeys(3);
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration",
                           {{"ReplicationGroupId", "cme"},
                            {"NodeGroupCount", "1"},
                            {"ApplyImmediately", "true"},
                            {"NodeGroupsToRetain.NodeGroupToRetain.1", "0003"}}));
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(1);
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration",
                           {{"ReplicationGroupId", "cme"},
                            {"NodeGroupCount", "2"},
                            {"ApplyImmediately", "true"},
                            {"ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId", "9"},
                            {"ReshardingConfiguration.ReshardingConfiguration.1."
                             "PreferredAvailabilityZones.AvailabilityZone.1",
                             "lab-c"}}));
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(2);
  GroupView v = View("cme");
  ASSERT_EQ(v.node_groups.back().node_group_id, "0009");
  for (const auto& n : v.nodes)
    if (n.node_id == "cme-0009-001") {
      EXPECT_EQ(n.az, "lab-c");
    }
}

TEST_F(ReshardTest, ProgressRisesMonotonicallyAndTheJsonShowsTheMove) {
  CreateWithKeys(3, 20);
  SetAll(&FakeAgent::move_slot_delay_ms, 1);
  ASSERT_FALSE(Call(
      "ModifyReplicationGroupShardConfiguration",
      {{"ReplicationGroupId", "cme"}, {"NodeGroupCount", "4"}, {"ApplyImmediately", "true"}}));
  std::vector<double> seen;
  bool json_checked = false;
  while (View("cme").group.status == GroupStatus::kModifying) {
    if (auto p = DescribedProgress()) seen.push_back(*p);
    if (!json_checked && !seen.empty() && seen.back() > 10) {
      auto j = json::parse(app().reshard().frontend.OperationsJson(""));
      ASSERT_FALSE(j["operations"].empty());
      auto op = j["operations"][0];
      EXPECT_EQ(op["kind"], "reshard");
      EXPECT_EQ(op["group"], "cme");
      EXPECT_EQ(op["state"], "move-slots");
      EXPECT_GT(op["progress_percentage"].get<double>(), 0.0);
      EXPECT_EQ(op["slots_planned"], 4096);
      EXPECT_GT(op["keys_moved"].get<uint64_t>(), 0u);
      EXPECT_GT(op["keys_total"].get<uint64_t>(), op["keys_moved"].get<uint64_t>());
      EXPECT_TRUE(op["finished_at"].is_null());
      for (const char* k : {"id", "step", "slots_done", "bytes_moved", "keys_per_second",
                            "eta_seconds", "retries", "last_error", "started_at", "moves"})
        EXPECT_TRUE(op.contains(k)) << k;
      json_checked = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  EXPECT_TRUE(json_checked);
  ASSERT_GE(seen.size(), 5u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]) << i;
  bool intermediate = false;
  for (double p : seen) intermediate |= p > 0 && p < 100;
  EXPECT_TRUE(intermediate);
  ASSERT_TRUE(WaitFor("cme", "available"));
  ExpectBalanced(4);
}

TEST_F(ReshardTest, BrokenStreamIsRetriedWithANewAttempt) {
  CreateWithKeys(3);
  for (auto& a : agents_) a->move_fail_after_slots = 20;
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(5);
  auto ops = store().ListOperations("cme", 5);
  ASSERT_TRUE(ops.ok());
  const OperationRecord& op = ops->front();
  EXPECT_GE(op.retries, 1);
  EXPECT_NE(op.last_error.find("connection to the source lost"), std::string::npos)
      << op.last_error;
  EXPECT_TRUE(HasEvent("Slot move 000"));
  auto moves = ReshardStoreOf(store()).ListSlotMoves(op.id);
  int retried = 0;
  for (const auto& m : *moves) {
    EXPECT_EQ(m.status, SlotMoveStatus::kDone);
    if (m.retries > 0) {
      ++retried;
      EXPECT_GE(m.attempt, 2);
    }
  }
  EXPECT_GE(retried, 1);
}

TEST_F(ReshardTest, UnreachableSourceAgentIsRetriedUntilItIsBack) {
  CreateWithKeys(3);
  // Host-a's stream breaks (its agent "dies"), then the agent answers nothing for a while.
  agents_[0]->move_fail_after_slots = 10;
  agents_[0]->move_slot_delay_ms = 1;
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  ASSERT_TRUE(WaitUntil([&] { return agents_[0]->move_fail_after_slots.load() == -1; }));
  agents_[0]->fail_all = true;
  ASSERT_TRUE(WaitUntil([&] {
    auto ops = store().ListUnfinishedOperations();
    return ops.ok() && !ops->empty() && (*ops)[0].retries >= 3;
  }));
  EXPECT_EQ(View("cme").group.status, GroupStatus::kModifying);
  agents_[0]->fail_all = false;
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(5);
}

TEST_F(ReshardTest, SourceAgentComesBackOnANewEndpoint) {
  CreateWithKeys(3);
  agents_[0]->move_pause_after_slots = 50;
  agents_[0]->move_paused = true;
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  ASSERT_TRUE(WaitUntil([&] { return agents_[0]->move_pause_after_slots.load() == -1; }));
  // kill -9 of host-a's agent: its streams break; a new agent process registers on another
  // port (its nodes keep running: the fake network keeps them).
  agents_[0]->Shutdown();
  agents_[0] = std::make_unique<FakeAgent>(net_, "host-a", "127.0.0.1");
  ASSERT_TRUE(agents_[0]->Start());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto h = TestHost("host-a", "lab-a", 30000, agents_[0]->endpoint());
  ASSERT_TRUE(store().UpsertHost(h).ok());
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(5);
  auto ops = store().ListOperations("cme", 5);
  EXPECT_GE(ops->front().retries, 1);
}

TEST_F(ReshardTest, RepliesOfOlderAttemptsAreIgnored) {
  CreateWithKeys(3);
  // Every stream starts with a message of another attempt claiming 10^9 keys, and the first
  // stream of each agent breaks: the figures must count each key once.
  for (auto& a : agents_) {
    a->move_send_stale_message = true;
    a->move_fail_after_slots = 5;
  }
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  auto ops = store().ListOperations("cme", 5);
  auto moves = ReshardStoreOf(store()).ListSlotMoves(ops->front().id);
  uint64_t keys = 0;
  for (const auto& m : *moves) keys += m.keys_moved;
  EXPECT_EQ(keys, 6553u * 3);  // never double counted across attempts
}

class ReshardCrashTest : public ReshardTest,
                         public ::testing::WithParamInterface<std::tuple<bool, OpState>> {};

TEST_P(ReshardCrashTest, SurvivesACrashBeforeAnyCommit) {
  const bool scale_out = std::get<0>(GetParam());
  const OpState at = std::get<1>(GetParam());
  CreateWithKeys(scale_out ? 3 : 5);
  app().StopRunner();
  NewApp();
  CrashAt crash(Handler(OpKind::kReshardScaleOut), at);
  StartWith({OpKind::kReshardScaleOut, OpKind::kReshardScaleIn}, &crash);
  Params p = kOut5;
  if (!scale_out) {
    p["NodeGroupCount"] = "3";
    p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0001";
    p["NodeGroupsToRemove.NodeGroupToRemove.2"] = "0005";
  }
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", p));
  ASSERT_TRUE(WaitUntil([&] { return crash.crashed(); }));
  Restart();
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(scale_out ? 5 : 3);
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, ReshardCrashTest,
    ::testing::Values(
        std::make_tuple(true, OpState::kPending), std::make_tuple(true, OpState::kLaunchNodes),
        std::make_tuple(true, OpState::kMeet), std::make_tuple(true, OpState::kAwaitMembership),
        std::make_tuple(true, OpState::kReplicate), std::make_tuple(true, OpState::kPlanMoves),
        std::make_tuple(true, OpState::kMoveSlots), std::make_tuple(true, OpState::kAwaitHealthy),
        std::make_tuple(false, OpState::kPending), std::make_tuple(false, OpState::kPlanMoves),
        std::make_tuple(false, OpState::kMoveSlots), std::make_tuple(false, OpState::kAwaitHealthy),
        std::make_tuple(false, OpState::kForgetNodes), std::make_tuple(false, OpState::kStopNodes)),
    [](const auto& info) {
      std::string n = std::string(std::get<0>(info.param) ? "out_" : "in_") +
                      OpStateName(std::get<1>(info.param));
      for (auto& c : n)
        if (c == '-') c = '_';
      return n;
    });

// The orchestrator stops in the middle of the moves; the next one resumes from what was
// persisted. With `persist` false nothing but the plan was persisted (the agent moved slots the
// store does not know about): the new attempt must find them on the target.
class ReshardMidMoveTest : public ReshardTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ReshardMidMoveTest, ResumesFromPersistedProgress) {
  const bool persist = GetParam();
  if (!persist) cfg_.operations.move_progress_write_ms = 1000000;
  NewApp();
  CreateWithKeys(3, 5);
  for (auto& a : agents_) {
    a->move_pause_after_slots = 200;
    a->move_paused = true;
  }
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  // Wait until the moves are paused mid-way (and, when persisting, their progress is stored).
  ASSERT_TRUE(WaitUntil([&] {
    std::lock_guard lk(net_->mu);
    return net_->keys_moved_total >= 3 * 200 * 5;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // idle streams get flushed
  int64_t op_id = 0;
  {
    auto ops = store().ListUnfinishedOperations();
    ASSERT_EQ(ops->size(), 1u);
    op_id = (*ops)[0].id;
    EXPECT_EQ((*ops)[0].state, OpState::kMoveSlots);
    auto moves = ReshardStoreOf(store()).ListSlotMoves(op_id);
    uint64_t persisted = 0;
    for (const auto& m : *moves) persisted += m.keys_moved;
    uint64_t moved_by_agents = 0;
    {
      std::lock_guard lk(net_->mu);
      moved_by_agents = net_->keys_moved_total;
    }
    if (persist) {
      EXPECT_EQ(persisted, moved_by_agents);
    } else {
      // Only each stream's first message was written: the agents moved far more than the
      // store knows.
      EXPECT_LT(persisted * 10, moved_by_agents);
    }
  }
  const double before = DescribedProgress().value_or(0);
  cfg_.operations.move_progress_write_ms = 5;
  // Like kill -9: another process takes the operation over first, so nothing the old one still
  // holds in memory reaches the store (its writes are stale), then the old one goes away.
  ASSERT_TRUE(store().ClaimOperation(op_id).ok());
  Restart();  // cancels the paused streams; the new process resumes
  for (auto& a : agents_) a->move_paused = false;
  const double after_restart = DescribedProgress().value_or(0);
  EXPECT_GE(after_restart, before);  // never lower after a restart
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  ExpectBalanced(5);
  auto moves = ReshardStoreOf(store()).ListSlotMoves(op_id);
  for (const auto& m : *moves) {
    EXPECT_EQ(m.status, SlotMoveStatus::kDone);
    EXPECT_GE(m.attempt, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Persisted, ReshardMidMoveTest, ::testing::Values(true, false),
                         [](const auto& info) {
                           return std::string(info.param ? "with_progress" : "plan_only");
                         });

TEST_F(ReshardTest, RejectionsChangeNothing) {
  CreateWithKeys(3);
  struct Case {
    Params p;
    std::string code;
  };
  std::vector<Case> cases = {
      {{{"ReplicationGroupId", "nope"}, {"NodeGroupCount", "4"}, {"ApplyImmediately", "true"}},
       "ReplicationGroupNotFoundFault"},
      {{{"ReplicationGroupId", "cme"}, {"NodeGroupCount", "3"}, {"ApplyImmediately", "true"}},
       "InvalidParameterValue"},
      {{{"ReplicationGroupId", "cme"}, {"NodeGroupCount", "2"}, {"ApplyImmediately", "true"}},
       "InvalidParameterValue"},
      {{{"ReplicationGroupId", "cme"},
        {"NodeGroupCount", "2"},
        {"ApplyImmediately", "true"},
        {"NodeGroupsToRemove.NodeGroupToRemove.1", "0007"}},
       "InvalidParameterValue"},
      {{{"ReplicationGroupId", "cme"}, {"NodeGroupCount", "4"}, {"ApplyImmediately", "false"}},
       "InvalidParameterValue"},
      {{{"ReplicationGroupId", "cme"}, {"NodeGroupCount", "91"}, {"ApplyImmediately", "true"}},
       "NodeGroupsPerReplicationGroupQuotaExceeded"},
  };
  for (const auto& c : cases) {
    auto e = Call("ModifyReplicationGroupShardConfiguration", c.p);
    ASSERT_TRUE(e) << c.code;
    EXPECT_EQ(e->code, c.code);
    if (c.code == "ReplicationGroupNotFoundFault") {
      EXPECT_EQ(e->http_status, 404);
    }
  }
  // Not enough capacity: every host allows 2 nodes at most, so 4 more nodes do not fit.
  LimitHosts(2);
  auto e = Call("ModifyReplicationGroupShardConfiguration", kOut5);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InsufficientCacheClusterCapacity");
  // Nothing changed.
  GroupView v = View("cme");
  EXPECT_EQ(v.group.status, GroupStatus::kAvailable);
  EXPECT_EQ(v.node_groups.size(), 3u);
  EXPECT_EQ(v.nodes.size(), 6u);
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());
  EXPECT_FALSE(HasEvent("Modifying"));
}

TEST_F(ReshardTest, OneTopologyChangeAtATime) {
  CreateWithKeys(3);
  for (auto& a : agents_) {
    a->move_pause_after_slots = 10;
    a->move_paused = true;
  }
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  auto e = Call(
      "ModifyReplicationGroupShardConfiguration",
      {{"ReplicationGroupId", "cme"}, {"NodeGroupCount", "4"}, {"ApplyImmediately", "true"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidReplicationGroupState");
  auto d = Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->code, "InvalidReplicationGroupState");
  for (auto& a : agents_) a->move_paused = false;
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
}

// ---- store rules of the moves ----------------------------------------------------------------

TEST_F(ReshardTest, StoreMoveWritesAreCompareAndSet) {
  CreateWithKeys(3);
  for (auto& a : agents_) {
    a->move_pause_after_slots = 1;
    a->move_paused = true;
  }
  ASSERT_FALSE(Call("ModifyReplicationGroupShardConfiguration", kOut5));
  ASSERT_TRUE(WaitUntil([&] {
    auto ops = store().ListUnfinishedOperations();
    return ops.ok() && !ops->empty() && (*ops)[0].state == OpState::kMoveSlots;
  }));
  auto op = (*store().ListUnfinishedOperations())[0];
  ASSERT_TRUE(WaitUntil([&] {
    auto ms = ReshardStoreOf(store()).ListSlotMoves(op.id);
    return ms.ok() && !ms->empty() && (*ms)[0].attempt >= 1;
  }));
  auto moves = *ReshardStoreOf(store()).ListSlotMoves(op.id);
  SlotMoveRecord m = moves[0];
  // Another process's attempt number: every write is refused.
  OperationRecord foreign = op;
  foreign.attempt = op.attempt + 7;
  EXPECT_FALSE(ReshardStoreOf(store()).StartSlotMoveAttempt(foreign, m.move_id).ok());
  EXPECT_FALSE(ReshardStoreOf(store()).RecordSlotMoveProgress(foreign, m).ok());
  // An older attempt of the move: refused as well.
  SlotMoveRecord old = m;
  old.attempt = m.attempt - 1;
  EXPECT_FALSE(ReshardStoreOf(store()).RecordSlotMoveProgress(op, old).ok());
  // Progress only rises.
  ASSERT_TRUE(ReshardStoreOf(store()).RaiseReshardProgress(op, 40000).ok());
  ASSERT_TRUE(ReshardStoreOf(store()).RaiseReshardProgress(op, 30000).ok());
  EXPECT_EQ((*store().GetOperation(op.id))->progress_milli, 40000);
  EXPECT_DOUBLE_EQ(*View("cme").resharding_progress, 40.0);
  for (auto& a : agents_) a->move_paused = false;
  ASSERT_TRUE(WaitFor("cme", "available", 30000));
  EXPECT_FALSE(View("cme").resharding_progress);
}

}  // namespace
}  // namespace cf::orchestrator
