#include "agent/redis/node_spec.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

namespace cf::agent {
namespace {

NodeSpec ClusterSpec() {
  NodeSpec s;
  s.node_id = "orders-0001-002";
  s.group_id = "orders";
  s.port = 30002;
  s.cluster_enabled = true;
  s.maxmemory_bytes = 104857600;
  s.engine_version = "7.0";
  s.config = {{"maxmemory-policy", "allkeys-lru"}, {"client-output-buffer-limit", "replica 256mb 64mb 60"}};
  s.cluster_node_timeout_ms = 3000;
  return s;
}

bool HasLine(const std::string& conf, const std::string& line) {
  return conf.find("\n" + line + "\n") != std::string::npos;
}

TEST(RenderRedisConfTest, ClusterNode) {
  std::string c = RenderRedisConf(ClusterSpec(), "/data/nodes/orders-0001-002", "10.0.0.5");
  for (const char* line : {"port 30002", "bind 10.0.0.5", "protected-mode no",
                           "dir /data/nodes/orders-0001-002", "daemonize no",
                           "logfile redis.log", "appendonly no",
                           "save \"\"", "repl-diskless-sync yes", "repl-diskless-sync-delay 0",
                           "enable-debug-command local", "maxmemory 104857600",
                           "maxmemory-policy volatile-lru", "cluster-enabled yes",
                           "cluster-config-file nodes.conf",
                           "cluster-node-timeout 3000", "cluster-announce-ip 10.0.0.5",
                           "cluster-allow-replica-migration no",
                           "cluster-require-full-coverage yes",
                           "maxmemory-policy allkeys-lru",
                           "client-output-buffer-limit replica 256mb 64mb 60"}) {
    EXPECT_TRUE(HasLine(c, line)) << "missing '" << line << "' in:\n" << c;
  }
  // Parameter-group values come after the defaults, so they win (last directive wins).
  EXPECT_LT(c.find("maxmemory-policy volatile-lru"), c.find("maxmemory-policy allkeys-lru"));
}

TEST(RenderRedisConfTest, StandaloneNodeDefaults) {
  NodeSpec s;
  s.node_id = "cache-001";
  s.port = 30010;
  std::string c = RenderRedisConf(s, "/d/with space", "127.0.0.1");
  EXPECT_TRUE(HasLine(c, "port 30010"));
  EXPECT_TRUE(HasLine(c, "dir \"/d/with space\""));
  EXPECT_EQ(c.find("cluster-"), std::string::npos);
  EXPECT_EQ(c.find("\nmaxmemory "), std::string::npos);  // 0 = no limit
  EXPECT_TRUE(HasLine(c, "maxmemory-policy volatile-lru"));

  s.cluster_enabled = true;
  c = RenderRedisConf(s, "/d", "127.0.0.1");
  EXPECT_TRUE(HasLine(c, "cluster-node-timeout 5000"));  // default
}

TEST(ValidateNodeSpecTest, AcceptsAndRejects) {
  EXPECT_TRUE(ValidateNodeSpec(ClusterSpec()).ok());
  NodeSpec s = ClusterSpec();
  s.node_id = "../etc";
  EXPECT_EQ(ValidateNodeSpec(s).error().code, Errc::kInvalidArgument);
  s = ClusterSpec();
  s.node_id = "";
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
  s = ClusterSpec();
  s.port = 0;
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
  s.port = 60000;  // bus port would be 70000
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
  s = ClusterSpec();
  s.config["dir"] = "/tmp";
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
  s = ClusterSpec();
  s.config["cluster-config-file"] = "x.conf";
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
  s = ClusterSpec();
  s.config["timeout"] = "0\nport 1";
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
  s = ClusterSpec();
  s.config["Bad Key"] = "1";
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
}

TEST(RenderRedisConfTest, NoPathButDirNamesTheNodeDirectory) {
  // A claimed warm node's directory is renamed under the running process; only `dir` (which
  // redis applies with chdir while reading the config) may name it.
  std::string c = RenderRedisConf(ClusterSpec(), "/data/nodes/orders-0001-002", "10.0.0.5");
  size_t first = c.find("/data/nodes/orders-0001-002");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(c.find("/data/nodes/orders-0001-002", first + 1), std::string::npos) << c;
  EXPECT_LT(c.find("\ndir "), c.find("\nlogfile "));
}

TEST(NodeIdTest, WarmIds) {
  EXPECT_EQ(WarmNodeId(30199), "_warm-30199");
  EXPECT_TRUE(IsWarmNodeId("_warm-30199"));
  EXPECT_TRUE(IsValidNodeId(WarmNodeId(1)));  // a directory name like any node's
  EXPECT_FALSE(IsWarmNodeId("_warm-"));
  EXPECT_FALSE(IsWarmNodeId("_warm-12a"));
  EXPECT_FALSE(IsWarmNodeId("warm-12"));
  EXPECT_FALSE(IsWarmNodeId("orders-0001-001"));
  // LaunchNode cannot name a node like the agent's own.
  NodeSpec s = ClusterSpec();
  s.node_id = "_warm-30002";
  EXPECT_EQ(ValidateNodeSpec(s).error().code, Errc::kInvalidArgument);
  s.node_id = "_x";
  EXPECT_FALSE(ValidateNodeSpec(s).ok());
}

TEST(RuntimeConfigSettingsTest, MirrorsTheRenderedDirectives) {
  auto r = RuntimeConfigSettings(ClusterSpec());
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::map<std::string, std::string> m(r->begin(), r->end());
  EXPECT_EQ(m.size(), r->size());  // no duplicates: CONFIG SET refuses them
  EXPECT_EQ(m["maxmemory"], "104857600");
  EXPECT_EQ(m["maxmemory-policy"], "allkeys-lru");  // spec.config wins over the default
  EXPECT_EQ(m["cluster-node-timeout"], "3000");
  EXPECT_EQ(m["client-output-buffer-limit"], "replica 256mb 64mb 60");

  NodeSpec s;
  s.node_id = "a";
  s.port = 1;
  s.cluster_enabled = true;
  r = RuntimeConfigSettings(s);
  ASSERT_TRUE(r.ok());
  m = std::map<std::string, std::string>(r->begin(), r->end());
  EXPECT_EQ(m["maxmemory"], "0");
  EXPECT_EQ(m["maxmemory-policy"], "volatile-lru");
  EXPECT_EQ(m["cluster-node-timeout"], "5000");
  s.cluster_enabled = false;
  r = RuntimeConfigSettings(s);
  ASSERT_TRUE(r.ok());
  for (const auto& [k, v] : *r) EXPECT_NE(k, "cluster-node-timeout");

  s.config = {{"save", "\"\""}, {"notify-keyspace-events", "Ex"}, {"save", "\"\""}};
  r = RuntimeConfigSettings(s);
  ASSERT_TRUE(r.ok());
  m = std::map<std::string, std::string>(r->begin(), r->end());
  EXPECT_EQ(m["save"], "");
  EXPECT_EQ(m["notify-keyspace-events"], "Ex");
  s.config = {{"save", "900  1\t300 10"}};
  r = RuntimeConfigSettings(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((std::map<std::string, std::string>(r->begin(), r->end())["save"]), "900 1 300 10");

  // Values whose redis.conf meaning a CONFIG SET argument cannot reproduce: cold start.
  for (auto bad : {std::pair<std::string, std::string>{"masterauth", "two words"},
                   {"notify-keyspace-events", "\"Ex\""},
                   {"dbfilename", "a\\b"},
                   {"timeout", ""},
                   {"timeout", "  "}}) {
    s.config = {bad};
    r = RuntimeConfigSettings(s);
    ASSERT_FALSE(r.ok()) << bad.first << " " << bad.second;
    EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
  }
}

TEST(NodeIdTest, Rules) {
  EXPECT_TRUE(IsValidNodeId("orders-0001-002"));
  EXPECT_TRUE(IsValidNodeId("a.b_c"));
  EXPECT_FALSE(IsValidNodeId(".."));
  EXPECT_FALSE(IsValidNodeId("a/b"));
  EXPECT_FALSE(IsValidNodeId(std::string(129, 'a')));
}

TEST(NodeRecordTest, JsonRoundTrip) {
  NodeRecord rec{ClusterSpec(), 12345, 3, false};
  auto back = NodeRecordFromJson(NodeRecordToJson(rec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, rec);

  NodeRecord stopped{ClusterSpec(), 0, 0, true};
  stopped.spec.config.clear();
  back = NodeRecordFromJson(NodeRecordToJson(stopped));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, stopped);
}

TEST(NodeRecordTest, HoldAndRoleRoundTripAndOldFilesReadAsBefore) {
  NodeRecord rec{ClusterSpec(), 0, 2, false};
  rec.spec.cluster_enabled = false;
  rec.spec.hold_on_exit = true;
  rec.spec.hold_max_ms = 1500;
  rec.held = true;
  rec.killed = true;
  rec.exited_at_ms = 1764630000123;
  rec.replica_of = {"10.0.0.7", 30001};
  auto back = NodeRecordFromJson(NodeRecordToJson(rec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, rec);
  // A node.json written before these fields existed.
  back = NodeRecordFromJson(
      "{\"version\": 1, \"spec\": {\"node_id\": \"a-001\", \"port\": 30001}, \"pid\": 5}");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->spec.hold_on_exit);
  EXPECT_EQ(back->spec.hold_max_ms, 0u);
  EXPECT_FALSE(back->held);
  EXPECT_TRUE(back->replica_of.empty());
}

TEST(RenderRedisConfTest, ReplicaOfOnlyWithClusterModeOff) {
  NodeSpec spec = ClusterSpec();
  spec.cluster_enabled = false;
  std::string conf = RenderRedisConf(spec, "/d", "127.0.0.1", {"10.0.0.7", 30001});
  EXPECT_NE(conf.find("\nreplicaof 10.0.0.7 30001\n"), std::string::npos) << conf;
  EXPECT_EQ(RenderRedisConf(spec, "/d", "127.0.0.1").find("replicaof"), std::string::npos);
  spec.cluster_enabled = true;
  EXPECT_EQ(RenderRedisConf(spec, "/d", "127.0.0.1", {"10.0.0.7", 30001}).find("replicaof"),
            std::string::npos);
  spec.config = {{"replicaof", "1.2.3.4 5"}};
  EXPECT_EQ(ValidateNodeSpec(spec).error().code, Errc::kInvalidArgument);
  spec.config = {{"slaveof", "1.2.3.4 5"}};
  EXPECT_EQ(ValidateNodeSpec(spec).error().code, Errc::kInvalidArgument);
}

TEST(NodeRecordTest, RejectsGarbage) {
  EXPECT_FALSE(NodeRecordFromJson("{").ok());
  EXPECT_FALSE(NodeRecordFromJson("{\"pid\": 1}").ok());  // no spec
  EXPECT_FALSE(NodeRecordFromJson("{\"spec\": {\"node_id\": 5, \"port\": 1}}").ok());
}

TEST(NodeRecordTest, FileRoundTrip) {
  std::string dir = ::testing::TempDir() + "/node_record_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  NodeRecord rec{ClusterSpec(), 7, 1, false};
  ASSERT_TRUE(WriteFileAtomic(dir + "/node.json", NodeRecordToJson(rec)).ok());
  auto text = ReadWholeFile(dir + "/node.json");
  ASSERT_TRUE(text.ok());
  auto back = NodeRecordFromJson(*text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, rec);
  EXPECT_FALSE(std::filesystem::exists(dir + "/node.json.tmp"));
  std::filesystem::remove_all(dir);
}

TEST(VersionTest, ParsesRedisServerVersion) {
  auto v = ParseRedisServerVersion(
      "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "7.0.15");
  EXPECT_FALSE(ParseRedisServerVersion("something else").ok());
  EXPECT_FALSE(ParseRedisServerVersion("v=abc").ok());
}

TEST(VersionTest, Matching) {
  EXPECT_TRUE(EngineVersionMatches("7.0.15", "7.0.15"));
  EXPECT_TRUE(EngineVersionMatches("7.0.15", "7.0"));
  EXPECT_TRUE(EngineVersionMatches("7.0.15", "7"));
  EXPECT_TRUE(EngineVersionMatches("7.0.15", ""));
  EXPECT_FALSE(EngineVersionMatches("7.0.15", "7.0.1"));
  EXPECT_FALSE(EngineVersionMatches("7.0.15", "7.2"));
  EXPECT_FALSE(EngineVersionMatches("7.0.15", "6.2"));
  EXPECT_FALSE(EngineVersionMatches("7.0.15", "7.0.15.1"));
  EXPECT_FALSE(EngineVersionMatches("7.0.15", "7."));
  EXPECT_FALSE(EngineVersionMatches("7.0.15", "70"));
}

}  // namespace
}  // namespace cf::agent
