// The create and delete operations end to end against in-process fake agents (real gRPC, no
// processes): happy paths, a port conflict, a failing agent, an unreachable agent during
// delete, and "crashes" at every step followed by a resume in a fresh runner and store.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::Request;

using testing::CrashAt;

class OperationsTest : public testing::FakeFleet {
 protected:
  // Polls the store until the group has `status` (or is gone when status is empty).
  bool WaitFor(const std::string& id, const std::string& status, int timeout_ms = 10000) {
    return FakeFleet::WaitFor(id, status, timeout_ms, /*settled=*/false);
  }

  // Checks that the fake network holds exactly the group's nodes, formed as planned.
  void ExpectFormed(const std::string& id) {
    GroupView v = View(id);
    std::lock_guard lk(net_->mu);
    ASSERT_EQ(net_->nodes.size(), v.nodes.size());
    std::map<std::string, SlotRanges> planned;
    for (const auto& ng : v.node_groups) planned[ng.node_group_id] = ng.slots;
    std::map<std::string, std::string> primary_cluster_id;
    for (const auto& n : v.nodes)
      if (n.desired_role == NodeRole::kPrimary)
        primary_cluster_id[n.node_group_id] = n.cluster_node_id;
    for (const auto& n : v.nodes) {
      ASSERT_TRUE(net_->nodes.count(n.node_id)) << n.node_id;
      const auto& f = net_->nodes.at(n.node_id);
      EXPECT_EQ(f.host_id, n.host_id);
      EXPECT_EQ(f.port, n.port);
      if (n.desired_role == NodeRole::kPrimary) {
        EXPECT_EQ(f.role, "master") << n.node_id;
        if (v.group.cluster_enabled) {
          EXPECT_EQ(f.slots, planned[n.node_group_id]) << n.node_id;
        }
      } else {
        EXPECT_EQ(f.role, "slave") << n.node_id;
        EXPECT_TRUE(f.slots.empty());
        if (v.group.cluster_enabled) {
          EXPECT_EQ(f.master_cluster_node_id, primary_cluster_id[n.node_group_id]);
        }
      }
      if (v.group.cluster_enabled) {
        EXPECT_EQ(f.cluster_node_id, n.cluster_node_id);
        EXPECT_GT(f.config_epoch, 0u);
      }
    }
  }
};

const Params kCme3x1 = {{"ReplicationGroupId", "cme"},
                        {"ReplicationGroupDescription", "3x1"},
                        {"NumNodeGroups", "3"},
                        {"ReplicasPerNodeGroup", "1"}};
const Params kCmd3 = {{"ReplicationGroupId", "cmd"},
                      {"ReplicationGroupDescription", "primary + 2"},
                      {"NumCacheClusters", "3"},
                      {"AutomaticFailoverEnabled", "true"}};

TEST_F(OperationsTest, CreateClusterModeEnabled) {
  StartApp();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(ms.count(), 3000);
  ExpectFormed("cme");
  GroupView v = View("cme");
  for (const auto& ng : v.node_groups) EXPECT_EQ(ng.status, "available");
  for (const auto& n : v.nodes) {
    EXPECT_EQ(n.status, "available");
    EXPECT_TRUE(n.observed.known);  // status polls write the observed columns
  }
  auto events = store().ListEvents("cme");
  ASSERT_GE(events->size(), 2u);
  EXPECT_EQ(events->back().message, "Replication group cme created");
  EXPECT_TRUE(store().ListUnfinishedOperations()->empty());

  // Describe now shows observed slots and a configuration endpoint.
  pugi::xml_document doc;
  auto res = doc.append_child("DescribeReplicationGroupsResult");
  ASSERT_FALSE(app().dispatcher().Dispatch(
      Request("DescribeReplicationGroups", {{"ReplicationGroupId", "cme"}}), res));
  auto rg = res.child("ReplicationGroups").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "available");
  EXPECT_STREQ(rg.child_value("AutomaticFailover"), "enabled");
  EXPECT_TRUE(rg.child("ConfigurationEndpoint"));
  EXPECT_STREQ(rg.child("NodeGroups").child("NodeGroup").child_value("Slots"), "0-5460");
}

TEST_F(OperationsTest, CreateClusterModeDisabled) {
  StartApp();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCmd3));
  ASSERT_TRUE(WaitFor("cmd", "available"));
  ExpectFormed("cmd");
  GroupView v = View("cmd");
  std::lock_guard lk(net_->mu);
  for (const auto& n : v.nodes) {
    if (n.desired_role == NodeRole::kReplica) {
      EXPECT_EQ(net_->nodes.at(n.node_id).master_port, v.nodes[0].port);
      EXPECT_EQ(net_->nodes.at(n.node_id).master_host, "127.0.0.1");
    }
  }
}

TEST_F(OperationsTest, PortConflictMovesTheNodeToTheNextFreePort) {
  agents_[0]->SetPortBusy(30000);
  StartApp();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  ExpectFormed("cme");
  for (const auto& n : View("cme").nodes) {
    if (n.host_id == "host-a") {
      EXPECT_NE(n.port, 30000u) << n.node_id;
    }
  }
  // The blocked port is not handed to the next group either.
  ASSERT_FALSE(Call("CreateReplicationGroup", {{"ReplicationGroupId", "next"},
                                                      {"ReplicationGroupDescription", "d"},
                                                      {"NumCacheClusters", "3"}}));
  ASSERT_TRUE(WaitFor("next", "available"));
  for (const auto& n : View("next").nodes) EXPECT_NE(n.port, 30000u);
}

TEST_F(OperationsTest, FailingAgentEndsInCreateFailedAndStopsNodes) {
  cfg_.operations.create_timeout_ms = 400;
  cfg_.operations.rollback_timeout_ms = 400;
  NewApp();
  agents_[2]->fail_all = true;
  StartApp();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "create-failed", 5000));
  auto events = store().ListEvents("cme");
  EXPECT_NE(events->back().message.find("Failed to create replication group cme"),
            std::string::npos)
      << events->back().message;
  EXPECT_NE(events->back().message.find("fake agent is down"), std::string::npos)
      << events->back().message;
  // The nodes on the healthy agents were stopped; host-c's could not be (it answers nothing).
  {
    std::lock_guard lk(net_->mu);
    EXPECT_EQ(net_->NodesOn("host-a"), 0u);
    EXPECT_EQ(net_->NodesOn("host-b"), 0u);
  }
  // Delete of a create-failed group is allowed and finishes once the agent is back.
  ASSERT_FALSE(Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}}));
  EXPECT_TRUE(WaitFor("cme", "deleting", 1000));
  agents_[2]->fail_all = false;
  ASSERT_TRUE(WaitFor("cme", "", 5000));
  EXPECT_EQ(FakeNodes(), 0u);
}

TEST_F(OperationsTest, DeleteKeepsRetryingAnUnreachableAgent) {
  StartApp();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  agents_[1]->fail_all = true;
  ASSERT_FALSE(Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  GroupView v = View("cme");
  EXPECT_EQ(v.group.status, GroupStatus::kDeleting);
  auto ops = store().ListUnfinishedOperations();
  ASSERT_EQ(ops->size(), 1u);
  EXPECT_GT((*ops)[0].retries, 0);
  EXPECT_NE((*ops)[0].last_error.find("fake agent is down"), std::string::npos);
  {
    std::lock_guard lk(net_->mu);
    EXPECT_EQ(net_->NodesOn("host-a"), 0u);  // the reachable agents' nodes are gone already
    EXPECT_EQ(net_->NodesOn("host-b"), 2u);
  }
  agents_[1]->fail_all = false;
  ASSERT_TRUE(WaitFor("cme", "", 5000));
  EXPECT_EQ(FakeNodes(), 0u);
  EXPECT_EQ(store().ListEvents("cme")->back().message, "Replication group cme deleted");
}

TEST_F(OperationsTest, ResumesAfterRestartWithoutDuplicates) {
  // Every agent fails: the create is stuck retrying launch-nodes; then "the process dies".
  for (auto& a : agents_) a->fail_all = true;
  StartApp();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  app().StopRunner();
  orch_.reset();
  for (auto& a : agents_) a->fail_all = false;
  NewApp();
  StartApp();
  ASSERT_TRUE(WaitFor("cme", "available"));
  ExpectFormed("cme");
  auto ops = store().ListUnfinishedOperations();
  EXPECT_TRUE(ops->empty());
}

class CrashTest : public OperationsTest, public ::testing::WithParamInterface<OpState> {};

TEST_P(CrashTest, CreateCmeSurvivesACrashBeforeAnyCommit) {
  CrashAt crash(Handler(OpKind::kCreateGroup), GetParam());
  StartWith({OpKind::kCreateGroup}, &crash);
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  for (int i = 0; i < 500 && !crash.crashed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(crash.crashed());
  app().StopRunner();
  orch_.reset();
  NewApp();  // a new process: new store connection, new attempt
  StartApp();
  ASSERT_TRUE(WaitFor("cme", "available"));
  ExpectFormed("cme");
}

INSTANTIATE_TEST_SUITE_P(EveryStep, CrashTest,
                         ::testing::Values(OpState::kPending, OpState::kLaunchNodes,
                                           OpState::kAssignSlots, OpState::kMeet,
                                           OpState::kAwaitMembership, OpState::kReplicate,
                                           OpState::kAwaitHealthy),
                         [](const auto& info) {
                           std::string n = OpStateName(info.param);
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST_F(OperationsTest, CreateCmdSurvivesCrashes) {
  for (OpState at : {OpState::kLaunchNodes, OpState::kReplicate, OpState::kAwaitHealthy}) {
    SCOPED_TRACE(OpStateName(at));
    const std::string id = std::string("cmd-") + OpStateName(at);
    auto params = kCmd3;
    params["ReplicationGroupId"] = id;
    NewApp();
    CrashAt crash(Handler(OpKind::kCreateGroup), at);
    StartWith({OpKind::kCreateGroup}, &crash);
    ASSERT_FALSE(Call("CreateReplicationGroup", params));
    for (int i = 0; i < 500 && !crash.crashed(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(crash.crashed());
    app().StopRunner();
    NewApp();
    StartApp();
    ASSERT_TRUE(WaitFor(id, "available"));
    app().StopRunner();
  }
}

TEST_F(OperationsTest, DeleteSurvivesACrashBeforeCommit) {
  StartApp();
  ASSERT_FALSE(Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  app().StopRunner();
  NewApp();
  CrashAt crash(Handler(OpKind::kDeleteGroup), OpState::kStopNodes);
  StartWith({OpKind::kDeleteGroup}, &crash);
  ASSERT_FALSE(Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}}));
  for (int i = 0; i < 500 && !crash.crashed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(crash.crashed());
  app().StopRunner();
  EXPECT_EQ(FakeNodes(), 0u);  // the stops happened, the commit did not
  NewApp();
  EXPECT_EQ(View("cme").group.status, GroupStatus::kDeleting);
  StartApp();
  ASSERT_TRUE(WaitFor("cme", "", 5000));
}

}  // namespace
}  // namespace cf::orchestrator
