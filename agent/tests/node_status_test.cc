#include "agent/nodes/node_status.h"

#include <gtest/gtest.h>

#include "cachefleet.pb.h"

namespace cf::agent {
namespace {

RedisObservation ClusterReplicaObservation() {
  RedisObservation o;
  o.cluster_enabled = true;
  o.info = ParseInfo(
      "# Server\r\nredis_version:7.0.15\r\nprocess_id:99\r\n"
      "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:30001\r\n"
      "master_link_status:up\r\nslave_repl_offset:5000\r\nmaster_repl_offset:5000\r\n"
      "connected_slaves:0\r\n"
      "# Memory\r\nused_memory:2000000\r\nmaxmemory:0\r\n"
      "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n");
  o.myid = "r1";
  o.nodes = *ParseClusterNodes(
      "m1 127.0.0.1:30001@40001 master - 0 1 1 connected 0-5460\n"
      "m2 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922\n"
      "m3 127.0.0.1:30003@40003 master,fail? - 0 1 3 connected 10923-16383\n"
      "r1 127.0.0.1:30004@40004 myself,slave m1 0 0 1 connected\n");
  o.cluster_info = ParseInfo(
      "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:4\r\n"
      "cluster_current_epoch:3\r\n");
  return o;
}

TEST(FillNodeStatusTest, ClusterReplica) {
  cachefleet::v1::NodeStatus s;
  FillNodeStatus(ClusterReplicaObservation(), &s);
  EXPECT_EQ(s.redis_version(), "7.0.15");
  EXPECT_EQ(s.role(), "slave");
  EXPECT_EQ(s.master_host(), "127.0.0.1");
  EXPECT_EQ(s.master_port(), 30001u);
  EXPECT_TRUE(s.master_link_up());
  EXPECT_EQ(s.repl_offset(), 5000);
  EXPECT_EQ(s.used_memory(), 2000000u);
  EXPECT_EQ(s.keys(), 3u);
  EXPECT_EQ(s.cluster_node_id(), "r1");
  EXPECT_EQ(s.cluster_state(), "ok");
  EXPECT_EQ(s.cluster_known_nodes(), 4u);
  EXPECT_EQ(s.master_cluster_node_id(), "m1");
  EXPECT_EQ(s.slots_size(), 0);
  ASSERT_EQ(s.slot_owners_size(), 3);
  EXPECT_EQ(s.slot_owners(0).cluster_node_id(), "m1");
  EXPECT_EQ(s.slot_owners(2).cluster_node_id(), "m3");
  EXPECT_EQ(s.slot_owners(2).ranges(0).start(), 10923u);
  EXPECT_EQ(s.slot_owners(2).ranges(0).end(), 16383u);
  EXPECT_FALSE(s.has_open_slots());
  ASSERT_EQ(s.unhealthy_peers_size(), 1);
  EXPECT_EQ(s.unhealthy_peers(0), "m3");
  // Every replica this node sees, with the master it follows (itself included).
  ASSERT_EQ(s.replicas_seen_size(), 1);
  EXPECT_EQ(s.replicas_seen(0).cluster_node_id(), "r1");
  EXPECT_EQ(s.replicas_seen(0).master_cluster_node_id(), "m1");
}

TEST(FillNodeStatusTest, ClusterMasterWithOpenSlot) {
  RedisObservation o = ClusterReplicaObservation();
  o.info = ParseInfo("role:master\r\nmaster_repl_offset:777\r\nconnected_slaves:1\r\n");
  o.myid = "m1";
  o.nodes = *ParseClusterNodes(
      "m1 127.0.0.1:30001@40001 myself,master - 0 1 1 connected 0-5460 [5461-<-m2]\n"
      "m2 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-16383\n");
  cachefleet::v1::NodeStatus s;
  FillNodeStatus(o, &s);
  EXPECT_EQ(s.role(), "master");
  EXPECT_EQ(s.repl_offset(), 777);
  EXPECT_EQ(s.connected_replicas(), 1u);
  EXPECT_EQ(s.master_cluster_node_id(), "");
  ASSERT_EQ(s.slots_size(), 1);
  EXPECT_EQ(s.slots(0).end(), 5460u);
  EXPECT_TRUE(s.has_open_slots());
  EXPECT_EQ(s.unhealthy_peers_size(), 0);
}

TEST(FillNodeStatusTest, StandaloneLeavesClusterFieldsEmpty) {
  RedisObservation o;
  o.info = ParseInfo("redis_version:7.0.15\r\nrole:master\r\nmaxmemory:1024\r\n");
  cachefleet::v1::NodeStatus s;
  FillNodeStatus(o, &s);
  EXPECT_EQ(s.role(), "master");
  EXPECT_EQ(s.maxmemory(), 1024u);
  EXPECT_EQ(s.cluster_node_id(), "");
  EXPECT_EQ(s.cluster_state(), "");
  EXPECT_EQ(s.slot_owners_size(), 0);
}

}  // namespace
}  // namespace cf::agent
