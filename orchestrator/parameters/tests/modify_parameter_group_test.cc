// ModifyReplicationGroup CacheParameterGroupName (modify_parameter_group.cc): the faults, and
// a switch between two user groups driven through the parameter applier (a recording double).
#include <gtest/gtest.h>

#include <mutex>

#include "orchestrator/modify/modify_node_type.h"
#include "orchestrator/modify/node_type_reconciler.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/modify/modify_parameter_group.h"
#include "orchestrator/modify/modify_settings.h"
#include "orchestrator/parameters/parameter_group_applier.h"
#include "orchestrator/parameters/parameter_group_frontend.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/testing/recording_agents.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::Request;
using testing::TempDir;
using testing::TestHost;

using testing::RecordingAgents;

class ModifyParameterGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    auto c = LoadParameterCatalog(std::string(CF_SOURCE_DIR) + "/configs/parameter_groups.yaml");
    ASSERT_TRUE(c.ok());
    catalog_ = *c;
    ASSERT_TRUE(store_.Open(dir_.file("orch.db")).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-a", "lab-a", 30000)).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-b", "lab-b", 31000)).ok());
    auto users = [this] { return ParameterGroupFrontend::UserGroupsForValidation(store_, catalog_); };
    groups_ = std::make_unique<ReplicationGroupFrontend>(store_, cfg_, nullptr);
    groups_->SetUserParameterGroups(users);
    params_ = std::make_unique<ParameterGroupFrontend>(store_, cfg_, catalog_, [] {});
    modify_ = std::make_unique<ModifyGroupFrontend>(store_, cfg_, nullptr);
    AddSettingsParameterSet(*modify_, store_, cfg_);
    AddParameterGroupSet(*modify_, store_, cfg_, catalog_, users, [this] { ++pokes_; });
    AddNodeTypeSet(*modify_, store_, cfg_);
    ReconcilerDeps deps;
    deps.store = &store_;
    deps.agents = &agents_;
    deps.pool = &pool_;
    deps.settings = cfg_.operations;
    node_type_ = std::make_unique<NodeTypeReconciler>(deps, catalog_);
    groups_->Register(d_);
    params_->Register(d_);
    modify_->Register(d_);
  }
  std::string Fault(const std::string& action, const Params& p) {
    doc_.reset();
    auto result = doc_.append_child((action + "Result").c_str());
    auto e = d_.Dispatch(Request(action, p), result);
    return e ? e->code + "/" + std::to_string(e->http_status) : "ok";
  }
  void UserGroup(const std::string& name, const Params& values) {
    ASSERT_EQ(Fault("CreateCacheParameterGroup", {{"CacheParameterGroupName", name},
                                                  {"CacheParameterGroupFamily", "redis7"},
                                                  {"Description", "d"}}),
              "ok");
    ASSERT_EQ(Fault("ModifyCacheParameterGroup", testing::ParameterValuesRequest(name, values)),
              "ok");
  }
  void MakeAvailable(const std::string& id) {
    auto ops = store_.ListUnfinishedOperations();
    ASSERT_TRUE(ops.ok());
    for (auto op : *ops) {
      if (op.group_id != id) continue;
      op = *store_.ClaimOperation(op.id);
      for (OpState s : {OpState::kLaunchNodes, OpState::kReplicate, OpState::kAwaitHealthy})
        ASSERT_TRUE(store_.TransitionOperation(op, s, "").ok());
      ASSERT_TRUE(store_.CompleteCreate(op, "created").ok());
    }
  }
  // Carries out the node-type operations by hand (no runner here): every step until it ends.
  void RunNodeTypeOperations() {
    auto ops = store_.ListUnfinishedOperations();
    ASSERT_TRUE(ops.ok());
    for (auto op : *ops) {
      if (op.kind != OpKind::kModifyNodeType) continue;
      op = *store_.ClaimOperation(op.id);
      std::atomic<bool> stop{false};
      for (int i = 0; i < 10 && !IsTerminal(op.state); ++i)
        ASSERT_TRUE(node_type_->Step(op, stop).ok()) << OpStateName(op.state);
      ASSERT_TRUE(IsTerminal(op.state));
    }
  }
  Params Switch(const std::string& pg, const char* apply = "true") {
    return {{"ReplicationGroupId", "rg"}, {"CacheParameterGroupName", pg},
            {"ApplyImmediately", apply}};
  }

  TempDir dir_;
  OrchestratorConfig cfg_;
  ParameterCatalog catalog_;
  Store store_;
  api::Dispatcher d_;
  std::unique_ptr<ReplicationGroupFrontend> groups_;
  std::unique_ptr<ParameterGroupFrontend> params_;
  std::unique_ptr<ModifyGroupFrontend> modify_;
  pugi::xml_document doc_;
  int pokes_ = 0;
  RecordingAgents agents_;
  TaskPool pool_{4};
  std::unique_ptr<NodeTypeReconciler> node_type_;
};

TEST_F(ModifyParameterGroupTest, FaultsChangeNothing) {
  UserGroup("pg-a", {{"timeout", "9"}});
  UserGroup("pg-cme", {{"cluster-enabled", "yes"}});
  ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"NumCacheClusters", "2"}}),
            "ok");
  // Still creating.
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("pg-a")), "InvalidReplicationGroupState/400");
  MakeAvailable("rg");
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("nope")), "CacheParameterGroupNotFound/404");
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("pg-cme")),
            "InvalidParameterCombination/400");
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("default.redis7.cluster.on")),
            "InvalidParameterCombination/400");
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("pg-cme", "false")),
            "InvalidParameterCombination/400");
  EXPECT_EQ(Fault("ModifyReplicationGroup",
                  {{"ReplicationGroupId", "rg"}, {"CacheParameterGroupName", "pg-a"},
                   {"ApplyImmediately", "true"}, {"ReplicationGroupDescription", "x"}}),
            "InvalidParameterCombination/400");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.parameter_group, "default.redis7");
  EXPECT_EQ(pokes_, 0);
  // The current group: nothing changes, the group is returned.
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("DEFAULT.REDIS7")), "ok");
  EXPECT_EQ(pokes_, 0);
  // A user group (applied at once whatever ApplyImmediately says, as in ElastiCache); then back
  // to the built-in one (node_spec_follow_test.cc).
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("PG-A", "false")), "ok");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.parameter_group, "pg-a");
  EXPECT_EQ(Fault("ModifyReplicationGroup", Switch("default.redis7")), "ok");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.parameter_group, "default.redis7");
}

TEST_F(ModifyParameterGroupTest, SwitchIsAppliedToEveryNodeAndRestoresDefaults) {
  UserGroup("pg-a", {{"timeout", "9"}, {"notify-keyspace-events", "KEA"}});
  UserGroup("pg-b", {{"timeout", "5"}, {"databases", "4"}});
  ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"NumCacheClusters", "2"}}),
            "ok");
  MakeAvailable("rg");
  RecordingAgents agents;
  ParameterApplier applier(store_, agents, catalog_, cfg_);
  EXPECT_EQ(applier.RunOnce(), 0);  // default group: nothing to do

  ASSERT_EQ(Fault("ModifyReplicationGroup", Switch("pg-a")), "ok");
  EXPECT_EQ(pokes_, 1);
  EXPECT_EQ(store_.ParameterApplyStatuses()->at("rg-001"), "applying");
  EXPECT_EQ(applier.RunOnce(), 2);
  ASSERT_EQ(agents.calls.size(), 2u);
  for (const auto& c : agents.calls) {
    EXPECT_FALSE(c.restart());
    EXPECT_EQ(c.spec().config().at("timeout"), "9");
    EXPECT_EQ(c.spec().config().at("notify-keyspace-events"), "KEA");
  }
  EXPECT_EQ(store_.ParameterApplyStatuses()->at("rg-002"), "in-sync");

  agents.calls.clear();
  ASSERT_EQ(Fault("ModifyReplicationGroup", Switch("pg-b")), "ok");
  // databases is static: pending-reboot, sent as a static key (spec only).
  EXPECT_EQ(store_.ParameterApplyStatuses()->at("rg-001"), "pending-reboot");
  EXPECT_EQ(applier.RunOnce(), 2);
  ASSERT_EQ(agents.calls.size(), 2u);
  for (const auto& c : agents.calls) {
    EXPECT_EQ(c.spec().config().at("timeout"), "5");
    EXPECT_EQ(c.spec().config().at("notify-keyspace-events"), "\"\"");  // back to its default
    EXPECT_EQ(c.spec().config().at("databases"), "4");  // a static key: spec only
    EXPECT_EQ(c.static_keys(0), "databases");
  }
  EXPECT_EQ(applier.RunOnce(), 0);
  auto events = store_.ListEvents("rg");
  ASSERT_TRUE(events.ok());
  bool seen = false;
  for (const auto& e : *events)
    seen = seen || e.message.find("switched from cache parameter group pg-a to pg-b") !=
                       std::string::npos;
  EXPECT_TRUE(seen);
}

TEST_F(ModifyParameterGroupTest, NodeTypeReachesEveryNodeOrTheOldTypeComesBack) {
  UserGroup("pg-a", {{"timeout", "9"}});
  ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"CacheParameterGroupName", "pg-a"},
                                             {"CacheNodeType", "cache.t3.micro"},
                                             {"NumCacheClusters", "2"}}),
            "ok");
  MakeAvailable("rg");
  auto type = [](const char* t, const char* apply = "true") {
    return Params{{"ReplicationGroupId", "rg"}, {"CacheNodeType", t}, {"ApplyImmediately", apply}};
  };
  EXPECT_EQ(Fault("ModifyReplicationGroup", type("cache.nope.large")), "InvalidParameterValue/400");
  // ApplyImmediately=false: recorded for the maintenance window, nothing sent.
  EXPECT_EQ(Fault("ModifyReplicationGroup", type("cache.r6g.large", "false")), "ok");
  EXPECT_TRUE(agents_.calls.empty());
  EXPECT_EQ(store_.GetGroup("rg")->value().group.pending_modifications.at("CacheNodeType"),
            "cache.r6g.large");
  const NodeType* small = cfg_.node_types.Find("cache.r6g.large");
  const NodeType* micro = cfg_.node_types.Find("cache.t3.micro");
  ASSERT_TRUE(small && micro);
  // Up: every node gets the new maxmemory, the spec keeps hold_on_exit and the group's values.
  // The request records the operation; the group is `modifying` until it is done.
  ASSERT_EQ(Fault("ModifyReplicationGroup", type("cache.r6g.large")), "ok");
  EXPECT_STREQ(doc_.child("ModifyReplicationGroupResult").child("ReplicationGroup")
                   .child_value("Status"), "modifying");
  EXPECT_TRUE(agents_.calls.empty());
  RunNodeTypeOperations();
  ASSERT_EQ(agents_.calls.size(), 2u);
  for (const auto& c : agents_.calls) {
    EXPECT_FALSE(c.restart());
    EXPECT_EQ(c.spec().maxmemory_bytes(), small->memory_bytes);
    EXPECT_TRUE(c.spec().hold_on_exit());
    EXPECT_EQ(c.spec().config().at("timeout"), "9");
  }
  EXPECT_EQ(store_.GetGroup("rg")->value().group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.maxmemory_bytes, small->memory_bytes);
  EXPECT_EQ(store_.GetGroup("rg")->value().group.status, GroupStatus::kAvailable);
  // The immediate change superseded the pending one.
  EXPECT_TRUE(store_.GetGroup("rg")->value().group.pending_modifications.empty());
  // Down below what a node holds: refused, naming the node; nothing sent.
  agents_.calls.clear();
  ObservedNode big;
  big.known = true;
  big.state = "running";
  big.used_memory = micro->memory_bytes + 1;
  auto v = store_.GetGroup("rg")->value();
  ASSERT_TRUE(store_.RecordObservations(v.nodes[1].host_id, {{v.nodes[1].node_id, big}}).ok());
  doc_.reset();
  auto e = d_.Dispatch(Request("ModifyReplicationGroup", type("cache.t3.micro")),
                       doc_.append_child("R"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidParameterValue");
  EXPECT_NE(e->message.find(v.nodes[1].node_id), std::string::npos) << e->message;
  EXPECT_TRUE(agents_.calls.empty());
  EXPECT_TRUE(store_.ListUnfinishedOperations()->empty());
  // A node that refuses the new limit: the operation rolls back to the old type (as ElastiCache
  // keeps the old type when a scaling fails); every node gets the old maxmemory again.
  big.used_memory = 1;
  ASSERT_TRUE(store_.RecordObservations(v.nodes[1].host_id, {{v.nodes[1].node_id, big}}).ok());
  agents_.refuse_maxmemory = micro->memory_bytes;
  EXPECT_EQ(Fault("ModifyReplicationGroup", type("cache.t3.micro")), "ok");
  RunNodeTypeOperations();
  EXPECT_EQ(store_.GetGroup("rg")->value().group.cache_node_type, "cache.r6g.large");
  EXPECT_EQ(store_.GetGroup("rg")->value().group.maxmemory_bytes, small->memory_bytes);
  EXPECT_EQ(store_.GetGroup("rg")->value().group.status, GroupStatus::kAvailable);
  ASSERT_EQ(agents_.calls.size(), 4u);  // two refused (or sent), then both back
  EXPECT_EQ(agents_.calls[2].spec().maxmemory_bytes(), small->memory_bytes);
  EXPECT_EQ(agents_.calls[3].spec().maxmemory_bytes(), small->memory_bytes);
  bool failed_event = false;
  const auto events = store_.ListEvents("rg");
  ASSERT_TRUE(events.ok());
  for (const auto& ev : *events)
    failed_event = failed_event ||
                   ev.message.find("Failed to scale replication group rg to cache.t3.micro") !=
                       std::string::npos;
  EXPECT_TRUE(failed_event);
  agents_.refuse_maxmemory = 0;
  EXPECT_EQ(Fault("ModifyReplicationGroup", type("cache.t3.micro")), "ok");
  RunNodeTypeOperations();
  EXPECT_EQ(store_.GetGroup("rg")->value().group.maxmemory_bytes, micro->memory_bytes);
  EXPECT_EQ(agents_.calls.back().spec().maxmemory_bytes(), micro->memory_bytes);
}

}  // namespace
}  // namespace cf::orchestrator
