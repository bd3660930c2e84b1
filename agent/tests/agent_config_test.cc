#include "agent/runtime/agent_config.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace cf::agent {
namespace {

const char* kGood = R"(
host_id: host-a
advertised_address: 127.0.0.1
availability_zone: lab-a
listen: 127.0.0.1:0
orchestrator: 127.0.0.1:7001
port_range:
  start: 30000
  end: 30199
max_nodes: 0
data_dir: /var/lib/cachefleet/agent-host-a
redis_server: redis-server
heartbeat_interval_ms: 1000
log_level: info
)";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

TEST(AgentConfigTest, ParsesTheExampleShape) {
  auto c = ParseAgentConfig(kGood, "/base");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->host_id, "host-a");
  EXPECT_EQ(c->advertised_address, "127.0.0.1");
  EXPECT_EQ(c->availability_zone, "lab-a");
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->orchestrator, "127.0.0.1:7001");
  EXPECT_EQ(c->port_range_start, 30000u);
  EXPECT_EQ(c->port_range_end, 30199u);
  EXPECT_EQ(c->max_nodes, 0u);
  EXPECT_EQ(c->data_dir, "/var/lib/cachefleet/agent-host-a");
  EXPECT_EQ(c->heartbeat_interval_ms, 1000u);
  EXPECT_EQ(c->ready_timeout_ms, 10000u);  // default of an optional key
}

TEST(AgentConfigTest, WarmPool) {
  auto c = ParseAgentConfig(kGood, "/base");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->warm_pool_cluster_nodes, 0u);  // off by default
  c = ParseAgentConfig(std::string(kGood) + "warm_pool_cluster_nodes: 6\n", "/base");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->warm_pool_cluster_nodes, 6u);
  c = ParseAgentConfig(std::string(kGood) + "warm_pool_cluster_nodes: 201\n", "/base");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("exceeds the port range"), std::string::npos);
  EXPECT_FALSE(ParseAgentConfig(std::string(kGood) + "warm_pool_cluster_nodes: -1\n", "/base").ok());
}

TEST(AgentConfigTest, TheRepositoryExampleIsValid) {
  std::ifstream in(std::string(CF_SOURCE_DIR) + "/configs/agent.example.yaml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ParseAgentConfig(ss.str(), "/");
  EXPECT_TRUE(c.ok()) << c.error().message;
}

TEST(AgentConfigTest, RelativeDataDirResolvesAgainstBase) {
  auto c = ParseAgentConfig(Replace(kGood, "/var/lib/cachefleet/agent-host-a", "./data/"), "/base");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->data_dir, "/base/data");
}

TEST(AgentConfigTest, RejectsBadValues) {
  struct Case {
    const char* from;
    const char* to;
    const char* expect_in_message;
  } cases[] = {
      {"host_id: host-a", "host_id: Host_A", "host_id"},
      {"advertised_address: 127.0.0.1", "advertised_address: localhost", "advertised_address"},
      {"listen: 127.0.0.1:0", "listen: 127.0.0.1", "listen"},
      {"orchestrator: 127.0.0.1:7001", "orchestrator: 127.0.0.1:0", "orchestrator"},
      {"start: 30000", "start: 40000", "port_range"},
      {"end: 30199", "end: 60000", "port_range"},
      {"heartbeat_interval_ms: 1000", "heartbeat_interval_ms: 0", "heartbeat_interval_ms"},
      {"heartbeat_interval_ms: 1000", "heartbeat_interval_ms: soon", "heartbeat_interval_ms"},
      {"log_level: info", "log_level: loud", "log_level"},
      {"max_nodes: 0", "max_nodes: -1", "max_nodes"},
      {"max_nodes: 0", "max_nodes: 0\nmax_node: 1", "unknown key 'max_node'"},
      {"availability_zone: lab-a", "", "availability_zone"},
  };
  for (const auto& c : cases) {
    auto r = ParseAgentConfig(Replace(kGood, c.from, c.to), "/");
    ASSERT_FALSE(r.ok()) << c.to;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.expect_in_message), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(ParseAgentConfig("- a\n- b\n", "/").ok());
  EXPECT_FALSE(ParseAgentConfig("host_id: [unclosed\n", "/").ok());
  EXPECT_FALSE(LoadAgentConfig("/nonexistent/agent.yaml").ok());
}

}  // namespace
}  // namespace cf::agent
