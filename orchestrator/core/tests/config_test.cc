#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cf-orch-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    Write("node_types.yaml",
          "default: cache.t3.micro\nnode_types:\n  cache.t3.micro: {memory_gib: 0.5}\n"
          "  cache.r6g.large: {memory_gib: 13.07}\n");
    Write("parameter_groups.yaml",
          "parameter_groups:\n  - {name: default.redis7, family: redis7, cluster_enabled: false}\n"
          "  - {name: default.redis7.cluster.on, family: redis7, cluster_enabled: true}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  Result<OrchestratorConfig> Parse(const std::string& yaml) {
    return ParseOrchestratorConfig(yaml, dir_.string());
  }
  fs::path dir_;
};

TEST_F(ConfigTest, ExampleConfigLoads) {
  auto cfg =
      LoadOrchestratorConfig(std::string(CF_SOURCE_DIR) + "/configs/orchestrator.example.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->api_listen.port, 8080);
  EXPECT_EQ(cfg->fleet_listen.port, 7001);
  EXPECT_EQ(cfg->region, "us-east-1");
  EXPECT_NE(cfg->node_types.Find("cache.t3.micro"), nullptr);
  EXPECT_NE(cfg->parameter_groups.Find("default.redis7.cluster.on"), nullptr);
  EXPECT_EQ(cfg->credentials.size(), 1u);
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigDirectory) {
  auto cfg = Parse("store: {path: state/orch.db}\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->store_path, (dir_ / "state/orch.db").string());
  EXPECT_EQ(cfg->node_types.default_type(), "cache.t3.micro");
  EXPECT_EQ(cfg->node_types.Find("cache.t3.micro")->memory_bytes, 512ull * 1024 * 1024);
  EXPECT_EQ(cfg->limits.max_node_groups, 90);
  EXPECT_EQ(cfg->operations.create_timeout_ms, 120000);
}

TEST_F(ConfigTest, PortZeroAndSettings) {
  auto cfg = Parse(
      "api: {listen: '127.0.0.1:0', threads: 3}\nfleet: {listen: '127.0.0.1:0', "
      "heartbeat_interval_ms: 100, host_down_after_ms: 400}\nstore: {path: /tmp/x.db}\n"
      "limits: {max_node_groups: 15, max_nodes_per_group: 100}\n"
      "operations: {worker_threads: 2, create_timeout_ms: 5000, poll_interval_ms: 5}\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->api_listen.port, 0);
  EXPECT_EQ(cfg->api_threads, 3);
  EXPECT_EQ(cfg->host_down_after_ms, 400);
  EXPECT_EQ(cfg->store_path, "/tmp/x.db");
  EXPECT_EQ(cfg->limits.max_node_groups, 15);
  EXPECT_EQ(cfg->operations.worker_threads, 2);
  EXPECT_EQ(cfg->operations.create_timeout_ms, 5000);
  EXPECT_EQ(cfg->operations.poll_interval_ms, 5);
}

TEST_F(ConfigTest, Errors) {
  EXPECT_FALSE(Parse("").ok());
  EXPECT_FALSE(Parse("store: {path: x.db}\nbogus: 1\n").ok());
  EXPECT_FALSE(Parse("api: {listen: nonsense}\nstore: {path: x.db}\n").ok());
  EXPECT_FALSE(Parse("api: {listen: '1.2.3.4:70000'}\nstore: {path: x.db}\n").ok());
  EXPECT_FALSE(Parse("store: {path: x.db}\naccount_id: '12'\n").ok());
  EXPECT_FALSE(
      Parse("store: {path: x.db}\nfleet: {heartbeat_interval_ms: 1000, host_down_after_ms: 500}\n")
          .ok());
  EXPECT_FALSE(Parse("store: {path: x.db}\nlog_level: chatty\n").ok());
  EXPECT_FALSE(Parse("store: {path: x.db}\nnode_types: missing.yaml\n").ok());
  EXPECT_FALSE(Parse("store: {path: x.db}\noperations: {worker_threads: 0}\n").ok());
  EXPECT_FALSE(Parse("api: {listen: '127.0.0.1:0'}\n").ok());  // no store.path
}

TEST(NodeTypes, DefaultMustExist) {
  EXPECT_FALSE(ParseNodeTypes("default: cache.x\nnode_types: {cache.y: {memory_gib: 1}}\n").ok());
  EXPECT_FALSE(ParseNodeTypes("node_types: {cache.y: {memory_gib: -1}}\n").ok());
  auto ok = ParseNodeTypes("node_types: {cache.y: {memory_gib: 1}}\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->default_type(), "cache.y");
}

TEST(ParameterGroups, LookupAndDefaults) {
  auto pg = ParseParameterGroups(
      "parameter_groups:\n  - {name: default.redis7, family: redis7}\n"
      "  - {name: default.redis7.cluster.on, family: redis7, cluster_enabled: true}\n");
  ASSERT_TRUE(pg.ok());
  EXPECT_NE(pg->Find("DEFAULT.REDIS7"), nullptr);
  EXPECT_EQ(pg->DefaultFor("redis7", true)->name, "default.redis7.cluster.on");
  EXPECT_EQ(pg->DefaultFor("redis7", false)->name, "default.redis7");
  EXPECT_EQ(pg->DefaultFor("redis6", false), nullptr);
  EXPECT_FALSE(ParseParameterGroups(
                   "parameter_groups:\n  - {name: a, family: f}\n  - {name: A, family: f}\n")
                   .ok());
}

}  // namespace
}  // namespace cf::orchestrator
