// Standalone cache clusters (the primary DeleteReplicationGroup RetainPrimaryCluster=true keeps):
// DescribeCacheClusters shows them, tags on their ARN, and DeleteCacheCluster with its reaper,
// against the in-process fake agents: every fault changes nothing, the redis-server is stopped
// through its agent, the port reservation goes, and an unreachable agent only delays the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "orchestrator/core/query_params.h"
#include "orchestrator/groups/groups_feature.h"
#include "orchestrator/groups/standalone_delete.h"
#include "orchestrator/testing/fake_fleet.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::FakeAgent;
using testing::Request;

class StandaloneTest : public testing::FakeFleet {
 protected:
  void SetUp() override {
    FakeFleet::SetUp();
    StartApp();
  }
  int ReaperPokes() { return app().groups().reaper.pokes(); }

  std::string Call(const std::string& action, const Params& p) { return CallCode(action, p); }
  pugi::xml_node Result() { return doc_.child("Result"); }
  bool WaitUntil(const std::function<bool()>& pred, int timeout_ms = 15000) {
    return FakeFleet::WaitUntil(pred, timeout_ms);
  }
  bool Available(const std::string& id) { return WaitFor(id, "available", 15000); }
  void CreateGroup(const std::string& id, int nodes) {
    ASSERT_EQ(Call("CreateReplicationGroup", {{"ReplicationGroupId", id},
                                              {"ReplicationGroupDescription", "d"},
                                              {"NumCacheClusters", std::to_string(nodes)}}),
              "ok");
    ASSERT_TRUE(Available(id));
  }
  // Group g (2 nodes) with a notification topic, deleted keeping g-001; groups a and z stay.
  void Retain() {
    CreateGroup("a", 2);
    CreateGroup("g", 2);
    CreateGroup("z", 1);
    ASSERT_EQ(Call("ModifyReplicationGroup", {{"ReplicationGroupId", "g"},
                                              {"NotificationTopicArn", "arn:aws:sns:us-east-1:1:t"},
                                              {"NotificationTopicStatus", "inactive"},
                                              {"ApplyImmediately", "true"}}),
              "ok");
    primary_ = store().GetGroup("g")->value().nodes[0];
    ASSERT_EQ(Call("DeleteReplicationGroup",
                   {{"ReplicationGroupId", "g"}, {"RetainPrimaryCluster", "true"}}),
              "ok");
    ASSERT_TRUE(WaitUntil([&] { return !*store().GetGroup("g"); }));
    ASSERT_EQ(store().ListStandaloneClusters()->size(), 1u);
  }
  std::vector<std::string> DescribedIds(const Params& p) {
    EXPECT_EQ(Call("DescribeCacheClusters", p), "ok");
    std::vector<std::string> ids;
    for (auto c : Result().child("CacheClusters").children("CacheCluster"))
      ids.push_back(c.child_value("CacheClusterId"));
    return ids;
  }
  // The ports the store holds (allocated or blocked) on a host, read through the create
  // transaction's fleet snapshot (the place callback refuses, so nothing is written).
  std::vector<uint32_t> UsedPorts(const std::string& host_id) {
    std::vector<uint32_t> out;
    NewGroup ng;
    ng.group.id = "probe";
    auto r = store().CreateGroup(ng, [&](const FleetSnapshot& s, std::vector<NodeRecord>&) {
      for (size_t i = 0; i < s.hosts.size(); ++i)
        if (s.hosts[i].host_id == host_id) out = s.used_ports[i];
      return MakeError(Errc::kResourceExhausted, "probe");
    });
    EXPECT_FALSE(r.ok());
    return out;
  }
  bool AgentHas(const std::string& node_id) {
    std::lock_guard lk(net_->mu);
    return net_->nodes.count(node_id) != 0;
  }

  NodeRecord primary_;
};

TEST_F(StandaloneTest, DescribeCacheClustersShowsTheRetainedCluster) {
  Retain();
  // Every cluster in id order, the standalone one between the groups' members.
  EXPECT_EQ(DescribedIds({}), (std::vector<std::string>{"a-001", "a-002", "g-001", "z-001"}));
  EXPECT_EQ(DescribedIds({{"ShowCacheClustersNotInReplicationGroups", "true"}}),
            (std::vector<std::string>{"g-001"}));
  EXPECT_EQ(DescribedIds({{"Marker", settings::EncodeMarker("cfc1.", "a-002")}}),
            (std::vector<std::string>{"g-001", "z-001"}));
  EXPECT_EQ(DescribedIds({{"CacheClusterId", "G-001"}, {"ShowCacheNodeInfo", "true"}}),
            (std::vector<std::string>{"g-001"}));
  auto c = Result().child("CacheClusters").child("CacheCluster");
  EXPECT_TRUE(c.child("ReplicationGroupId").empty());
  EXPECT_STREQ(c.child_value("NumCacheNodes"), "1");
  EXPECT_STREQ(c.child_value("CacheClusterStatus"), "available");
  EXPECT_STREQ(c.child_value("CacheNodeType"), "cache.t3.micro");
  EXPECT_STREQ(c.child_value("Engine"), "redis");
  EXPECT_STREQ(c.child_value("EngineVersion"), "7.0.15");
  EXPECT_STREQ(c.child_value("PreferredAvailabilityZone"), primary_.az.c_str());
  EXPECT_STREQ(c.child("CacheParameterGroup").child_value("CacheParameterGroupName"),
               "default.redis7");
  EXPECT_STREQ(c.child("NotificationConfiguration").child_value("TopicArn"),
               "arn:aws:sns:us-east-1:1:t");
  EXPECT_STREQ(c.child("NotificationConfiguration").child_value("TopicStatus"), "inactive");
  EXPECT_STREQ(c.child_value("ARN"), "arn:aws:elasticache:us-east-1:123456789012:cluster:g-001");
  auto ep = c.child("CacheNodes").child("CacheNode").child("Endpoint");
  EXPECT_STREQ(ep.child_value("Address"), "127.0.0.1");
  EXPECT_EQ(std::to_string(primary_.port), ep.child_value("Port"));
  // The members still name their group; a member is not "outside a group".
  DescribedIds({{"CacheClusterId", "a-001"}});
  EXPECT_STREQ(Result().child("CacheClusters").child("CacheCluster").child_value(
                   "ReplicationGroupId"),
               "a");
  EXPECT_EQ(Call("DescribeCacheClusters", {{"CacheClusterId", "a-001"},
                                           {"ShowCacheClustersNotInReplicationGroups", "true"}}),
            "CacheClusterNotFound/404");
}

TEST_F(StandaloneTest, TagsOnAStandaloneClusterAreListedButNotAdded) {
  Retain();
  const std::string arn = "arn:aws:elasticache:us-east-1:123456789012:cluster:g-001";
  EXPECT_EQ(Call("ListTagsForResource", {{"ResourceName", arn}}), "ok");
  EXPECT_TRUE(Result().child("TagList").first_child().empty());
  EXPECT_EQ(Call("AddTagsToResource", {{"ResourceName", arn},
                                       {"Tags.Tag.1.Key", "k"},
                                       {"Tags.Tag.1.Value", "v"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Call("RemoveTagsFromResource", {{"ResourceName", arn}, {"TagKeys.member.1", "k"}}),
            "TagNotFound/404");
  EXPECT_EQ(Call("ListTagsForResource", {{"ResourceName", arn}}), "ok");
  EXPECT_TRUE(Result().child("TagList").first_child().empty());
  // Members keep working.
  EXPECT_EQ(Call("AddTagsToResource",
                 {{"ResourceName", "arn:aws:elasticache:us-east-1:123456789012:cluster:a-001"},
                  {"Tags.Tag.1.Key", "k"},
                  {"Tags.Tag.1.Value", "v"}}),
            "ok");
  EXPECT_EQ(Call("ListTagsForResource",
                 {{"ResourceName", "arn:aws:elasticache:us-east-1:123456789012:cluster:nope"}}),
            "CacheClusterNotFound/404");
}

TEST_F(StandaloneTest, DeleteCacheClusterFaultsChangeNothing) {
  Retain();
  EXPECT_EQ(Call("DeleteCacheCluster", {}), "MissingParameter/400");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "bad--id"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "g-001"}, {"Bogus", "1"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Call("DeleteCacheCluster",
                 {{"CacheClusterId", "g-001"}, {"FinalSnapshotIdentifier", "snap"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "nope"}}), "CacheClusterNotFound/404");
  doc_.reset();
  auto e = app().dispatcher().Dispatch(Request("DeleteCacheCluster", {{"CacheClusterId", "a-002"}}),
                       doc_.append_child("Result"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidCacheClusterState");
  EXPECT_NE(e->message.find("is a member of a replication group"), std::string::npos);
  // A new group whose member ids would be the standalone cluster's.
  EXPECT_EQ(Call("CreateReplicationGroup", {{"ReplicationGroupId", "g"},
                                            {"ReplicationGroupDescription", "d"},
                                            {"NumCacheClusters", "2"}}),
            "CacheClusterAlreadyExists/400");
  EXPECT_FALSE(*store().GetGroup("g"));
  EXPECT_EQ(store().GetGroup("a")->value().nodes.size(), 2u);
  EXPECT_EQ(store().ListStandaloneClusters()->at(0).status, "available");
  EXPECT_EQ(ReaperPokes(), 0);
  EXPECT_TRUE(AgentHas("g-001"));
}

TEST_F(StandaloneTest, DeleteCacheClusterStopsTheNodeAndFreesThePort) {
  Retain();
  auto before = UsedPorts(primary_.host_id);
  ASSERT_NE(std::find(before.begin(), before.end(), primary_.port), before.end());
  ASSERT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "G-001"}}), "ok");
  auto c = Result().child("CacheCluster");
  EXPECT_STREQ(c.child_value("CacheClusterId"), "g-001");
  EXPECT_STREQ(c.child_value("CacheClusterStatus"), "deleting");
  EXPECT_TRUE(c.child("ReplicationGroupId").empty());
  EXPECT_EQ(ReaperPokes(), 1);
  // Describe shows it deleting; a second delete is refused.
  DescribedIds({{"CacheClusterId", "g-001"}});
  EXPECT_STREQ(Result().child("CacheClusters").child("CacheCluster").child_value(
                   "CacheClusterStatus"),
               "deleting");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "g-001"}}),
            "InvalidCacheClusterState/400");

  StandaloneReaper reaper(store(), app().agents(), cfg_);
  EXPECT_EQ(reaper.RunOnce(), 1);
  EXPECT_FALSE(AgentHas("g-001"));
  EXPECT_TRUE(store().ListStandaloneClusters()->empty());
  auto after = UsedPorts(primary_.host_id);
  EXPECT_EQ(std::find(after.begin(), after.end(), primary_.port), after.end());
  EXPECT_EQ(Call("DescribeCacheClusters", {{"CacheClusterId", "g-001"}}),
            "CacheClusterNotFound/404");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "g-001"}}), "CacheClusterNotFound/404");
  auto events = store().ListEvents("g-001");
  ASSERT_TRUE(events.ok());
  bool deleting = false, deleted = false;
  for (const auto& ev : *events) {
    deleting = deleting || ev.message == "Deleting cache cluster g-001";
    deleted = deleted || ev.message == "Cache cluster g-001 deleted";
  }
  EXPECT_TRUE(deleting);
  EXPECT_TRUE(deleted);
  EXPECT_EQ(reaper.RunOnce(), 0);
  // The other groups' nodes are untouched.
  EXPECT_TRUE(AgentHas("a-001") && AgentHas("a-002") && AgentHas("z-001"));
  // The id is free again.
  CreateGroup("g", 2);
  EXPECT_TRUE(AgentHas("g-001"));
}

TEST_F(StandaloneTest, AnUnreachableAgentOnlyDelaysTheDelete) {
  Retain();
  ASSERT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "g-001"}}), "ok");
  FakeAgent* agent = nullptr;
  for (auto& a : agents_)
    if (a->host_id() == primary_.host_id) agent = a.get();
  ASSERT_NE(agent, nullptr);
  agent->fail_all = true;
  {
    StandaloneReaper reaper(store(), app().agents(), cfg_);
    EXPECT_EQ(reaper.RunOnce(), 0);
  }
  EXPECT_EQ(store().ListStandaloneClusters()->at(0).status, "deleting");
  EXPECT_TRUE(AgentHas("g-001"));
  agent->fail_all = false;
  // A fresh reaper (as after an orchestrator restart) finishes it from the store alone.
  StandaloneReaper reaper(store(), app().agents(), cfg_);
  reaper.Start();
  EXPECT_TRUE(WaitUntil([&] { return store().ListStandaloneClusters()->empty(); }));
  reaper.Stop();
  EXPECT_FALSE(AgentHas("g-001"));
}

}  // namespace
}  // namespace cf::orchestrator
