// Standalone cache clusters (the primary DeleteReplicationGroup RetainPrimaryCluster=true keeps):
// DescribeCacheClusters shows them, tags on their ARN, and DeleteCacheCluster with its reaper,
// against the in-process fake agents: every fault changes nothing, the redis-server is stopped
// through its agent, the port reservation goes, and an unreachable agent only delays the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/groups/create_group_reconciler.h"
#include "orchestrator/groups/delete_group_reconciler.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/modify_settings.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/replicas/replica_count_reconciler.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/groups/standalone_delete.h"
#include "orchestrator/tags/tags_frontend.h"
#include "orchestrator/operations/task_pool.h"
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

class StandaloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    net_ = std::make_shared<FakeNetwork>();
    for (int i = 0; i < 3; ++i) {
      agents_.push_back(std::make_unique<FakeAgent>(net_, std::string("host-") + char('a' + i),
                                                    "127.0.0.1"));
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
    ReconcilerDeps deps;
    deps.store = &store_;
    deps.agents = api_.get();
    deps.pool = pool_.get();
    deps.settings = cfg_.operations;
    create_ = std::make_unique<CreateGroupReconciler>(deps);
    del_ = std::make_unique<DeleteGroupReconciler>(deps);
    replicas_ = std::make_unique<ReplicaCountReconciler>(deps);
    runner_ = std::make_unique<OperationRunner>(store_, cfg_.operations);
    runner_->SetHandler(OpKind::kCreateGroup, create_.get());
    runner_->SetHandler(OpKind::kDeleteGroup, del_.get());
    runner_->SetHandler(OpKind::kDecreaseReplicas, replicas_.get());
    ASSERT_TRUE(runner_->Start().ok());
    auto poke = [this](int64_t id) { runner_->Poke(id); };
    groups_ = std::make_unique<ReplicationGroupFrontend>(store_, cfg_, poke);
    groups_->Register(d_);
    modify_ = std::make_unique<ModifyGroupFrontend>(store_, cfg_, poke);
    AddSettingsParameterSet(*modify_, store_, cfg_);
    modify_->Register(d_);
    clusters_ = std::make_unique<CacheClusterFrontend>(store_, cfg_);
    clusters_->Register(d_);
    tags_ = std::make_unique<TagsFrontend>(store_, cfg_);
    tags_->Register(d_);
    standalone_ = std::make_unique<StandaloneFrontend>(store_, cfg_, [this] { ++pokes_; });
    standalone_->Register(d_);
  }
  void TearDown() override { runner_->Stop(); }

  std::string Call(const std::string& action, const Params& p) {
    doc_.reset();
    auto e = d_.Dispatch(Request(action, p), doc_.append_child("Result"));
    return e ? e->code + "/" + std::to_string(e->http_status) : "ok";
  }
  pugi::xml_node Result() { return doc_.child("Result"); }
  template <class Pred>
  bool WaitUntil(Pred pred, int timeout_ms = 15000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  bool Available(const std::string& id) {
    return WaitUntil([&] {
      auto g = store_.GetGroup(id);
      return g.ok() && *g && (*g)->group.status == GroupStatus::kAvailable &&
             store_.ListUnfinishedOperations()->empty();
    });
  }
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
    primary_ = store_.GetGroup("g")->value().nodes[0];
    ASSERT_EQ(Call("DeleteReplicationGroup",
                   {{"ReplicationGroupId", "g"}, {"RetainPrimaryCluster", "true"}}),
              "ok");
    ASSERT_TRUE(WaitUntil([&] { return !*store_.GetGroup("g"); }));
    ASSERT_EQ(store_.ListStandaloneClusters()->size(), 1u);
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
    auto r = store_.CreateGroup(ng, [&](const FleetSnapshot& s, std::vector<NodeRecord>&) {
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

  TempDir dir_;
  OrchestratorConfig cfg_;
  std::shared_ptr<FakeNetwork> net_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
  Store store_;
  std::unique_ptr<AgentApi> api_;
  std::unique_ptr<TaskPool> pool_;
  std::unique_ptr<CreateGroupReconciler> create_;
  std::unique_ptr<DeleteGroupReconciler> del_;
  std::unique_ptr<ReplicaCountReconciler> replicas_;
  std::unique_ptr<OperationRunner> runner_;
  api::Dispatcher d_;
  std::unique_ptr<ReplicationGroupFrontend> groups_;
  std::unique_ptr<ModifyGroupFrontend> modify_;
  std::unique_ptr<CacheClusterFrontend> clusters_;
  std::unique_ptr<TagsFrontend> tags_;
  std::unique_ptr<StandaloneFrontend> standalone_;
  pugi::xml_document doc_;
  NodeRecord primary_;
  int pokes_ = 0;
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
  auto e = d_.Dispatch(Request("DeleteCacheCluster", {{"CacheClusterId", "a-002"}}),
                       doc_.append_child("Result"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "InvalidCacheClusterState");
  EXPECT_NE(e->message.find("is a member of a replication group"), std::string::npos);
  // A new group whose member ids would be the standalone cluster's.
  EXPECT_EQ(Call("CreateReplicationGroup", {{"ReplicationGroupId", "g"},
                                            {"ReplicationGroupDescription", "d"},
                                            {"NumCacheClusters", "2"}}),
            "CacheClusterAlreadyExists/400");
  EXPECT_FALSE(*store_.GetGroup("g"));
  EXPECT_EQ(store_.GetGroup("a")->value().nodes.size(), 2u);
  EXPECT_EQ(store_.ListStandaloneClusters()->at(0).status, "available");
  EXPECT_EQ(pokes_, 0);
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
  EXPECT_EQ(pokes_, 1);
  // Describe shows it deleting; a second delete is refused.
  DescribedIds({{"CacheClusterId", "g-001"}});
  EXPECT_STREQ(Result().child("CacheClusters").child("CacheCluster").child_value(
                   "CacheClusterStatus"),
               "deleting");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "g-001"}}),
            "InvalidCacheClusterState/400");

  StandaloneReaper reaper(store_, *api_, cfg_);
  EXPECT_EQ(reaper.RunOnce(), 1);
  EXPECT_FALSE(AgentHas("g-001"));
  EXPECT_TRUE(store_.ListStandaloneClusters()->empty());
  auto after = UsedPorts(primary_.host_id);
  EXPECT_EQ(std::find(after.begin(), after.end(), primary_.port), after.end());
  EXPECT_EQ(Call("DescribeCacheClusters", {{"CacheClusterId", "g-001"}}),
            "CacheClusterNotFound/404");
  EXPECT_EQ(Call("DeleteCacheCluster", {{"CacheClusterId", "g-001"}}), "CacheClusterNotFound/404");
  auto events = store_.ListEvents("g-001");
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
    StandaloneReaper reaper(store_, *api_, cfg_);
    EXPECT_EQ(reaper.RunOnce(), 0);
  }
  EXPECT_EQ(store_.ListStandaloneClusters()->at(0).status, "deleting");
  EXPECT_TRUE(AgentHas("g-001"));
  agent->fail_all = false;
  // A fresh reaper (as after an orchestrator restart) finishes it from the store alone.
  StandaloneReaper reaper(store_, *api_, cfg_);
  reaper.Start();
  EXPECT_TRUE(WaitUntil([&] { return store_.ListStandaloneClusters()->empty(); }));
  reaper.Stop();
  EXPECT_FALSE(AgentHas("g-001"));
}

}  // namespace
}  // namespace cf::orchestrator
