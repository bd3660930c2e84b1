// In-process tests of the three actions: handlers called with an ApiRequest and a pugixml
// result element, against a real store (no agents: operations are only recorded).
#include <gtest/gtest.h>

#include "orchestrator/core/id_rules.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::Children;
using testing::Request;
using testing::TempDir;
using testing::TestHost;

class FrontendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    ASSERT_TRUE(store_.Open(dir_.file("orch.db")).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-a", "lab-a", 30000)).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-b", "lab-b", 31000)).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-c", "lab-c", 32000)).ok());
    frontend_ = std::make_unique<ReplicationGroupFrontend>(
        store_, cfg_, [this](int64_t id) { poked_.push_back(id); });
    frontend_->Register(dispatcher_);
  }

  // Runs an action; returns the error or nullopt, with the result element in `doc_`.
  std::optional<api::ApiError> Call(const std::string& action, const Params& p) {
    doc_.reset();
    result_ = doc_.append_child((action + "Result").c_str());
    return dispatcher_.Dispatch(Request(action, p), result_);
  }
  pugi::xml_node Group() { return result_.child("ReplicationGroup"); }

  void ExpectFault(const std::string& action, const Params& p, const std::string& code,
                   int status = 400, const std::string& needle = "") {
    auto e = Call(action, p);
    ASSERT_TRUE(e.has_value()) << "expected " << code;
    EXPECT_EQ(e->code, code) << e->message;
    EXPECT_EQ(e->http_status, status);
    if (!needle.empty()) {
      EXPECT_NE(e->message.find(needle), std::string::npos) << e->message;
    }
  }

  // Drives the group's create operation to success directly in the store.
  void MarkAvailable(const std::string& id) {
    auto ops = store_.ListUnfinishedOperations();
    for (auto op : *ops) {
      if (op.group_id != id) continue;
      op = *store_.ClaimOperation(op.id);
      std::vector<OpState> path =
          op.topology == Topology::kClusterModeEnabled
              ? std::vector<OpState>{OpState::kLaunchNodes, OpState::kAssignSlots,
                                     OpState::kMeet,        OpState::kAwaitMembership,
                                     OpState::kReplicate,   OpState::kAwaitHealthy}
              : std::vector<OpState>{OpState::kLaunchNodes, OpState::kReplicate,
                                     OpState::kAwaitHealthy};
      for (OpState s : path) ASSERT_TRUE(store_.TransitionOperation(op, s, "").ok());
      ASSERT_TRUE(store_.CompleteCreate(op, "created").ok());
    }
  }

  size_t EventCount(const std::string& id) { return store_.ListEvents(id)->size(); }

  TempDir dir_;
  OrchestratorConfig cfg_;
  Store store_;
  api::Dispatcher dispatcher_;
  std::unique_ptr<ReplicationGroupFrontend> frontend_;
  std::vector<int64_t> poked_;
  pugi::xml_document doc_;
  pugi::xml_node result_;
};

TEST_F(FrontendTest, CreateCmdReturnsCreatingGroupWithAllocatedPorts) {
  auto e =
      Call("CreateReplicationGroup", {{"ReplicationGroupId", "RG-Cmd"},
                                      {"ReplicationGroupDescription", "cluster mode off"},
                                      {"AutomaticFailoverEnabled", "true"},
                                      {"NumCacheClusters", "3"},
                                      {"Port", "6379"},
                                      {"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-b"},
                                      {"PreferredCacheClusterAZs.AvailabilityZone.2", "lab-a"},
                                      {"PreferredCacheClusterAZs.AvailabilityZone.3", "lab-c"}});
  ASSERT_FALSE(e.has_value()) << e->code << " " << e->message;
  auto rg = Group();
  EXPECT_STREQ(rg.child_value("ReplicationGroupId"), "rg-cmd");
  EXPECT_STREQ(rg.child_value("Status"), "creating");
  EXPECT_STREQ(rg.child_value("AutomaticFailover"), "enabling");
  EXPECT_STREQ(rg.child_value("ClusterEnabled"), "false");
  auto members = Children(rg.child("MemberClusters"), "ClusterId");
  ASSERT_EQ(members.size(), 3u);
  EXPECT_STREQ(members[0].child_value(), "rg-cmd-001");
  EXPECT_STREQ(members[2].child_value(), "rg-cmd-003");
  auto ng = rg.child("NodeGroups").child("NodeGroup");
  EXPECT_STREQ(ng.child_value("Status"), "creating");
  // The primary was asked for lab-b: host-b, first port of its range (not Port=6379).
  EXPECT_STREQ(ng.child("PrimaryEndpoint").child_value("Port"), "31000");
  EXPECT_STREQ(ng.child("PrimaryEndpoint").child_value("Address"), "127.0.0.1");
  auto m = Children(ng.child("NodeGroupMembers"), "NodeGroupMember");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_STREQ(m[0].child_value("PreferredAvailabilityZone"), "lab-b");
  EXPECT_STREQ(m[1].child_value("PreferredAvailabilityZone"), "lab-a");
  EXPECT_STREQ(m[2].child_value("PreferredAvailabilityZone"), "lab-c");
  EXPECT_STREQ(m[0].child_value("CurrentRole"), "primary");
  ASSERT_EQ(poked_.size(), 1u);
  auto op = store_.GetOperation(poked_[0]);
  EXPECT_EQ((*op)->kind, OpKind::kCreateGroup);
  EXPECT_EQ((*op)->topology, Topology::kClusterModeDisabled);
  EXPECT_GT((*op)->deadline_ms, (*op)->created_ms);
  EXPECT_EQ(EventCount("rg-cmd"), 1u);
  auto stored = store_.GetGroup("rg-cmd");
  EXPECT_EQ((*stored)->group.port, 6379);
}

TEST_F(FrontendTest, CreateCmeSpreadsShardsAndShowsSlots) {
  auto e = Call("CreateReplicationGroup", {{"ReplicationGroupId", "cme"},
                                           {"ReplicationGroupDescription", "on"},
                                           {"NumNodeGroups", "3"},
                                           {"ReplicasPerNodeGroup", "1"},
                                           {"Tags.Tag.1.Key", "env"},
                                           {"Tags.Tag.1.Value", "prod"}});
  ASSERT_FALSE(e.has_value()) << e->message;
  auto rg = Group();
  EXPECT_STREQ(rg.child_value("ClusterEnabled"), "true");
  auto ngs = Children(rg.child("NodeGroups"), "NodeGroup");
  ASSERT_EQ(ngs.size(), 3u);
  EXPECT_STREQ(ngs[0].child_value("Slots"), "0-5460");
  EXPECT_STREQ(ngs[2].child_value("Slots"), "10922-16383");
  EXPECT_FALSE(ngs[0].child("PrimaryEndpoint"));
  EXPECT_FALSE(rg.child("ConfigurationEndpoint"));  // no live primary yet
  auto view = store_.GetGroup("cme");
  ASSERT_EQ((*view)->nodes.size(), 6u);
  EXPECT_EQ((*view)->nodes[0].node_id, "cme-0001-001");
  for (int s = 0; s < 3; ++s)
    EXPECT_NE((*view)->nodes[2 * s].host_id, (*view)->nodes[2 * s + 1].host_id);
  EXPECT_EQ((*view)->tags.size(), 1u);
  EXPECT_EQ((*store_.GetOperation(poked_[0]))->topology, Topology::kClusterModeEnabled);
}

TEST_F(FrontendTest, DuplicateIdsAreCaseInsensitive) {
  ASSERT_FALSE(Call("CreateReplicationGroup",
                    {{"ReplicationGroupId", "dup"}, {"ReplicationGroupDescription", "d"}}));
  ExpectFault("CreateReplicationGroup",
              {{"ReplicationGroupId", "DUP"}, {"ReplicationGroupDescription", "d"}},
              "ReplicationGroupAlreadyExists");
  EXPECT_EQ(poked_.size(), 1u);
}

TEST_F(FrontendTest, RejectionsChangeNothing) {
  const size_t ops_before = store_.ListUnfinishedOperations()->size();
  ExpectFault("CreateReplicationGroup",
              {{"ReplicationGroupId", "bad"},
               {"ReplicationGroupDescription", "d"},
               {"NumCacheClusters", "2"},
               {"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-a"},
               {"PreferredCacheClusterAZs.AvailabilityZone.2", "us-east-1z"}},
              "InvalidParameterValue", 400, "us-east-1z");
  ExpectFault("CreateReplicationGroup",
              {{"ReplicationGroupId", "bad"},
               {"ReplicationGroupDescription", "d"},
               {"NumNodeGroups", "2"},
               {"AutomaticFailoverEnabled", "false"}},
              "InvalidParameterValue");
  EXPECT_FALSE(*store_.GroupExists("bad"));
  EXPECT_EQ(store_.ListUnfinishedOperations()->size(), ops_before);
  EXPECT_EQ(EventCount("bad"), 0u);
  EXPECT_TRUE(poked_.empty());
}

TEST_F(FrontendTest, InsufficientCapacity) {
  // 3 hosts x 100 ports: 90 shards x 5 replicas would need 540 nodes (> quota first), so use
  // a smaller quota-compatible request that does not fit.
  cfg_.limits.max_nodes_per_group = 500;
  ExpectFault("CreateReplicationGroup",
              {{"ReplicationGroupId", "huge"},
               {"ReplicationGroupDescription", "d"},
               {"NumNodeGroups", "80"},
               {"ReplicasPerNodeGroup", "3"}},
              "InsufficientCacheClusterCapacity");
  EXPECT_FALSE(*store_.GroupExists("huge"));
}

TEST_F(FrontendTest, DownHostsGetNoNodesAndNoHostsMeansNoCapacity) {
  // host-b's last heartbeat is older than host_down_after_ms.
  HostRecord b = TestHost("host-b", "lab-b", 31000);
  b.last_heartbeat_ms = NowMs() - cfg_.host_down_after_ms - 1000;
  ASSERT_TRUE(store_.UpsertHost(b).ok());
  ASSERT_FALSE(Call(
      "CreateReplicationGroup",
      {{"ReplicationGroupId", "g"}, {"ReplicationGroupDescription", "d"}, {"NumNodeGroups", "3"}}));
  GroupView g = **store_.GetGroup("g");
  for (const auto& n : g.nodes) EXPECT_NE(n.host_id, "host-b");
  ExpectFault("CreateReplicationGroup",
              {{"ReplicationGroupId", "g2"},
               {"ReplicationGroupDescription", "d"},
               {"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-b"}},
              "InsufficientCacheClusterCapacity");

  TempDir empty_dir;
  Store empty;
  ASSERT_TRUE(empty.Open(empty_dir.file("e.db")).ok());
  ReplicationGroupFrontend fe(empty, cfg_, nullptr);
  pugi::xml_document doc;
  auto e = fe.CreateReplicationGroup(
      Request("CreateReplicationGroup",
              {{"ReplicationGroupId", "g"}, {"ReplicationGroupDescription", "d"}}),
      doc.append_child("CreateReplicationGroupResult"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "InsufficientCacheClusterCapacity");
}

TEST_F(FrontendTest, DescribeOneAndNotFound) {
  ASSERT_FALSE(Call("CreateReplicationGroup",
                    {{"ReplicationGroupId", "one"}, {"ReplicationGroupDescription", "d"}}));
  ASSERT_FALSE(Call("DescribeReplicationGroups", {{"ReplicationGroupId", "ONE"}}));
  auto groups = Children(result_.child("ReplicationGroups"), "ReplicationGroup");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_STREQ(groups[0].child_value("ReplicationGroupId"), "one");
  EXPECT_FALSE(result_.child("Marker"));
  ExpectFault("DescribeReplicationGroups", {{"ReplicationGroupId", "missing"}},
              "ReplicationGroupNotFoundFault", 404, "ReplicationGroup missing not found.");
  ExpectFault("DescribeReplicationGroups", {{"ReplicationGroupId", "fake_cluster"}},
              "InvalidParameterValue", 400, "not a valid identifier");
  ExpectFault("DescribeReplicationGroups", {{"MaxRecords", "19"}}, "InvalidParameterValue");
  ExpectFault("DescribeReplicationGroups", {{"Marker", "garbage"}}, "InvalidParameterValue");
}

TEST_F(FrontendTest, DescribePagesWithoutMarkerOnTheLastPage) {
  for (int i = 0; i < 25; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "g%02d", i);
    ASSERT_FALSE(Call("CreateReplicationGroup",
                      {{"ReplicationGroupId", id}, {"ReplicationGroupDescription", "d"}}));
  }
  ASSERT_FALSE(Call("DescribeReplicationGroups", {{"MaxRecords", "20"}}));
  auto page1 = Children(result_.child("ReplicationGroups"), "ReplicationGroup");
  ASSERT_EQ(page1.size(), 20u);
  EXPECT_STREQ(page1[0].child_value("ReplicationGroupId"), "g00");
  std::string marker = result_.child_value("Marker");
  ASSERT_FALSE(marker.empty());
  ASSERT_FALSE(Call("DescribeReplicationGroups", {{"MaxRecords", "20"}, {"Marker", marker}}));
  auto page2 = Children(result_.child("ReplicationGroups"), "ReplicationGroup");
  ASSERT_EQ(page2.size(), 5u);
  EXPECT_STREQ(page2[0].child_value("ReplicationGroupId"), "g20");
  EXPECT_FALSE(result_.child("Marker"));
  // Default page size 100: everything, no marker.
  ASSERT_FALSE(Call("DescribeReplicationGroups", {}));
  EXPECT_EQ(Children(result_.child("ReplicationGroups"), "ReplicationGroup").size(), 25u);
  EXPECT_FALSE(result_.child("Marker"));
  // Exactly a full page and nothing more: no marker either.
  ASSERT_FALSE(Call("DescribeReplicationGroups",
                    {{"MaxRecords", "20"}, {"Marker", EncodeDescribeMarker("g04")}}));
  EXPECT_EQ(Children(result_.child("ReplicationGroups"), "ReplicationGroup").size(), 20u);
  EXPECT_FALSE(result_.child("Marker"));
}

TEST_F(FrontendTest, DescribeEmptyFleet) {
  ASSERT_FALSE(Call("DescribeReplicationGroups", {}));
  EXPECT_TRUE(result_.child("ReplicationGroups"));
  EXPECT_FALSE(result_.child("ReplicationGroups").first_child());
  EXPECT_FALSE(result_.child("Marker"));
}

TEST_F(FrontendTest, DeleteRules) {
  ExpectFault("DeleteReplicationGroup", {}, "MissingParameter");
  ExpectFault("DeleteReplicationGroup", {{"ReplicationGroupId", "nope"}},
              "ReplicationGroupNotFoundFault", 404);
  ExpectFault("DeleteReplicationGroup", {{"ReplicationGroupId", "a--b"}}, "InvalidParameterValue");
  ASSERT_FALSE(Call("CreateReplicationGroup", {{"ReplicationGroupId", "del"},
                                               {"ReplicationGroupDescription", "d"},
                                               {"NumCacheClusters", "2"}}));
  ExpectFault("DeleteReplicationGroup", {{"ReplicationGroupId", "del"}},
              "InvalidReplicationGroupState", 400, "Replication group must be in available state");
  MarkAvailable("del");
  ExpectFault("DeleteReplicationGroup",
              {{"ReplicationGroupId", "del"}, {"RetainPrimaryCluster", "maybe"}},
              "InvalidParameterValue");
  ExpectFault("DeleteReplicationGroup",
              {{"ReplicationGroupId", "del"}, {"FinalSnapshotIdentifier", "snap"}},
              "InvalidParameterValue");
  poked_.clear();
  ASSERT_FALSE(Call("DeleteReplicationGroup", {{"ReplicationGroupId", "DEL"}}));
  EXPECT_STREQ(Group().child_value("Status"), "deleting");
  EXPECT_STREQ(Group().child_value("ReplicationGroupId"), "del");
  ASSERT_EQ(poked_.size(), 1u);
  EXPECT_EQ((*store_.GetOperation(poked_[0]))->kind, OpKind::kDeleteGroup);
  // Never available again; a second delete is refused.
  ExpectFault("DeleteReplicationGroup", {{"ReplicationGroupId", "del"}},
              "InvalidReplicationGroupState");
  ASSERT_FALSE(Call("DescribeReplicationGroups", {{"ReplicationGroupId", "del"}}));
  EXPECT_STREQ(result_.child("ReplicationGroups").child("ReplicationGroup").child_value("Status"),
               "deleting");
}

TEST_F(FrontendTest, UnknownActionParametersAreRejected) {
  ExpectFault("DeleteReplicationGroup", {{"ReplicationGroupId", "x"}, {"Force", "true"}},
              "InvalidParameterValue", 400, "Force");
}

}  // namespace
}  // namespace cf::orchestrator
