// The nodes' spec follows the group, against the in-process fake agents (which keep the spec
// they were given and refuse a dynamic config key that a spec drops, as the agent does):
// ModifyReplicationGroup CacheParameterGroupName back to a built-in group (every parameter the
// old group set is sent with its default; in-sync afterwards; later switches and node-type
// changes keep working), and AutomaticFailoverEnabled (every node's hold_max_ms follows, through
// the parameter applier, only once the modify-failover operation finished).
#include <gtest/gtest.h>

#include <set>
#include <chrono>
#include <thread>

#include "orchestrator/parameters/parameter_group_applier.h"
#include "orchestrator/parameters/parameter_group_store.h"
#include "orchestrator/parameters/parameters_feature.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;

constexpr int64_t kHoldMaxMs = 12345;

class NodeSpecFollowTest : public testing::FakeFleet {
 protected:
  void Configure(OrchestratorConfig& cfg) override { cfg.failover.hold_max_ms = kHoldMaxMs; }
  void SetUp() override {
    FakeFleet::SetUp();
    StartApp();
  }
  std::string Call(const std::string& action, const Params& p) { return CallCode(action, p); }
  ParameterApplier& applier() { return app().parameters().applier; }
  // The applier's pokes since the last MarkPokes().
  int Pokes() { return applier().pokes() - pokes_mark_; }
  void MarkPokes() { pokes_mark_ = applier().pokes(); }

  bool Settled(const std::string& id) { return WaitFor(id, "available", 15000); }
  void UserGroup(const std::string& name, const Params& values) {
    ASSERT_EQ(Call("CreateCacheParameterGroup", {{"CacheParameterGroupName", name},
                                                 {"CacheParameterGroupFamily", "redis7"},
                                                 {"Description", "d"}}),
              "ok");
    ASSERT_EQ(Call("ModifyCacheParameterGroup", testing::ParameterValuesRequest(name, values)),
              "ok");
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
    return {{"ReplicationGroupId", "rg"}, {"CacheParameterGroupName", pg},
            {"ApplyImmediately", "true"}};
  }
  // node id -> the fake agent's node (copy).
  std::map<std::string, testing::FakeNode> Nodes() {
    std::lock_guard lk(net_->mu);
    return net_->nodes;
  }
  std::set<std::string> Statuses() {
    std::set<std::string> out;
    auto all = store().ParameterApplyStatuses();
    EXPECT_TRUE(all.ok());
    if (all.ok())
      for (const auto& [id, st] : *all) out.insert(st);
    return out;
  }

  int pokes_mark_ = 0;
};

TEST_F(NodeSpecFollowTest, SwitchBackToTheBuiltinGroupSendsTheDefaults) {
  UserGroup("pg-a", {{"maxmemory-policy", "allkeys-lfu"}, {"notify-keyspace-events", "KEA"}});
  UserGroup("pg-b", {{"maxmemory-policy", "allkeys-random"}});
  CreateGroup("pg-a");
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_EQ(n.running.at("maxmemory-policy"), "allkeys-lfu") << id;
    EXPECT_EQ(n.running.at("notify-keyspace-events"), "KEA") << id;
  }
  // Faults change nothing (no built-in row either: DescribeCacheParameterGroups unchanged).
  MarkPokes();  // (creating and changing pg-a/pg-b poked the applier too)
  EXPECT_EQ(Call("ModifyReplicationGroup", Switch("default.redis7.cluster.on")),
            "InvalidParameterCombination/400");
  EXPECT_EQ(Call("ModifyReplicationGroup", Switch("default.nope")),
            "CacheParameterGroupNotFound/404");
  EXPECT_EQ(store().GetGroup("rg")->value().group.parameter_group, "pg-a");
  EXPECT_FALSE(store().GetParameterGroup("default.redis7")->has_value());
  EXPECT_EQ(Pokes(), 0);

  ASSERT_EQ(Call("ModifyReplicationGroup", Switch("DEFAULT.REDIS7")), "ok");
  EXPECT_EQ(Pokes(), 1);
  EXPECT_STREQ(doc_.child("Result").child("ReplicationGroup").child_value("Status"), "available");
  EXPECT_EQ(store().GetGroup("rg")->value().group.parameter_group, "default.redis7");
  EXPECT_EQ(Statuses(), std::set<std::string>{"applying"});
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_EQ(n.running.at("maxmemory-policy"), "volatile-lru") << id;
    EXPECT_EQ(n.running.at("notify-keyspace-events"), "\"\"") << id;
    EXPECT_EQ(n.hold_max_ms, kHoldMaxMs) << id;
  }
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
  EXPECT_EQ(applier().RunOnce(), 0);
  // The built-in group's row is not a user group.
  auto users = ParameterGroupStoreOf(store()).ListParameterGroups();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 2u);
  ASSERT_EQ(Call("DescribeCacheParameterGroups", {}), "ok");
  int defaults = 0;
  for (auto g : doc_.child("Result").child("CacheParameterGroups").children())
    defaults += std::string(g.child_value("CacheParameterGroupName")) == "default.redis7";
  EXPECT_EQ(defaults, 1);
  EXPECT_EQ(Call("DeleteCacheParameterGroup", {{"CacheParameterGroupName", "pg-a"}}), "ok");
  auto events = store().ListEvents("rg");
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
  EXPECT_EQ(store().GetGroup("rg")->value().group.cache_node_type, "cache.r6g.large");
  // Out to a user group and back again: every key keeps being sent.
  ASSERT_EQ(Call("ModifyReplicationGroup", Switch("pg-b")), "ok");
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_EQ(n.running.at("maxmemory-policy"), "allkeys-random") << id;
    EXPECT_EQ(n.config.at("notify-keyspace-events"), "\"\"") << id;
  }
  ASSERT_EQ(Call("ModifyReplicationGroup", Switch("default.redis7")), "ok");
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.running.at("maxmemory-policy"), "volatile-lru");
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
}

TEST_F(NodeSpecFollowTest, AutomaticFailoverReachesEveryNodesSpec) {
  UserGroup("pg-a", {{"maxmemory-policy", "allkeys-lfu"}});
  CreateGroup("pg-a");
  EXPECT_EQ(applier().RunOnce(), 2);
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
  app().StopRunner();
  ASSERT_EQ(Call("ModifyReplicationGroup", af("true")), "ok");
  ASSERT_TRUE(store().MarkNodesRespec("rg").ok());  // as if the step ran and then crashed
  EXPECT_EQ(applier().RunOnce(), 0);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.hold_max_ms, kHoldMaxMs);
  ASSERT_TRUE(app().StartRunner().ok());
  ASSERT_TRUE(Settled("rg"));
  EXPECT_TRUE(store().GetGroup("rg")->value().group.automatic_failover);
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) {
    EXPECT_TRUE(n.hold_on_exit) << id;
    EXPECT_EQ(n.hold_max_ms, 0u) << id;
    EXPECT_EQ(n.running.at("maxmemory-policy"), "allkeys-lfu") << id;
  }
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
  // The same value again: nothing to do.
  ASSERT_EQ(Call("ModifyReplicationGroup", af("true")), "ok");
  ASSERT_TRUE(Settled("rg"));
  EXPECT_EQ(applier().RunOnce(), 0);

  ASSERT_EQ(Call("ModifyReplicationGroup", af("false")), "ok");
  ASSERT_TRUE(Settled("rg"));
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.hold_max_ms, kHoldMaxMs) << id;
  EXPECT_EQ(applier().RunOnce(), 0);
}

TEST_F(NodeSpecFollowTest, BuiltinGroupNodesFollowAutomaticFailoverAndFaultsChangeNothing) {
  CreateGroup();  // default.redis7: no row
  EXPECT_EQ(applier().RunOnce(), 0);
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
  EXPECT_EQ(applier().RunOnce(), 0);
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});

  ASSERT_EQ(Call("ModifyReplicationGroup", {{"ReplicationGroupId", "rg"},
                                            {"AutomaticFailoverEnabled", "true"},
                                            {"ApplyImmediately", "true"}}),
            "ok");
  ASSERT_TRUE(Settled("rg"));
  EXPECT_EQ(applier().RunOnce(), 2);
  for (const auto& [id, n] : Nodes()) EXPECT_EQ(n.hold_max_ms, id == "one-001" ? kHoldMaxMs : 0);
  EXPECT_EQ(Statuses(), std::set<std::string>{"in-sync"});
  EXPECT_FALSE(store().GetParameterGroup("default.redis7")->has_value());
}

}  // namespace
}  // namespace cf::orchestrator
