// The nodes' spec follows the group, against the in-process fake agents (which keep the spec
// they were given and refuse a dynamic config key that a spec drops, as the agent does):
// ModifyReplicationGroup CacheParameterGroupName back to a built-in group (every parameter the
// old group set is sent with its default; in-sync afterwards; later switches and node-type
// changes keep working), and AutomaticFailoverEnabled (every node's hold_max_ms follows, through
// the parameter applier, only once the modify-failover operation finished).
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "orchestrator/failover/failover_reconciler.h"
#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/groups/create_group_reconciler.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/modify_node_type.h"
#include "orchestrator/modify/node_type_reconciler.h"
#include "orchestrator/modify/modify_parameter_group.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/parameters/parameter_group_applier.h"
#include "orchestrator/parameters/parameter_group_frontend.h"
#include "orchestrator/parameters/parameter_group_store.h"
#include "orchestrator/testing/fake_agent.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::FakeAgent;
using testing::FakeNetwork;
using testing::Request;
using testing::TempDir;
using testing::TestHost;

constexpr int64_t kHoldMaxMs = 12345;

class NodeSpecFollowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    cfg_.failover.hold_max_ms = kHoldMaxMs;
    auto c = LoadParameterCatalog(std::string(CF_SOURCE_DIR) + "/configs/parameter_groups.yaml");
    ASSERT_TRUE(c.ok());
    catalog_ = *c;
    net_ = std::make_shared<FakeNetwork>();
    for (int i = 0; i < 3; ++i) {
      agents_.push_back(
          std::make_unique<FakeAgent>(net_, std::string("host-") + char('a' + i), "127.0.0.1"));
      ASSERT_TRUE(agents_.back()->Start());
    }
    ASSERT_TRUE(store_.Open(dir_.file("orch.db")).ok());
    const char* azs[] = {"lab-a", "lab-b", "lab-c"};
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(store_
                      .UpsertHost(TestHost(agents_[i]->host_id(), azs[i], 30000 + 1000 * i,
                                           agents_[i]->endpoint()))
                      .ok());
    api_ = MakeGrpcAgentApi();
    pool_ = std::make_unique<TaskPool>(cfg_.operations.rpc_threads);
    deps_.store = &store_;
    deps_.agents = api_.get();
    deps_.pool = pool_.get();
    deps_.settings = cfg_.operations;
    deps_.hold_max_ms = kHoldMaxMs;
    create_ = std::make_unique<CreateGroupReconciler>(deps_);
    failover_ = std::make_unique<FailoverReconciler>(deps_, cfg_.failover);
    node_type_ = std::make_unique<NodeTypeReconciler>(deps_, catalog_);
    StartRunner();
    auto poke = [this](int64_t id) {
      if (runner_) runner_->Poke(id);
    };
    auto users = [this] {
      return ParameterGroupFrontend::UserGroupsForValidation(store_, catalog_);
    };
    groups_ = std::make_unique<ReplicationGroupFrontend>(store_, cfg_, poke);
    groups_->SetUserParameterGroups(users);
    groups_->Register(d_);
    params_ = std::make_unique<ParameterGroupFrontend>(store_, cfg_, catalog_, [] {});
    params_->Register(d_);
    modify_ = std::make_unique<ModifyGroupFrontend>(store_, cfg_, poke);
    AddParameterGroupSet(*modify_, store_, cfg_, catalog_, users, [this] { ++pokes_; });
    AddNodeTypeSet(*modify_, store_, cfg_);
    modify_->Register(d_);
    applier_ = std::make_unique<ParameterApplier>(store_, *api_, catalog_, cfg_);
  }
  void TearDown() override {
    if (runner_) runner_->Stop();
  }
  void StartRunner() {
    runner_ = std::make_unique<OperationRunner>(store_, cfg_.operations);
    runner_->SetHandler(OpKind::kCreateGroup, create_.get());
    runner_->SetHandler(OpKind::kModifyFailover, failover_.get());
    runner_->SetHandler(OpKind::kModifyNodeType, node_type_.get());
    ASSERT_TRUE(runner_->Start().ok());
  }

  std::string Call(const std::string& action, const Params& p) {
    doc_.reset();
    auto e = d_.Dispatch(Request(action, p), doc_.append_child("Result"));
    return e ? e->code + "/" + std::to_string(e->http_status) : "ok";
  }
  bool Settled(const std::string& id) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < until) {
      auto g = store_.GetGroup(id);
      if (g.ok() && *g && (*g)->group.status == GroupStatus::kAvailable &&
          store_.ListUnfinishedOperations()->empty())
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  void UserGroup(const std::string& name, const Params& values) {
    ASSERT_EQ(Call("CreateCacheParameterGroup", {{"CacheParameterGroupName", name},
                                                 {"CacheParameterGroupFamily", "redis7"},
                                                 {"Description", "d"}}),
              "ok");
    Params p{{"CacheParameterGroupName", name}};
    int i = 0;
    for (const auto& [k, v] : values) {
      const std::string pre = "ParameterNameValues.ParameterNameValue." + std::to_string(++i);
      p[pre + ".ParameterName"] = k;
      p[pre + ".ParameterValue"] = v;
    }
    ASSERT_EQ(Call("ModifyCacheParameterGroup", p), "ok");
  }
  void CreateGroup(const std::string& pg = "") {
    Params p{{"ReplicationGroupId", "rg"},
             {"ReplicationGroupDescription", "d"},
             {"NumCacheClusters", "2"}};
    if (!pg.empty()) p["CacheParameterGroupName"] = pg;
    ASSERT_EQ(Call("CreateReplicationGroup", p), "ok");
    ASSERT_TRUE(Settled("rg"));
  }
  Params Switch(const std::string& pg) {
    return {{"ReplicationGroupId", "rg"},
            {"CacheParameterGroupName", pg},
            {"ApplyImmediately", "true"}};
  }
  // node id -> the fake agent's node (copy).
  std::map<std::string, testing::FakeNode> Nodes() {
    std::lock_guard lk(net_->mu);
    return net_->nodes;
  }
  std::set<std::string> Statuses() {
    std::set<std::string> out;
    auto all = store_.ParameterApplyStatuses();
    EXPECT_TRUE(all.ok());
    if (all.ok())
      for (const auto& [id, st] : *all) out.insert(st);
    return out;
  }

  TempDir dir_;
  OrchestratorConfig cfg_;
  ParameterCatalog catalog_;
  std::shared_ptr<FakeNetwork> net_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
  Store store_;
  std::unique_ptr<AgentApi> api_;
  std::unique_ptr<TaskPool> pool_;
  ReconcilerDeps deps_;
  std::unique_ptr<CreateGroupReconciler> create_;
  std::unique_ptr<FailoverReconciler> failover_;
  std::unique_ptr<NodeTypeReconciler> node_type_;
  std::unique_ptr<OperationRunner> runner_;
  api::Dispatcher d_;
  std::unique_ptr<ReplicationGroupFrontend> groups_;
  std::unique_ptr<ParameterGroupFrontend> params_;
  std::unique_ptr<ModifyGroupFrontend> modify_;
  std::unique_ptr<ParameterApplier> applier_;
  pugi::xml_document doc_;
  int pokes_ = 0;
};

TEST_F(NodeSpecFollowTest, SwitchBackToTheBuiltinGroupSendsTheDefaults) {
  UserGroup("pg-a", {{"maxmemory-policy", "allkeys-lfu"}, {"notify-keyspace-events", "KEA"}});
  UserGroup("pg-b", {{"maxmemory-policy", "allkeys-random"}});
  CreateGroup("pg-a");
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_EQ(n.running.at("maxmemory-policy"), "allkeys-lfu") << id;
    EXPECT_EQ(n.running.at("notify-keyspace-events"), "KEA") << id;
  }
  // Faults change nothing (no built-in row either: DescribeCacheParameterGroups unchanged).
  EXPECT_EQ(Call("ModifyReplicationGroup", Switch("default.redis7.cluster.on")),
            "InvalidParameterCombination/400");
  EXPECT_EQ(Call("ModifyReplicationGroup", Switch("default.nope")),
            "CacheParameterGroupNotFound/404");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.parameter_group, "pg-a");
  EXPECT_FALSE(store_.GetParameterGroup("default.redis7")->has_value());
  EXPECT_EQ(pokes_, 0);

  ASSERT_EQ(Call("ModifyReplicationGroup", Switch("DEFAULT.REDIS7")), "ok");
  EXPECT_EQ(pokes_, 1);
  EXPECT_STREQ(doc_.child("Result").child("ReplicationGroup").child_value("Status"), "available");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.parameter_group, "default.redis7");
  EXPECT_EQ(Statuses(), std::set<std::string>{"applying"});
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_EQ(n.running.at("maxmemory-policy"), "volatile-lru") << id;
    EXPECT_EQ(n.running.at("notify-keyspace-events"), "\"\"") << id;
    EXPECT_EQ(n.hold_max_ms, kHoldMaxMs) << id;
  }
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
  EXPECT_EQ(applier_->RunOnce(), 0);
  // The built-in group's row is not a user group.
  auto users = ParameterGroupStoreOf(store_).ListParameterGroups();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 2u);
  ASSERT_EQ(Call("DescribeCacheParameterGroups", {}), "ok");
  int defaults = 0;
  for (auto g : doc_.child("Result").child("CacheParameterGroups").children())
    defaults += std::string(g.child_value("CacheParameterGroupName")) == "default.redis7";
  EXPECT_EQ(defaults, 1);
  EXPECT_EQ(Call("DeleteCacheParameterGroup", {{"CacheParameterGroupName", "pg-a"}}), "ok");
  auto events = store_.ListEvents("rg");
  ASSERT_TRUE(events.ok());
  bool seen = false;
  for (const auto& e : *events)
    seen = seen || e.message.find("switched from cache parameter group pg-a to default.redis7") !=
                       std::string::npos;
  EXPECT_TRUE(seen);

  // A node-type change keeps what the nodes hold (the agent would refuse a dropped key).
  ASSERT_EQ(Call("ModifyReplicationGroup", {{"ReplicationGroupId", "rg"},
                                            {"CacheNodeType", "cache.r6g.large"},
                                            {"ApplyImmediately", "true"}}),
            "ok");
  ASSERT_TRUE(Settled("rg"));  // the modify-node-type operation; a refused spec rolls it back
  EXPECT_EQ(store_.GetGroup("rg")->value().group.cache_node_type, "cache.r6g.large");
  // Out to a user group and back again: every key keeps being sent.
  ASSERT_EQ(Call("ModifyReplicationGroup", Switch("pg-b")), "ok");
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_EQ(n.running.at("maxmemory-policy"), "allkeys-random") << id;
    EXPECT_EQ(n.config.at("notify-keyspace-events"), "\"\"") << id;
  }
  ASSERT_EQ(Call("ModifyReplicationGroup", Switch("default.redis7")), "ok");
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.running.at("maxmemory-policy"), "volatile-lru");
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
}

TEST_F(NodeSpecFollowTest, AutomaticFailoverReachesEveryNodesSpec) {
  UserGroup("pg-a", {{"maxmemory-policy", "allkeys-lfu"}});
  CreateGroup("pg-a");
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_TRUE(n.hold_on_exit);
    EXPECT_EQ(n.hold_max_ms, kHoldMaxMs);
  }
  auto af = [](const char* v) {
    return Params{{"ReplicationGroupId", "rg"},
                  {"AutomaticFailoverEnabled", v},
                  {"ApplyImmediately", "true"}};
  };
  // Accepted while no worker runs: the applier leaves the group alone until the operation ends.
  runner_->Stop();
  runner_.reset();
  ASSERT_EQ(Call("ModifyReplicationGroup", af("true")), "ok");
  ASSERT_TRUE(store_.MarkNodesRespec("rg").ok());  // as if the step ran and then crashed
  EXPECT_EQ(applier_->RunOnce(), 0);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.hold_max_ms, kHoldMaxMs);
  StartRunner();
  ASSERT_TRUE(Settled("rg"));
  EXPECT_TRUE(store_.GetGroup("rg")->value().group.automatic_failover);
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_TRUE(n.hold_on_exit) << id;
    EXPECT_EQ(n.hold_max_ms, 0u) << id;
    EXPECT_EQ(n.running.at("maxmemory-policy"), "allkeys-lfu") << id;
  }
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
  // The same value again: nothing to do.
  ASSERT_EQ(Call("ModifyReplicationGroup", af("true")), "ok");
  ASSERT_TRUE(Settled("rg"));
  EXPECT_EQ(applier_->RunOnce(), 0);

  ASSERT_EQ(Call("ModifyReplicationGroup", af("false")), "ok");
  ASSERT_TRUE(Settled("rg"));
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.hold_max_ms, kHoldMaxMs) << id;
  EXPECT_EQ(applier_->RunOnce(), 0);
}

TEST_F(NodeSpecFollowTest, BuiltinGroupNodesFollowAutomaticFailoverAndFaultsChangeNothing) {
  CreateGroup();  // default.redis7: no row
  EXPECT_EQ(applier_->RunOnce(), 0);
  // A single-node group cannot enable automatic failover: nothing is marked.
  ASSERT_EQ(Call("CreateReplicationGroup", {{"ReplicationGroupId", "one"},
                                            {"ReplicationGroupDescription", "d"},
                                            {"NumCacheClusters", "1"}}),
            "ok");
  ASSERT_TRUE(Settled("one"));
  EXPECT_EQ(Call("ModifyReplicationGroup", {{"ReplicationGroupId", "one"},
                                            {"AutomaticFailoverEnabled", "true"},
                                            {"ApplyImmediately", "true"}}),
            "InvalidParameterCombination/400");
  EXPECT_EQ(applier_->RunOnce(), 0);
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});

  ASSERT_EQ(Call("ModifyReplicationGroup", {{"ReplicationGroupId", "rg"},
                                            {"AutomaticFailoverEnabled", "true"},
                                            {"ApplyImmediately", "true"}}),
            "ok");
  ASSERT_TRUE(Settled("rg"));
  EXPECT_EQ(applier_->RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.hold_max_ms, id == "one-001" ? kHoldMaxMs : 0);
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
  EXPECT_FALSE(store_.GetParameterGroup("default.redis7")->has_value());
}

}  // namespace
}  // namespace cf::orchestrator
