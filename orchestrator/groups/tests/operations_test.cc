// The create and delete operations end to end against in-process fake agents (real gRPC, no
// processes): happy paths, a port conflict, a failing agent, an unreachable agent during
// delete, and "crashes" at every step followed by a resume in a fresh runner and store.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/groups/create_group_reconciler.h"
#include "orchestrator/groups/delete_group_reconciler.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/testing/fake_agent.h"
#include "orchestrator/testing/crash_at.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::FakeAgent;
using testing::FakeNetwork;
using testing::Request;
using testing::TempDir;
using testing::TestHost;

using testing::CrashAt;

// One orchestrator "process": store, runner, reconcilers, frontend.
struct Orchestrator {
  Orchestrator(const std::string& db, const OrchestratorConfig& cfg) : config(cfg) {
    EXPECT_TRUE(store.Open(db).ok());
    agents = MakeGrpcAgentApi();
    pool = std::make_unique<TaskPool>(cfg.operations.rpc_threads);
    ReconcilerDeps deps;
    deps.store = &store;
    deps.agents = agents.get();
    deps.pool = pool.get();
    deps.settings = cfg.operations;
    create = std::make_unique<CreateGroupReconciler>(deps);
    del = std::make_unique<DeleteGroupReconciler>(deps);
    runner = std::make_unique<OperationRunner>(store, cfg.operations);
    frontend = std::make_unique<ReplicationGroupFrontend>(store, config,
                                                          [this](int64_t id) { runner->Poke(id); });
    frontend->Register(dispatcher);
  }
  void Start(OperationHandler* create_handler = nullptr,
             OperationHandler* delete_handler = nullptr) {
    runner->SetHandler(OpKind::kCreateGroup, create_handler ? create_handler : create.get());
    runner->SetHandler(OpKind::kDeleteGroup, delete_handler ? delete_handler : del.get());
    ASSERT_TRUE(runner->Start().ok());
  }
  std::optional<api::ApiError> Call(const std::string& action, const Params& p) {
    pugi::xml_document doc;
    return dispatcher.Dispatch(Request(action, p), doc.append_child("Result"));
  }

  OrchestratorConfig config;
  Store store;
  std::unique_ptr<AgentApi> agents;
  std::unique_ptr<TaskPool> pool;
  std::unique_ptr<CreateGroupReconciler> create;
  std::unique_ptr<DeleteGroupReconciler> del;
  std::unique_ptr<OperationRunner> runner;
  api::Dispatcher dispatcher;
  std::unique_ptr<ReplicationGroupFrontend> frontend;
};

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    net_ = std::make_shared<FakeNetwork>();
    for (int i = 0; i < 3; ++i) {
      std::string id = std::string("host-") + static_cast<char>('a' + i);
      agents_.push_back(std::make_unique<FakeAgent>(net_, id, "127.0.0.1"));
      ASSERT_TRUE(agents_.back()->Start());
    }
    orch_ = NewOrchestrator();
  }
  void TearDown() override {
    if (orch_) orch_->runner->Stop();
  }

  std::unique_ptr<Orchestrator> NewOrchestrator() {
    auto o = std::make_unique<Orchestrator>(dir_.file("orch.db"), cfg_);
    const char* azs[] = {"lab-a", "lab-b", "lab-c"};
    for (int i = 0; i < 3; ++i) {
      auto h = TestHost(agents_[i]->host_id(), azs[i], 30000 + 1000 * i, agents_[i]->endpoint());
      EXPECT_TRUE(o->store.UpsertHost(h).ok());
    }
    return o;
  }

  // Polls the store until the group has `status` (or is gone when status is empty).
  bool WaitFor(const std::string& id, const std::string& status, int timeout_ms = 10000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      auto g = orch_->store.GetGroup(id);
      if (g.ok()) {
        if (status.empty() && !*g) return true;
        if (*g && GroupStatusName((*g)->group.status) == status) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  GroupView View(const std::string& id) { return **orch_->store.GetGroup(id); }

  size_t FakeNodes() {
    std::lock_guard lk(net_->mu);
    return net_->nodes.size();
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

  TempDir dir_;
  OrchestratorConfig cfg_;
  std::shared_ptr<FakeNetwork> net_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
  std::unique_ptr<Orchestrator> orch_;
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
  orch_->Start();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
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
  auto events = orch_->store.ListEvents("cme");
  ASSERT_GE(events->size(), 2u);
  EXPECT_EQ(events->back().message, "Replication group cme created");
  EXPECT_TRUE(orch_->store.ListUnfinishedOperations()->empty());

  // Describe now shows observed slots and a configuration endpoint.
  pugi::xml_document doc;
  auto res = doc.append_child("DescribeReplicationGroupsResult");
  ASSERT_FALSE(orch_->dispatcher.Dispatch(
      Request("DescribeReplicationGroups", {{"ReplicationGroupId", "cme"}}), res));
  auto rg = res.child("ReplicationGroups").child("ReplicationGroup");
  EXPECT_STREQ(rg.child_value("Status"), "available");
  EXPECT_STREQ(rg.child_value("AutomaticFailover"), "enabled");
  EXPECT_TRUE(rg.child("ConfigurationEndpoint"));
  EXPECT_STREQ(rg.child("NodeGroups").child("NodeGroup").child_value("Slots"), "0-5460");
}

TEST_F(OperationsTest, CreateClusterModeDisabled) {
  orch_->Start();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCmd3));
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
  orch_->Start();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  ExpectFormed("cme");
  for (const auto& n : View("cme").nodes) {
    if (n.host_id == "host-a") {
      EXPECT_NE(n.port, 30000u) << n.node_id;
    }
  }
  // The blocked port is not handed to the next group either.
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", {{"ReplicationGroupId", "next"},
                                                      {"ReplicationGroupDescription", "d"},
                                                      {"NumCacheClusters", "3"}}));
  ASSERT_TRUE(WaitFor("next", "available"));
  for (const auto& n : View("next").nodes) EXPECT_NE(n.port, 30000u);
}

TEST_F(OperationsTest, FailingAgentEndsInCreateFailedAndStopsNodes) {
  cfg_.operations.create_timeout_ms = 400;
  cfg_.operations.rollback_timeout_ms = 400;
  orch_ = NewOrchestrator();
  agents_[2]->fail_all = true;
  orch_->Start();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "create-failed", 5000));
  auto events = orch_->store.ListEvents("cme");
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
  ASSERT_FALSE(orch_->Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}}));
  EXPECT_TRUE(WaitFor("cme", "deleting", 1000));
  agents_[2]->fail_all = false;
  ASSERT_TRUE(WaitFor("cme", "", 5000));
  EXPECT_EQ(FakeNodes(), 0u);
}

TEST_F(OperationsTest, DeleteKeepsRetryingAnUnreachableAgent) {
  orch_->Start();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  agents_[1]->fail_all = true;
  ASSERT_FALSE(orch_->Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  GroupView v = View("cme");
  EXPECT_EQ(v.group.status, GroupStatus::kDeleting);
  auto ops = orch_->store.ListUnfinishedOperations();
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
  EXPECT_EQ(orch_->store.ListEvents("cme")->back().message, "Replication group cme deleted");
}

TEST_F(OperationsTest, ResumesAfterRestartWithoutDuplicates) {
  // Every agent fails: the create is stuck retrying launch-nodes; then "the process dies".
  for (auto& a : agents_) a->fail_all = true;
  orch_->Start();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  orch_->runner->Stop();
  orch_.reset();
  for (auto& a : agents_) a->fail_all = false;
  orch_ = NewOrchestrator();
  orch_->Start();
  ASSERT_TRUE(WaitFor("cme", "available"));
  ExpectFormed("cme");
  auto ops = orch_->store.ListUnfinishedOperations();
  EXPECT_TRUE(ops->empty());
}

class CrashTest : public OperationsTest, public ::testing::WithParamInterface<OpState> {};

TEST_P(CrashTest, CreateCmeSurvivesACrashBeforeAnyCommit) {
  CrashAt crash(*orch_->create, GetParam());
  orch_->Start(&crash);
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
  for (int i = 0; i < 500 && !crash.crashed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(crash.crashed());
  orch_->runner->Stop();
  orch_.reset();
  orch_ = NewOrchestrator();  // a new process: new store connection, new attempt
  orch_->Start();
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
    orch_ = NewOrchestrator();
    CrashAt crash(*orch_->create, at);
    orch_->Start(&crash);
    ASSERT_FALSE(orch_->Call("CreateReplicationGroup", params));
    for (int i = 0; i < 500 && !crash.crashed(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(crash.crashed());
    orch_->runner->Stop();
    orch_ = NewOrchestrator();
    orch_->Start();
    ASSERT_TRUE(WaitFor(id, "available"));
    orch_->runner->Stop();
  }
}

TEST_F(OperationsTest, DeleteSurvivesACrashBeforeCommit) {
  orch_->Start();
  ASSERT_FALSE(orch_->Call("CreateReplicationGroup", kCme3x1));
  ASSERT_TRUE(WaitFor("cme", "available"));
  orch_->runner->Stop();
  orch_ = NewOrchestrator();
  CrashAt crash(*orch_->del, OpState::kStopNodes);
  orch_->Start(nullptr, &crash);
  ASSERT_FALSE(orch_->Call("DeleteReplicationGroup", {{"ReplicationGroupId", "cme"}}));
  for (int i = 0; i < 500 && !crash.crashed(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(crash.crashed());
  orch_->runner->Stop();
  EXPECT_EQ(FakeNodes(), 0u);  // the stops happened, the commit did not
  orch_ = NewOrchestrator();
  EXPECT_EQ(View("cme").group.status, GroupStatus::kDeleting);
  orch_->Start();
  ASSERT_TRUE(WaitFor("cme", "", 5000));
}

}  // namespace
}  // namespace cf::orchestrator
