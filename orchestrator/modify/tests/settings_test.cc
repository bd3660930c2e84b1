// Parameter groups, engine versions, cache clusters and tags: the catalogue (the real
// configs/parameter_groups.yaml), value checks, the store (v4 tables), and the handlers
// in-process against a real store (no agents; the applier runs against a recording double).
#include <gtest/gtest.h>

#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/parameters/parameter_group_applier.h"
#include "orchestrator/parameters/parameter_group_frontend.h"
#include "orchestrator/parameters/parameter_group_store.h"
#include "orchestrator/tags/tag_store.h"
#include "orchestrator/tags/tags_frontend.h"
#include "orchestrator/testing/recording_agents.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;
using testing::Children;
using testing::Request;
using testing::TempDir;
using testing::TestHost;

ParameterCatalog RealCatalog() {
  auto c = LoadParameterCatalog(std::string(CF_SOURCE_DIR) + "/configs/parameter_groups.yaml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : ParameterCatalog{};
}

TEST(ParameterCatalogTest, RealFileParses) {
  ParameterCatalog cat = RealCatalog();
  const FamilyDef* f = cat.Family("redis7");
  ASSERT_NE(f, nullptr);
  EXPECT_GE(f->parameters.size(), 20u);
  const ParameterDef* p = f->Find("maxmemory-policy");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->default_value, "volatile-lru");
  EXPECT_FALSE(p->requires_reboot);
  EXPECT_TRUE(f->Find("databases")->requires_reboot);
  EXPECT_FALSE(f->Find("lua-time-limit")->modifiable);
  EXPECT_EQ(cat.BuiltinOverrides("default.redis7.cluster.on").at("cluster-enabled"), "yes");
  EXPECT_TRUE(cat.BuiltinOverrides("default.redis7").empty());
  EXPECT_EQ(cat.FamilyForVersion("redis", "7.0.15"), "redis7");
  EXPECT_EQ(cat.FamilyForVersion("redis", "6.2.1"), "");
}

TEST(ParameterCatalogTest, BadCataloguesAreRefused) {
  EXPECT_FALSE(ParseParameterCatalog("families: {}").ok());
  EXPECT_FALSE(
      ParseParameterCatalog(
          "families:\n  r:\n    parameters:\n      - {name: a, type: float, default: '1'}\n")
          .ok());
  EXPECT_FALSE(
      ParseParameterCatalog("families:\n  r:\n    parameters:\n"
                            "      - {name: a, type: integer, allowed: '1-5', default: '9'}\n")
          .ok());
  EXPECT_FALSE(ParseParameterCatalog("families:\n  r:\n    parameters: []\nparameter_groups:\n"
                                     "  - {name: d, family: r, overrides: {zz: '1'}}\n")
                   .ok());
}

TEST(ParameterCatalogTest, ValueChecks) {
  ParameterDef i{"timeout", "integer", "0-", "0", "", true, false};
  EXPECT_EQ(CheckParameterValue(i, "0"), "");
  EXPECT_EQ(CheckParameterValue(i, "120"), "");
  EXPECT_NE(CheckParameterValue(i, "-1"), "");
  EXPECT_NE(CheckParameterValue(i, "1.5"), "");
  EXPECT_NE(CheckParameterValue(i, ""), "");
  ParameterDef r{"x", "integer", "1-10", "1", "", true, false};
  EXPECT_EQ(CheckParameterValue(r, "10"), "");
  EXPECT_NE(CheckParameterValue(r, "11"), "");
  ParameterDef neg{"slowlog-log-slower-than", "integer", "-1-", "10000", "", true, false};
  EXPECT_EQ(CheckParameterValue(neg, "-1"), "");
  EXPECT_NE(CheckParameterValue(neg, "-2"), "");
  ParameterDef e{
      "maxmemory-policy", "string", "allkeys-lru,noeviction", "noeviction", "", true, false};
  EXPECT_EQ(CheckParameterValue(e, "allkeys-lru"), "");
  EXPECT_NE(CheckParameterValue(e, "allkeys"), "");
  EXPECT_NE(CheckParameterValue(e, "allkeys-lru noeviction"), "");
  ParameterDef n{"notify-keyspace-events", "string", "", "", "", true, false};
  EXPECT_EQ(CheckParameterValue(n, ""), "");
  EXPECT_EQ(CheckParameterValue(n, "KEA"), "");
  EXPECT_NE(CheckParameterValue(n, "Q"), "");
}

TEST(ParameterCatalogTest, DynamicConfigSkipsStaticAndQuotesEmpty) {
  ParameterCatalog cat = RealCatalog();
  auto c = DynamicConfig({{"timeout", "5"},
                          {"databases", "32"},
                          {"cluster-enabled", "yes"},
                          {"notify-keyspace-events", ""},
                          {"unknown", "1"}},
                         cat, "redis7");
  EXPECT_EQ(c, (std::map<std::string, std::string>{{"notify-keyspace-events", "\"\""},
                                                   {"timeout", "5"}}));
}

TEST(IdentifierTest, NamesAndArns) {
  EXPECT_EQ(std::get<std::string>(NormalizeParameterGroupName("My-Group1")), "my-group1");
  for (std::string bad :
       std::vector<std::string>{"", "1abc", "a--b", "a-", "a.b", std::string(256, 'a')})
    EXPECT_TRUE(std::holds_alternative<api::ApiError>(NormalizeParameterGroupName(bad))) << bad;
  EXPECT_EQ(std::get<std::string>(NormalizeCacheClusterId("RG-0001-002")), "rg-0001-002");
  EXPECT_NE(std::get<api::ApiError>(NormalizeCacheClusterId("fake_cluster"))
                .message.find("CacheClusterIdentifier is not a valid identifier"),
            std::string::npos);
  OrchestratorConfig cfg = testing::TestConfig();
  auto ok = ParseElastiCacheArn("arn:aws:elasticache:us-east-1:123456789012:cluster:RG-001", cfg);
  ASSERT_TRUE(std::holds_alternative<ParsedArn>(ok));
  EXPECT_EQ(std::get<ParsedArn>(ok).kind, TagResource::kCacheCluster);
  EXPECT_EQ(std::get<ParsedArn>(ok).id, "rg-001");
  for (std::string bad : {"", "arn:aws:elasticache", "arn:aws:s3:us-east-1:123456789012:cluster:x",
                          "arn:aws:elasticache:eu-west-1:123456789012:cluster:x",
                          "arn:aws:elasticache:us-east-1:999999999999:cluster:x",
                          "arn:aws:elasticache:us-east-1:123456789012:widget:x",
                          "arn:aws:elasticache:us-east-1:123456789012:cluster:"}) {
    auto r = ParseElastiCacheArn(bad, cfg);
    ASSERT_TRUE(std::holds_alternative<api::ApiError>(r)) << bad;
    EXPECT_EQ(std::get<api::ApiError>(r).code, "InvalidARN");
  }
}

using testing::RecordingAgents;

class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = testing::TestConfig();
    catalog_ = RealCatalog();
    ASSERT_TRUE(store_.Open(dir_.file("orch.db")).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-a", "lab-a", 30000)).ok());
    ASSERT_TRUE(store_.UpsertHost(TestHost("host-b", "lab-b", 31000)).ok());
    groups_ = std::make_unique<ReplicationGroupFrontend>(store_, cfg_, nullptr);
    groups_->SetUserParameterGroups(
        [this] { return ParameterGroupFrontend::UserGroupsForValidation(store_, catalog_); });
    params_ =
        std::make_unique<ParameterGroupFrontend>(store_, cfg_, catalog_, [this] { ++pokes_; });
    clusters_ = std::make_unique<CacheClusterFrontend>(store_, cfg_);
    tags_ = std::make_unique<TagsFrontend>(store_, cfg_);
    groups_->Register(d_);
    params_->Register(d_);
    clusters_->Register(d_);
    tags_->Register(d_);
  }
  std::optional<api::ApiError> Call(const std::string& action, const Params& p) {
    doc_.reset();
    result_ = doc_.append_child((action + "Result").c_str());
    return d_.Dispatch(Request(action, p), result_);
  }
  std::string Fault(const std::string& action, const Params& p) {
    auto e = Call(action, p);
    return e ? e->code + "/" + std::to_string(e->http_status) : "ok";
  }
  void MakeAvailable(const std::string& id) {
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
  std::map<std::string, std::string> ParamValues(const std::string& group, const char* source) {
    std::map<std::string, std::string> out;
    EXPECT_FALSE(
        Call("DescribeCacheParameters", {{"CacheParameterGroupName", group}, {"Source", source}}));
    for (auto p : Children(result_.child("Parameters"), "Parameter"))
      out[p.child_value("ParameterName")] = p.child_value("ParameterValue");
    return out;
  }

  TempDir dir_;
  OrchestratorConfig cfg_;
  ParameterCatalog catalog_;
  Store store_;
  api::Dispatcher d_;
  std::unique_ptr<ReplicationGroupFrontend> groups_;
  std::unique_ptr<ParameterGroupFrontend> params_;
  std::unique_ptr<CacheClusterFrontend> clusters_;
  std::unique_ptr<TagsFrontend> tags_;
  pugi::xml_document doc_;
  pugi::xml_node result_;
  int pokes_ = 0;
};

TEST_F(SettingsTest, EngineVersions) {
  ASSERT_FALSE(Call("DescribeCacheEngineVersions", {}));
  auto vs = Children(result_.child("CacheEngineVersions"), "CacheEngineVersion");
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_STREQ(vs[0].child_value("EngineVersion"), "7.0.15");
  EXPECT_STREQ(vs[0].child_value("CacheParameterGroupFamily"), "redis7");
  EXPECT_STREQ(vs[0].child_value("Engine"), "redis");
  ASSERT_FALSE(Call("DescribeCacheEngineVersions", {{"EngineVersion", "7.0"}}));
  EXPECT_EQ(Children(result_.child("CacheEngineVersions"), "CacheEngineVersion").size(), 1u);
  ASSERT_FALSE(Call("DescribeCacheEngineVersions", {{"EngineVersion", "7.01"}}));
  EXPECT_EQ(Children(result_.child("CacheEngineVersions"), "CacheEngineVersion").size(), 0u);
  EXPECT_EQ(Fault("DescribeCacheEngineVersions", {{"DefaultOnly", "yes"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Fault("DescribeCacheEngineVersions", {{"MaxRecords", "200"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Fault("DescribeCacheEngineVersions", {{"Foo", "1"}}), "InvalidParameterValue/400");
}

TEST_F(SettingsTest, ParameterGroupLifecycle) {
  EXPECT_EQ(Fault("CreateCacheParameterGroup", {{"CacheParameterGroupName", "MyPg"},
                                                {"CacheParameterGroupFamily", "redis7"},
                                                {"Description", "d"},
                                                {"Tags.Tag.1.Key", "a"},
                                                {"Tags.Tag.1.Value", "b"}}),
            "ok");
  EXPECT_STREQ(result_.child("CacheParameterGroup").child_value("CacheParameterGroupName"), "mypg");
  EXPECT_STREQ(result_.child("CacheParameterGroup").child_value("ARN"),
               "arn:aws:elasticache:us-east-1:123456789012:parametergroup:mypg");
  EXPECT_EQ(Fault("CreateCacheParameterGroup", {{"CacheParameterGroupName", "mypg"},
                                                {"CacheParameterGroupFamily", "redis7"},
                                                {"Description", "d"}}),
            "CacheParameterGroupAlreadyExists/400");
  EXPECT_EQ(Fault("CreateCacheParameterGroup",
                  {{"CacheParameterGroupName", "x"}, {"CacheParameterGroupFamily", "redis7"}}),
            "MissingParameter/400");
  // Modify: validated before anything changes.
  const int pokes = pokes_;
  EXPECT_EQ(Fault("ModifyCacheParameterGroup",
                  {{"CacheParameterGroupName", "mypg"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterName", "timeout"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "30"},
                   {"ParameterNameValues.ParameterNameValue.2.ParameterName", "maxmemory-policy"},
                   {"ParameterNameValues.ParameterNameValue.2.ParameterValue", "bogus"}}),
            "InvalidParameterValue/400");
  EXPECT_TRUE(ParamValues("mypg", "user").empty());
  EXPECT_EQ(pokes_, pokes);
  EXPECT_EQ(Fault("ModifyCacheParameterGroup",
                  {{"CacheParameterGroupName", "MYPG"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterName", "timeout"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "30"}}),
            "ok");
  EXPECT_STREQ(result_.child_value("CacheParameterGroupName"), "mypg");
  EXPECT_EQ(ParamValues("mypg", "user"), (std::map<std::string, std::string>{{"timeout", "30"}}));
  EXPECT_EQ(pokes_, pokes + 1);
  EXPECT_EQ(Fault("ModifyCacheParameterGroup",
                  {{"CacheParameterGroupName", "default.redis7"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterName", "timeout"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "30"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Fault("ModifyCacheParameterGroup",
                  {{"CacheParameterGroupName", "nope"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterName", "timeout"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "30"}}),
            "CacheParameterGroupNotFound/404");
  // Reset.
  EXPECT_EQ(Fault("ResetCacheParameterGroup", {{"CacheParameterGroupName", "mypg"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Fault("ResetCacheParameterGroup",
                  {{"CacheParameterGroupName", "mypg"}, {"ResetAllParameters", "true"}}),
            "ok");
  EXPECT_TRUE(ParamValues("mypg", "user").empty());
  auto g = store_.GetParameterGroup("mypg");
  ASSERT_TRUE(g.ok() && *g);
  EXPECT_EQ((*g)->generation, 2);
  EXPECT_EQ((*g)->reset, (std::map<std::string, std::string>{{"timeout", "0"}}));
  // Describe lists built-ins and user groups by name, paged.
  ASSERT_FALSE(Call("DescribeCacheParameterGroups", {}));
  std::vector<std::string> names;
  for (auto n : Children(result_.child("CacheParameterGroups"), "CacheParameterGroup"))
    names.push_back(n.child_value("CacheParameterGroupName"));
  EXPECT_EQ(names,
            (std::vector<std::string>{"default.redis7", "default.redis7.cluster.on", "mypg"}));
  // Delete.
  EXPECT_EQ(Fault("DeleteCacheParameterGroup", {{"CacheParameterGroupName", "default.redis7"}}),
            "InvalidCacheParameterGroupState/400");
  EXPECT_EQ(Fault("DeleteCacheParameterGroup", {{"CacheParameterGroupName", "mypg"}}), "ok");
  EXPECT_EQ(Fault("DeleteCacheParameterGroup", {{"CacheParameterGroupName", "mypg"}}),
            "CacheParameterGroupNotFound/404");
}

TEST_F(SettingsTest, QuotaIsEnforcedInTheStore) {
  UserParameterGroup g{"a", "redis7", "", 0, 1, {}, {}};
  ASSERT_TRUE(ParameterGroupStoreOf(store_).CreateParameterGroup(g, {}, 1, "e").ok());
  g.name = "b";
  auto st = ParameterGroupStoreOf(store_).CreateParameterGroup(g, {}, 1, "e");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kResourceExhausted);
}

TEST_F(SettingsTest, UserGroupDrivesCreateAppliesAndBlocksDelete) {
  ASSERT_FALSE(Call("CreateCacheParameterGroup", {{"CacheParameterGroupName", "cme-pg"},
                                                  {"CacheParameterGroupFamily", "redis7"},
                                                  {"Description", "d"}}));
  ASSERT_FALSE(Call("ModifyCacheParameterGroup",
                    {{"CacheParameterGroupName", "cme-pg"},
                     {"ParameterNameValues.ParameterNameValue.1.ParameterName", "cluster-enabled"},
                     {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "yes"},
                     {"ParameterNameValues.ParameterNameValue.2.ParameterName", "timeout"},
                     {"ParameterNameValues.ParameterNameValue.2.ParameterValue", "9"}}));
  // A cluster-on user group makes the group CME; NumCacheClusters contradicts it.
  EXPECT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"NumCacheClusters", "2"},
                                             {"CacheParameterGroupName", "cme-pg"}}),
            "InvalidParameterCombination/400");
  ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"NumNodeGroups", "2"},
                                             {"CacheParameterGroupName", "CME-PG"}}),
            "ok");
  EXPECT_STREQ(result_.child("ReplicationGroup").child_value("ClusterEnabled"), "true");
  EXPECT_EQ(Fault("DeleteCacheParameterGroup", {{"CacheParameterGroupName", "cme-pg"}}),
            "InvalidCacheParameterGroupState/400");
  EXPECT_EQ(Fault("ModifyCacheParameterGroup",
                  {{"CacheParameterGroupName", "cme-pg"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterName", "cluster-enabled"},
                   {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "no"}}),
            "InvalidCacheParameterGroupState/400");
  // Nothing to apply while creating; once available both nodes lag generation 1.
  RecordingAgents agents;
  ParameterApplier applier(store_, agents, catalog_, cfg_);
  EXPECT_EQ(applier.RunOnce(), 0);
  MakeAvailable("rg");
  auto st = store_.ParameterApplyStatuses();
  EXPECT_EQ(st->at("rg-0001-001"), "applying");
  agents.fail = true;
  EXPECT_EQ(applier.RunOnce(), 0);
  agents.fail = false;
  EXPECT_EQ(applier.RunOnce(), 2);
  ASSERT_EQ(agents.calls.size(), 2u);
  EXPECT_TRUE(agents.calls[0].spec().cluster_enabled());
  EXPECT_FALSE(agents.calls[0].restart());
  EXPECT_EQ(agents.calls[0].spec().config().at("timeout"), "9");
  EXPECT_EQ(agents.calls[0].spec().config().count("cluster-enabled"), 0u);
  EXPECT_EQ(applier.RunOnce(), 0);
  EXPECT_EQ(store_.ParameterApplyStatuses()->at("rg-0002-001"), "in-sync");
  // A static change: pending-reboot, shown by DescribeCacheClusters.
  ASSERT_FALSE(Call("ModifyCacheParameterGroup",
                    {{"CacheParameterGroupName", "cme-pg"},
                     {"ParameterNameValues.ParameterNameValue.1.ParameterName", "databases"},
                     {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "4"}}));
  EXPECT_EQ(applier.RunOnce(), 2);
  // Static: sent as a static key (kept in the node's spec, never CONFIG SET); the rolling
  // restart (rolling_restart_test.cc) makes the nodes run it.
  EXPECT_EQ(agents.calls.back().spec().config().at("databases"), "4");
  EXPECT_EQ(agents.calls.back().static_keys().size(), 1);
  EXPECT_EQ(agents.calls.back().static_keys(0), "databases");
  ASSERT_FALSE(Call("DescribeCacheClusters", {{"ShowCacheNodeInfo", "true"}}));
  auto ccs = Children(result_.child("CacheClusters"), "CacheCluster");
  ASSERT_EQ(ccs.size(), 2u);
  EXPECT_STREQ(ccs[0].child_value("CacheClusterId"), "rg-0001-001");
  EXPECT_STREQ(ccs[0].child("CacheParameterGroup").child_value("ParameterApplyStatus"),
               "pending-reboot");
  EXPECT_STREQ(
      ccs[0].child("CacheParameterGroup").child("CacheNodeIdsToReboot").child_value("CacheNodeId"),
      "0001");
  EXPECT_STREQ(
      ccs[0].child("CacheNodes").child("CacheNode").child("Endpoint").child_value("Address"),
      "127.0.0.1");
  EXPECT_STREQ(ccs[0].child_value("ARN"),
               "arn:aws:elasticache:us-east-1:123456789012:cluster:rg-0001-001");
  EXPECT_STREQ(ccs[0].child_value("ReplicationGroupId"), "rg");
}

TEST_F(SettingsTest, ApplierResumesFromTheStoreAfterARestart) {
  ASSERT_FALSE(Call("CreateCacheParameterGroup", {{"CacheParameterGroupName", "p"},
                                                  {"CacheParameterGroupFamily", "redis7"},
                                                  {"Description", "d"}}));
  ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"NumCacheClusters", "2"},
                                             {"CacheParameterGroupName", "p"}}),
            "ok");
  MakeAvailable("rg");
  ASSERT_FALSE(Call("ModifyCacheParameterGroup",
                    {{"CacheParameterGroupName", "p"},
                     {"ParameterNameValues.ParameterNameValue.1.ParameterName", "maxmemory-policy"},
                     {"ParameterNameValues.ParameterNameValue.1.ParameterValue", "allkeys-lru"}}));
  // The process that accepted the change "crashes" before applying it: a fresh store
  // connection and applier (a restarted orchestrator) find the work in the store.
  Store reopened;
  ASSERT_TRUE(reopened.Open(dir_.file("orch.db")).ok());
  RecordingAgents agents;
  ParameterApplier applier(reopened, agents, catalog_, cfg_);
  EXPECT_EQ(applier.RunOnce(), 2);
  for (const auto& c : agents.calls)
    EXPECT_EQ(c.spec().config().at("maxmemory-policy"), "allkeys-lru");
  // Applying again (a crash between the call and the record) is harmless and then settles.
  EXPECT_EQ(applier.RunOnce(), 0);
  EXPECT_EQ(reopened.ParameterApplyStatuses()->at("rg-002"), "in-sync");
}

TEST_F(SettingsTest, CacheClustersPagingAndFaults) {
  for (std::string id : {"a", "b", "c", "d", "e", "f", "g", "h"})
    ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", id},
                                               {"ReplicationGroupDescription", "d"},
                                               {"NumCacheClusters", "3"}}),
              "ok");
  std::vector<std::string> ids;
  std::string marker;
  int pages = 0;
  do {
    Params p = {{"MaxRecords", "20"}};
    if (!marker.empty()) p["Marker"] = marker;
    ASSERT_FALSE(Call("DescribeCacheClusters", p));
    for (auto c : Children(result_.child("CacheClusters"), "CacheCluster")) {
      ids.push_back(c.child_value("CacheClusterId"));
      EXPECT_FALSE(c.child("CacheNodes"));
      EXPECT_STREQ(c.child_value("CacheClusterStatus"), "creating");
    }
    marker = result_.child_value("Marker");
    ++pages;
  } while (!marker.empty() && pages < 5);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(ids.size(), 24u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(Fault("DescribeCacheClusters", {{"CacheClusterId", "zz"}}), "CacheClusterNotFound/404");
  EXPECT_EQ(Fault("DescribeCacheClusters", {{"CacheClusterId", "fake_cluster"}}),
            "InvalidParameterValue/400");
  EXPECT_EQ(Fault("DescribeCacheClusters", {{"MaxRecords", "19"}}), "InvalidParameterValue/400");
  EXPECT_EQ(Fault("DescribeCacheClusters", {{"Marker", "x"}}), "InvalidParameterValue/400");
}

TEST_F(SettingsTest, TagsOnEveryResourceType) {
  ASSERT_EQ(Fault("CreateReplicationGroup", {{"ReplicationGroupId", "rg"},
                                             {"ReplicationGroupDescription", "d"},
                                             {"Tags.Tag.1.Key", "k0"},
                                             {"Tags.Tag.1.Value", "v0"}}),
            "ok");
  const std::string base = "arn:aws:elasticache:us-east-1:123456789012:";
  for (std::string arn : {base + "replicationgroup:rg", base + "cluster:rg-001",
                          base + "parametergroup:default.redis7"}) {
    ASSERT_EQ(Fault("AddTagsToResource", {{"ResourceName", arn},
                                          {"Tags.Tag.1.Key", "a"},
                                          {"Tags.Tag.1.Value", "1"},
                                          {"Tags.Tag.2.Key", "b"}}),
              "ok")
        << arn;
    ASSERT_EQ(Fault("RemoveTagsFromResource", {{"ResourceName", arn}, {"TagKeys.member.1", "a"}}),
              "ok");
    ASSERT_FALSE(Call("ListTagsForResource", {{"ResourceName", arn}}));
    std::vector<std::string> keys;
    for (auto t : Children(result_.child("TagList"), "Tag")) keys.push_back(t.child_value("Key"));
    if (arn.find("parametergroup") == std::string::npos)  // the group's tags show on its clusters
      EXPECT_EQ(keys, (std::vector<std::string>{"k0", "b"}));
    else
      EXPECT_EQ(keys, (std::vector<std::string>{"b"}));
    EXPECT_EQ(Fault("RemoveTagsFromResource", {{"ResourceName", arn}, {"TagKeys.member.1", "a"}}),
              "TagNotFound/404");
  }
  EXPECT_EQ(Fault("ListTagsForResource", {{"ResourceName", base + "replicationgroup:zz"}}),
            "ReplicationGroupNotFoundFault/404");
  EXPECT_EQ(Fault("ListTagsForResource", {{"ResourceName", base + "cluster:zz"}}),
            "CacheClusterNotFound/404");
  EXPECT_EQ(Fault("ListTagsForResource", {{"ResourceName", base + "parametergroup:zz"}}),
            "CacheParameterGroupNotFound/404");
  EXPECT_EQ(Fault("ListTagsForResource", {{"ResourceName", "zz"}}), "InvalidARN/400");
  EXPECT_EQ(Fault("ListTagsForResource", {}), "MissingParameter/400");
  EXPECT_EQ(Fault("AddTagsToResource", {{"ResourceName", base + "cluster:rg-001"}}),
            "MissingParameter/400");
  Params many = {{"ResourceName", base + "cluster:rg-001"}};
  for (int i = 1; i <= 48; ++i)
    many["Tags.Tag." + std::to_string(i) + ".Key"] = "t" + std::to_string(i);
  EXPECT_EQ(Fault("AddTagsToResource", many), "ok");  // 48 + b + the group's k0 = 50
  ASSERT_FALSE(Call("ListTagsForResource", {{"ResourceName", base + "cluster:rg-001"}}));
  EXPECT_EQ(Children(result_.child("TagList"), "Tag").size(), 50u);
  EXPECT_EQ(Fault("AddTagsToResource",
                  {{"ResourceName", base + "cluster:rg-001"}, {"Tags.Tag.1.Key", "one-more"}}),
            "TagQuotaPerResourceExceeded/400");
  // A cluster's own tag overrides the group's value; removing the group's key there fails.
  EXPECT_EQ(Fault("RemoveTagsFromResource",
                  {{"ResourceName", base + "cluster:rg-001"}, {"TagKeys.member.1", "k0"}}),
            "TagNotFound/404");
  ASSERT_FALSE(Call("ListTagsForResource", {{"ResourceName", base + "cluster:rg-001"}}));
  EXPECT_EQ(Children(result_.child("TagList"), "Tag").size(), 50u);  // unchanged
}

}  // namespace
}  // namespace cf::orchestrator
