#include "agent/redis/redis_text.h"

#include <gtest/gtest.h>

namespace cf::agent {
namespace {

// A 3-master/3-replica cluster as seen from a master that is migrating slot 5461 and has one
// peer in PFAIL, one in handshake and one marked noaddr+fail.
constexpr const char* kClusterNodes =
    "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 "
    "connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]\r\n"
    "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 "
    "connected 5461-10922\n"
    "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003,node-3.example master - 0 "
    "1426238318243 3 connected 10923-16383\n"
    "6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30004@40004 slave "
    "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238316232 1 connected\n"
    "824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30005@40005 slave,fail? "
    "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 1426238317741 1426238316232 2 disconnected\n"
    "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678 127.0.0.1:30006@40006 handshake - 1426238317741 0 "
    "0 disconnected\n"
    "ffffffffffffffffffffffffffffffffffffffff :0@0 master,fail,noaddr - 1426238317741 "
    "1426238316232 7 disconnected\n";

TEST(ClusterNodesTest, ParsesEveryField) {
  auto r = ParseClusterNodes(kClusterNodes);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& nodes = *r;
  ASSERT_EQ(nodes.size(), 7u);

  const auto& me = nodes[0];
  EXPECT_EQ(me.id, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
  EXPECT_EQ(me.ip, "127.0.0.1");
  EXPECT_EQ(me.port, 30001u);
  EXPECT_EQ(me.bus_port, 40001u);
  EXPECT_TRUE(me.myself());
  EXPECT_TRUE(me.is_master());
  EXPECT_FALSE(me.is_replica());
  EXPECT_EQ(me.master_id, "");
  EXPECT_EQ(me.config_epoch, 1u);
  EXPECT_TRUE(me.link_connected);
  ASSERT_EQ(me.slots.size(), 1u);
  EXPECT_EQ(me.slots[0], (SlotRange{0, 5460}));  // the bracketed token is not ownership
  ASSERT_EQ(me.open_slots.size(), 1u);
  EXPECT_EQ(me.open_slots[0], "[5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]");
  EXPECT_FALSE(me.unhealthy());

  EXPECT_EQ(nodes[1].pong_recv, 1426238316232u);
  EXPECT_EQ(nodes[2].hostname, "node-3.example");
  EXPECT_EQ(nodes[2].port, 30003u);
  EXPECT_EQ(nodes[2].slots[0], (SlotRange{10923, 16383}));

  EXPECT_TRUE(nodes[3].is_replica());
  EXPECT_EQ(nodes[3].master_id, me.id);
  EXPECT_TRUE(nodes[3].slots.empty());

  EXPECT_TRUE(nodes[4].HasFlag("fail?"));
  EXPECT_TRUE(nodes[4].unhealthy());
  EXPECT_FALSE(nodes[4].link_connected);
  EXPECT_TRUE(nodes[5].HasFlag("handshake"));
  EXPECT_TRUE(nodes[5].unhealthy());
  EXPECT_EQ(nodes[6].ip, "");
  EXPECT_EQ(nodes[6].port, 0u);
  EXPECT_TRUE(nodes[6].HasFlag("noaddr"));
  EXPECT_TRUE(nodes[6].unhealthy());

  EXPECT_EQ(FindMyself(nodes), &nodes[0]);
  EXPECT_EQ(FindNodeById(nodes, "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f"), &nodes[2]);
  EXPECT_EQ(FindNodeById(nodes, "nope"), nullptr);
}

TEST(ClusterNodesTest, ImportingTokenAndSingleSlotsAndMerging) {
  auto r = ParseClusterNodes(
      "aaaa 10.0.0.1:7000@17000 myself,master - 0 0 4 connected 0-10 11 12-20 100 "
      "[93-<-bbbb] [77->-cccc]\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  const auto& n = (*r)[0];
  ASSERT_EQ(n.slots.size(), 2u);
  EXPECT_EQ(n.slots[0], (SlotRange{0, 20}));
  EXPECT_EQ(n.slots[1], (SlotRange{100, 100}));
  EXPECT_EQ(n.open_slots.size(), 2u);
}

TEST(ClusterNodesTest, FreshNodeWithoutAddress) {
  // A node that never met anyone and has no announce-ip prints ":port@bus".
  auto r = ParseClusterNodes("0123 :30001@40001 myself,master - 0 0 0 connected\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)[0].ip, "");
  EXPECT_EQ((*r)[0].port, 30001u);
  EXPECT_TRUE((*r)[0].slots.empty());
}

TEST(ClusterNodesTest, Ipv6Address) {
  auto r = ParseClusterNodes("0123 ::1:30001@40001 myself,master - 0 0 0 connected 5\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)[0].ip, "::1");
  EXPECT_EQ((*r)[0].port, 30001u);
}

TEST(ClusterNodesTest, RejectsMalformedLines) {
  EXPECT_FALSE(ParseClusterNodes("abc 127.0.0.1:1@2 master -\n").ok());
  EXPECT_FALSE(ParseClusterNodes("abc 127.0.0.1:x@2 master - 0 0 0 connected\n").ok());
  EXPECT_FALSE(ParseClusterNodes("abc 127.0.0.1:1@2 master - 0 0 0 connected 99999\n").ok());
  EXPECT_FALSE(ParseClusterNodes("abc 127.0.0.1:1@2 master - 0 0 0 connected 9-3\n").ok());
  EXPECT_TRUE(ParseClusterNodes("").ok());
}

TEST(ClusterNodesTest, SignatureIgnoresOrderAndOpenSlots) {
  auto a = ParseClusterNodes(
      "n1 127.0.0.1:1@2 myself,master - 0 0 1 connected 0-100 [101->-n2]\n"
      "n2 127.0.0.1:3@4 master - 0 0 2 connected 101-16383\n"
      "n3 127.0.0.1:5@6 slave n1 0 0 1 connected\n");
  auto b = ParseClusterNodes(
      "n3 127.0.0.1:5@6 slave n1 0 0 1 connected\n"
      "n2 127.0.0.1:3@4 myself,master - 0 0 2 connected 101-16383 [101-<-n1]\n"
      "n1 127.0.0.1:1@2 master - 0 0 1 connected 0-100\n");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ClusterConfigSignature(*a), ClusterConfigSignature(*b));
  EXPECT_EQ(ClusterConfigSignature(*a), "n1:0-100|n2:101-16383");
}

constexpr const char* kInfo =
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:cluster\r\n"
    "process_id:4242\r\n"
    "tcp_port:30004\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:30001\r\n"
    "master_link_status:up\r\n"
    "slave_repl_offset:1234567\r\n"
    "master_repl_offset:1234567\r\n"
    "connected_slaves:0\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:1500000\r\n"
    "used_memory_human:1.43M\r\n"
    "maxmemory:104857600\r\n"
    "\r\n"
    "# Keyspace\r\n"
    "db0:keys=10,expires=2,avg_ttl=1000\r\n"
    "db3:keys=5,expires=0,avg_ttl=0\r\n";

TEST(InfoTest, ParsesSectionsIntoOneMap) {
  InfoMap m = ParseInfo(kInfo);
  EXPECT_EQ(InfoString(m, "redis_version"), "7.0.15");
  EXPECT_EQ(InfoString(m, "role"), "slave");
  EXPECT_EQ(InfoInt(m, "process_id"), 4242);
  EXPECT_EQ(InfoInt(m, "master_port"), 30001);
  EXPECT_EQ(InfoInt(m, "slave_repl_offset"), 1234567);
  EXPECT_EQ(InfoInt(m, "used_memory"), 1500000);
  EXPECT_EQ(InfoInt(m, "maxmemory"), 104857600);
  EXPECT_EQ(InfoString(m, "used_memory_human"), "1.43M");
  EXPECT_EQ(InfoTotalKeys(m), 15u);
  EXPECT_EQ(InfoString(m, "missing"), "");
  EXPECT_EQ(InfoInt(m, "missing", -7), -7);
  EXPECT_EQ(InfoInt(m, "used_memory_human", -1), -1);  // not a number
  EXPECT_EQ(m.count("# Server"), 0u);
}

TEST(InfoTest, EmptyKeyspace) {
  InfoMap m = ParseInfo("# Keyspace\r\n");
  EXPECT_EQ(InfoTotalKeys(m), 0u);
}

}  // namespace
}  // namespace cf::agent
