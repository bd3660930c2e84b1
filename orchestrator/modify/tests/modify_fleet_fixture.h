// The fixture of the modify/ tests that run against the in-process fake agents (real gRPC):
// an orchestrator (store, runner with the reconcilers ModifyReplicationGroup needs, the
// frontends, the maintenance scheduler) over three fake hosts, and helpers to look at the
// group, its events and the fake nodes.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/failover/failover_reconciler.h"
#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/groups/create_group_reconciler.h"
#include "orchestrator/groups/delete_group_reconciler.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/modify/maintenance_scheduler.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/modify_node_type.h"
#include "orchestrator/modify/modify_settings.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/modify/node_type_reconciler.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/store/store.h"
#include "orchestrator/testing/fake_agent.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator::testing {

using Params = std::map<std::string, std::string>;

struct Orchestrator {
  Orchestrator(const std::string& db, const OrchestratorConfig& cfg, const ParameterCatalog& cat)
      : config(cfg), catalog(cat) {
    EXPECT_TRUE(store.Open(db).ok());
    agents = MakeGrpcAgentApi();
    pool = std::make_unique<TaskPool>(cfg.operations.rpc_threads);
    ReconcilerDeps deps;
    deps.store = &store;
    deps.agents = agents.get();
    deps.pool = pool.get();
    deps.settings = cfg.operations;
    create = std::make_unique<CreateGroupReconciler>(deps);
    failover = std::make_unique<FailoverReconciler>(deps, cfg.failover);
    remove = std::make_unique<DeleteGroupReconciler>(deps);
    node_type = std::make_unique<NodeTypeReconciler>(deps, catalog);
    auto poke = [this](int64_t id) { runner->Poke(id); };
    frontend = std::make_unique<ReplicationGroupFrontend>(store, config, poke);
    frontend->Register(dispatcher);
    clusters = std::make_unique<CacheClusterFrontend>(store, config);
    clusters->Register(dispatcher);
    modify = std::make_unique<ModifyGroupFrontend>(store, config, poke);
    AddSettingsParameterSet(*modify, store, config);
    AddNodeTypeSet(*modify, store, config);
    modify->Register(dispatcher);
    modify->SetPendingListener([this] { ++pending_pokes; });
    scheduler = std::make_unique<MaintenanceScheduler>(
        store, config.maintenance,
        [this](const std::string& id, const std::map<std::string, std::string>& p) {
          replays.push_back(p);
          pugi::xml_document doc;
          return modify->ReplayPending(id, p, doc.append_child("R"));
        });
    RestartRunner();
  }
  ~Orchestrator() { runner->Stop(); }
  // A fresh runner (resumes every unfinished operation).
  void RestartRunner() {
    if (runner) runner->Stop();
    runner = std::make_unique<OperationRunner>(store, config.operations);
    runner->SetHandler(OpKind::kCreateGroup, create.get());
    runner->SetHandler(OpKind::kDeleteGroup, remove.get());
    runner->SetHandler(OpKind::kFailover, failover.get());
    runner->SetHandler(OpKind::kRecoverNode, failover.get());
    runner->SetHandler(OpKind::kModifyFailover, failover.get());
    runner->SetHandler(OpKind::kModifyNodeType,
                       node_type_handler ? node_type_handler : node_type.get());
    EXPECT_TRUE(runner->Start().ok());
  }
  std::optional<api::ApiError> Call(const std::string& action, const Params& p,
                                    pugi::xml_document* out = nullptr) {
    return CallApi(dispatcher, action, p, out);
  }

  OrchestratorConfig config;
  ParameterCatalog catalog;
  Store store;
  std::unique_ptr<AgentApi> agents;
  std::unique_ptr<TaskPool> pool;
  std::unique_ptr<CreateGroupReconciler> create;
  std::unique_ptr<FailoverReconciler> failover;
  std::unique_ptr<DeleteGroupReconciler> remove;
  std::unique_ptr<NodeTypeReconciler> node_type;
  OperationHandler* node_type_handler = nullptr;  // a wrapper of node_type (crash tests)
  std::unique_ptr<OperationRunner> runner;
  api::Dispatcher dispatcher;
  std::unique_ptr<ReplicationGroupFrontend> frontend;
  std::unique_ptr<CacheClusterFrontend> clusters;
  std::unique_ptr<ModifyGroupFrontend> modify;
  std::unique_ptr<MaintenanceScheduler> scheduler;
  std::vector<std::map<std::string, std::string>> replays;
  int pending_pokes = 0;
};

class ModifyFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    cfg_.failover.restart_ready_timeout_ms = 1000;
    cfg_.failover.failover_timeout_ms = 1000;
    auto cat = LoadParameterCatalog(std::string(CF_SOURCE_DIR) + "/configs/parameter_groups.yaml");
    ASSERT_TRUE(cat.ok());
    net_ = std::make_shared<FakeNetwork>();
    for (int i = 0; i < 3; ++i) {
      std::string id = std::string("host-") + static_cast<char>('a' + i);
      agents_.push_back(std::make_unique<FakeAgent>(net_, id, "127.0.0.1"));
      ASSERT_TRUE(agents_.back()->Start());
    }
    orch_ = std::make_unique<Orchestrator>(dir_.file("orch.db"), cfg_, *cat);
    const char* azs[] = {"lab-a", "lab-b", "lab-c"};
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(orch_->store
                      .UpsertHost(TestHost(agents_[i]->host_id(), azs[i], 30000 + 1000 * i,
                                           agents_[i]->endpoint()))
                      .ok());
  }
  void TearDown() override { orch_.reset(); }

  bool WaitFor(const std::string& id, const std::string& status, int timeout_ms = 10000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      auto g = orch_->store.GetGroup(id);
      if (g.ok() && *g && GroupStatusName((*g)->group.status) == status &&
          orch_->store.ListUnfinishedOperations()->empty())
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  GroupView View(const std::string& id) { return **orch_->store.GetGroup(id); }
  void Create(const Params& p) {
    ASSERT_FALSE(orch_->Call("CreateReplicationGroup", p));
    ASSERT_TRUE(WaitFor(p.at("ReplicationGroupId"), "available"));
  }
  // Writes what the fake agents report into the store (a heartbeat).
  void Heartbeat(const std::string& group) {
    GroupView v = View(group);
    std::lock_guard lk(net_->mu);
    for (const auto& n : v.nodes) {
      auto& f = net_->nodes.at(n.node_id);
      ASSERT_TRUE(
          orch_->store
              .RecordObservations(n.host_id, {{n.node_id, ToObserved(net_->StatusOf(f), NowMs())}})
              .ok());
    }
  }
  std::string Code(const Params& p) {
    auto e = orch_->Call("ModifyReplicationGroup", p);
    return e ? e->code : std::string("ok");
  }
  std::vector<std::string> Events(const std::string& id) {
    std::vector<std::string> out;
    auto events = orch_->store.ListEvents(id);
    EXPECT_TRUE(events.ok());
    if (events.ok())
      for (const auto& e : *events) out.push_back(e.message);
    return out;
  }
  bool HasEvent(const std::string& id, const std::string& part) {
    for (const auto& m : Events(id))
      if (m.find(part) != std::string::npos) return true;
    return false;
  }
  std::set<uint64_t> FakeMaxmemory(const std::string& group) {
    std::set<uint64_t> out;
    std::lock_guard lk(net_->mu);
    for (const auto& n : View(group).nodes) out.insert(net_->nodes.at(n.node_id).maxmemory);
    return out;
  }
  std::string FakeRole(const std::string& node) {
    std::lock_guard lk(net_->mu);
    return net_->nodes.at(node).role;
  }
  // DescribeCacheClusters' PendingModifiedValues of one cluster, as "Name=value;...".
  std::string ClusterPending(const std::string& cluster) {
    pugi::xml_document doc;
    EXPECT_FALSE(orch_->Call("DescribeCacheClusters", {{"CacheClusterId", cluster}}, &doc));
    std::string s;
    for (auto c : doc.child("Result").child("CacheClusters").child("CacheCluster")
                      .child("PendingModifiedValues").children())
      s += std::string(c.name()) + "=" + c.child_value() + ";";
    return s;
  }
  std::string GroupPending(const std::string& id) {
    pugi::xml_document doc;
    EXPECT_FALSE(orch_->Call("DescribeReplicationGroups", {{"ReplicationGroupId", id}}, &doc));
    std::string s;
    for (auto c : doc.child("Result").child("ReplicationGroups").child("ReplicationGroup")
                      .child("PendingModifiedValues").children())
      s += std::string(c.name()) + "=" + c.child_value() + ";";
    return s;
  }
  // The window is "sun:23:00-mon:01:30" (the default) unless set.
  void SetWindow(const std::string& id, const std::string& w) {
    GroupSettingsUpdate u;
    u.preferred_maintenance_window = w;
    ASSERT_TRUE(ModifyStoreOf(orch_->store).UpdateGroupSettings(id, u, "window " + w).ok());
  }

  TempDir dir_;
  OrchestratorConfig cfg_;
  std::shared_ptr<FakeNetwork> net_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
  std::unique_ptr<Orchestrator> orch_;
};


}  // namespace cf::orchestrator::testing
