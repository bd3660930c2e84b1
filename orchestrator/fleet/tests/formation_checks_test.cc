#include "orchestrator/fleet/formation_checks.h"

#include <gtest/gtest.h>

namespace cf::orchestrator {
namespace {

namespace pb = ::cachefleet::v1;

// A 2-shard x 1-replica cluster: p1 (0-8191) + r1, p2 (8192-16383) + r2, fully formed.
class FormationChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ids[] = {"p1", "r1", "p2", "r2"};
    for (int i = 0; i < 4; ++i) {
      NodeRecord n;
      n.node_id = ids[i];
      n.node_group_id = i < 2 ? "0001" : "0002";
      n.desired_role = i % 2 == 0 ? NodeRole::kPrimary : NodeRole::kReplica;
      n.cluster_node_id = std::string("id-") + ids[i];
      n.port = 30000 + i;
      nodes_.push_back(n);
    }
    groups_ = {NodeGroupRecord{"g", "0001", {SlotRange{0, 8191}}, "creating"},
               NodeGroupRecord{"g", "0002", {SlotRange{8192, 16383}}, "creating"}};
    for (int i = 0; i < 4; ++i) {
      pb::NodeStatus s;
      s.set_node_id(nodes_[i].node_id);
      s.set_state(pb::NODE_RUNNING);
      s.set_cluster_node_id(nodes_[i].cluster_node_id);
      s.set_cluster_known_nodes(4);
      s.set_cluster_state("ok");
      s.set_role(i % 2 == 0 ? "master" : "slave");
      if (i % 2 == 1) {
        s.set_master_cluster_node_id(nodes_[i - 1].cluster_node_id);
        s.set_master_link_up(true);
      }
      for (int o : {0, 2}) {
        auto* owner = s.add_slot_owners();
        owner->set_cluster_node_id(nodes_[o].cluster_node_id);
        auto* r = owner->add_ranges();
        r->set_start(o == 0 ? 0 : 8192);
        r->set_end(o == 0 ? 8191 : 16383);
      }
      for (int rep : {1, 3}) {
        auto* v = s.add_replicas_seen();
        v->set_cluster_node_id(nodes_[rep].cluster_node_id);
        v->set_master_cluster_node_id(nodes_[rep - 1].cluster_node_id);
      }
      statuses_.push_back(s);
    }
  }
  std::vector<NodeProbe> Probes() {
    std::vector<NodeProbe> out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      NodeProbe p;
      p.node = &nodes_[i];
      p.status = &statuses_[i];
      size_t prim = i - i % 2;
      p.primary_cluster_node_id = nodes_[prim].cluster_node_id;
      p.primary_address = "127.0.0.1";
      p.primary_port = nodes_[prim].port;
      out.push_back(p);
    }
    return out;
  }
  std::vector<NodeRecord> nodes_;
  std::vector<NodeGroupRecord> groups_;
  std::vector<pb::NodeStatus> statuses_;
};

TEST_F(FormationChecksTest, FormedClusterPassesEveryCheck) {
  EXPECT_EQ(CheckMembership(Probes()), "");
  EXPECT_EQ(CheckAgreement(Probes(), groups_), "");
  EXPECT_EQ(CheckRolesSeen(Probes()), "");
  EXPECT_EQ(CheckClusterHealthy(Probes(), groups_), "");
  EXPECT_EQ(SlotSignature(statuses_[0]), "id-p1:0-8191 id-p2:8192-16383");
  EXPECT_EQ(ExpectedSignature(Probes(), groups_), SlotSignature(statuses_[0]));
}

TEST_F(FormationChecksTest, Membership) {
  statuses_[2].set_cluster_known_nodes(3);
  EXPECT_NE(CheckMembership(Probes()).find("p2 knows 3 of 4"), std::string::npos);
  statuses_[2].set_cluster_known_nodes(4);
  statuses_[1].add_unhealthy_peers("id-p2");
  EXPECT_NE(CheckMembership(Probes()).find("r1 still sees id-p2"), std::string::npos);
  statuses_[1].clear_unhealthy_peers();
  auto probes = Probes();
  probes[3].status = nullptr;
  EXPECT_NE(CheckMembership(probes).find("r2 did not answer"), std::string::npos);
}

TEST_F(FormationChecksTest, SlotDisagreement) {
  statuses_[3].mutable_slot_owners()->RemoveLast();  // r2 has not heard p2's slots yet
  EXPECT_NE(CheckAgreement(Probes(), groups_).find("r2 does not agree"), std::string::npos);
  EXPECT_NE(CheckClusterHealthy(Probes(), groups_), "");
}

TEST_F(FormationChecksTest, HealthGateDetails) {
  statuses_[0].set_cluster_state("fail");  // CLUSTER_WRITABLE_DELAY after start
  EXPECT_NE(CheckClusterHealthy(Probes(), groups_).find("p1 reports cluster_state fail"),
            std::string::npos);
  statuses_[0].set_cluster_state("ok");
  statuses_[1].set_master_link_up(false);
  EXPECT_NE(CheckClusterHealthy(Probes(), groups_).find("r1 replication link"), std::string::npos);
  statuses_[1].set_master_link_up(true);
  statuses_[3].set_master_cluster_node_id("id-p1");  // follows the wrong primary
  EXPECT_NE(CheckClusterHealthy(Probes(), groups_).find("r2 does not replicate"),
            std::string::npos);
  statuses_[3].set_master_cluster_node_id("id-p2");
  statuses_[2].set_has_open_slots(true);
  EXPECT_NE(CheckClusterHealthy(Probes(), groups_).find("p2 has open slots"), std::string::npos);
}

TEST_F(FormationChecksTest, RolesMustBeSeenByEveryNode) {
  // p1 still sees r2 as a master (its replica flag has not reached p1).
  statuses_[0].mutable_replicas_seen()->RemoveLast();
  EXPECT_NE(CheckRolesSeen(Probes()).find("p1 does not see r2"), std::string::npos);
  EXPECT_NE(CheckClusterHealthy(Probes(), groups_), "");
}

TEST_F(FormationChecksTest, RolesCheckSkippedWhenTheAgentDoesNotReportThem) {
  for (auto& s : statuses_) s.clear_replicas_seen();
  EXPECT_EQ(CheckRolesSeen(Probes()), "");
  EXPECT_EQ(CheckClusterHealthy(Probes(), groups_), "");
}

TEST_F(FormationChecksTest, ReplicationHealthyForCmd) {
  for (auto& s : statuses_) s.set_master_host("127.0.0.1");
  for (int i : {1, 3}) statuses_[i].set_master_port(nodes_[i - 1].port);
  EXPECT_EQ(CheckReplicationHealthy(Probes()), "");
  statuses_[3].set_master_port(1);
  EXPECT_NE(CheckReplicationHealthy(Probes()).find("r2"), std::string::npos);
  statuses_[3].set_master_port(nodes_[2].port);
  statuses_[0].set_role("slave");
  EXPECT_NE(CheckReplicationHealthy(Probes()).find("p1 is not a master"), std::string::npos);
}

TEST(FormationChecks, ToObserved) {
  pb::NodeStatus s;
  s.set_state(pb::NODE_CRASHED);
  s.set_role("slave");
  s.set_master_link_up(true);
  auto* r = s.add_slots();
  r->set_start(5);
  r->set_end(9);
  auto* r2 = s.add_slots();
  r2->set_start(0);
  r2->set_end(4);
  ObservedNode o = ToObserved(s, 1234);
  EXPECT_TRUE(o.known);
  EXPECT_EQ(o.state, "crashed");
  EXPECT_EQ(o.role, "slave");
  EXPECT_TRUE(o.master_link_up);
  EXPECT_EQ(FormatSlotRanges(o.slots), "0-9");
  EXPECT_EQ(o.observed_ms, 1234);
}

}  // namespace
}  // namespace cf::orchestrator
