#include "orchestrator/core/replication_group_xml.h"

#include <gtest/gtest.h>

#include <set>

namespace cf::orchestrator {
namespace {

RenderContext Ctx() {
  RenderContext ctx;
  ctx.region = "eu-west-1";
  ctx.account_id = "123456789012";
  for (const char* id : {"host-a", "host-b"}) {
    HostRecord h;
    h.host_id = id;
    h.address = std::string(id) == "host-a" ? "10.0.0.1" : "10.0.0.2";
    h.az = std::string(id) == "host-a" ? "lab-a" : "lab-b";
    ctx.hosts[id] = h;
  }
  return ctx;
}

NodeRecord Node(const std::string& id, const std::string& ng, NodeRole role,
                const std::string& host, uint32_t port) {
  NodeRecord n;
  n.node_id = id;
  n.group_id = "rg";
  n.node_group_id = ng;
  n.desired_role = role;
  n.host_id = host;
  n.port = port;
  n.az = host == "host-a" ? "lab-a" : "lab-b";
  return n;
}

GroupView Cmd(GroupStatus status) {
  GroupView v;
  v.group.id = "rg";
  v.group.description = "cluster mode off";
  v.group.status = status;
  v.group.cache_node_type = "cache.t3.micro";
  v.group.snapshot_window = "05:00-06:00";
  v.group.automatic_failover = true;
  v.group.create_time_ms = 1714564800123;  // 2024-05-01T12:00:00.123Z
  NodeGroupRecord ng;
  ng.node_group_id = "0001";
  ng.status = status == GroupStatus::kCreating ? "creating" : "available";
  v.node_groups.push_back(ng);
  v.nodes.push_back(Node("rg-001", "0001", NodeRole::kPrimary, "host-a", 30000));
  v.nodes.push_back(Node("rg-002", "0001", NodeRole::kReplica, "host-b", 31000));
  return v;
}

GroupView Cme(GroupStatus status) {
  GroupView v;
  v.group.id = "cme";
  v.group.description = "cluster mode on";
  v.group.status = status;
  v.group.cluster_enabled = true;
  v.group.automatic_failover = true;
  v.group.cache_node_type = "cache.r6g.large";
  v.group.snapshot_window = "05:00-06:00";
  for (int s = 1; s <= 2; ++s) {
    NodeGroupRecord ng;
    ng.node_group_id = s == 1 ? "0001" : "0002";
    ng.slots = {s == 1 ? SlotRange{0, 8191} : SlotRange{8192, 16383}};
    ng.status = "available";
    v.node_groups.push_back(ng);
    v.nodes.push_back(Node("cme-" + ng.node_group_id + "-001", ng.node_group_id, NodeRole::kPrimary,
                           s == 1 ? "host-a" : "host-b", 30000 + s));
    v.nodes.push_back(Node("cme-" + ng.node_group_id + "-002", ng.node_group_id, NodeRole::kReplica,
                           s == 1 ? "host-b" : "host-a", 31000 + s));
  }
  return v;
}

pugi::xml_node Render(pugi::xml_document& doc, const GroupView& v) {
  auto rg = doc.append_child("ReplicationGroup");
  RenderReplicationGroup(v, Ctx(), rg);
  return rg;
}

std::set<std::string> ChildNames(pugi::xml_node n) {
  std::set<std::string> out;
  for (auto c : n.children()) out.insert(c.name());
  return out;
}

TEST(ReplicationGroupXml, CmdElementsAndEndpoints) {
  pugi::xml_document doc;
  auto rg = Render(doc, Cmd(GroupStatus::kAvailable));
  EXPECT_STREQ(rg.child_value("ReplicationGroupId"), "rg");
  EXPECT_STREQ(rg.child_value("Description"), "cluster mode off");
  EXPECT_STREQ(rg.child_value("Status"), "available");
  EXPECT_TRUE(rg.child("PendingModifiedValues"));
  EXPECT_FALSE(rg.child("PendingModifiedValues").first_child());
  auto members = rg.child("MemberClusters");
  ASSERT_EQ(
      std::distance(members.children("ClusterId").begin(), members.children("ClusterId").end()), 2);
  EXPECT_STREQ(members.first_child().child_value(), "rg-001");
  auto ng = rg.child("NodeGroups").child("NodeGroup");
  EXPECT_STREQ(ng.child_value("NodeGroupId"), "0001");
  EXPECT_STREQ(ng.child_value("Status"), "available");
  EXPECT_STREQ(ng.child("PrimaryEndpoint").child_value("Address"), "10.0.0.1");
  EXPECT_STREQ(ng.child("PrimaryEndpoint").child_value("Port"), "30000");
  EXPECT_TRUE(ng.child("ReaderEndpoint"));
  EXPECT_FALSE(ng.child("Slots"));
  auto m = ng.child("NodeGroupMembers").child("NodeGroupMember");
  EXPECT_STREQ(m.child_value("CacheClusterId"), "rg-001");
  EXPECT_STREQ(m.child_value("CacheNodeId"), "0001");
  EXPECT_STREQ(m.child("ReadEndpoint").child_value("Port"), "30000");
  EXPECT_STREQ(m.child_value("PreferredAvailabilityZone"), "lab-a");
  EXPECT_STREQ(m.child_value("CurrentRole"), "primary");
  EXPECT_STREQ(m.next_sibling("NodeGroupMember").child_value("CurrentRole"), "replica");
  EXPECT_FALSE(rg.child("ConfigurationEndpoint"));
  EXPECT_FALSE(rg.child("SnapshottingClusterId"));
  EXPECT_STREQ(rg.child_value("AutomaticFailover"), "enabled");
  EXPECT_STREQ(rg.child_value("MultiAZ"), "disabled");
  EXPECT_STREQ(rg.child_value("ClusterEnabled"), "false");
  EXPECT_STREQ(rg.child_value("ClusterMode"), "disabled");
  EXPECT_STREQ(rg.child_value("ARN"),
               "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:rg");
  EXPECT_STREQ(rg.child_value("ReplicationGroupCreateTime"), "2024-05-01T12:00:00.123Z");
  for (const char* name :
       {"SnapshotRetentionLimit", "SnapshotWindow", "CacheNodeType", "AuthTokenEnabled",
        "TransitEncryptionEnabled", "AtRestEncryptionEnabled", "DataTiering",
        "AutoMinorVersionUpgrade", "NetworkType", "IpDiscovery", "Engine"})
    EXPECT_TRUE(rg.child(name)) << name;
  EXPECT_STREQ(rg.child_value("AuthTokenEnabled"), "false");
  EXPECT_STREQ(rg.child_value("DataTiering"), "disabled");
  EXPECT_STREQ(rg.child_value("Engine"), "redis");
}

TEST(ReplicationGroupXml, CreatingShowsEnablingAndPlannedRoles) {
  pugi::xml_document doc;
  auto rg = Render(doc, Cmd(GroupStatus::kCreating));
  EXPECT_STREQ(rg.child_value("Status"), "creating");
  EXPECT_STREQ(rg.child_value("AutomaticFailover"), "enabling");
}

TEST(ReplicationGroupXml, ObservedRolesWin) {
  GroupView v = Cmd(GroupStatus::kAvailable);
  // A failover happened: rg-002 is the master now.
  v.nodes[0].observed.known = true;
  v.nodes[0].observed.role = "slave";
  v.nodes[0].observed.state = "running";
  v.nodes[1].observed.known = true;
  v.nodes[1].observed.role = "master";
  v.nodes[1].observed.state = "running";
  pugi::xml_document doc;
  auto rg = Render(doc, v);
  auto ng = rg.child("NodeGroups").child("NodeGroup");
  EXPECT_STREQ(ng.child("PrimaryEndpoint").child_value("Address"), "10.0.0.2");
  EXPECT_STREQ(ng.child("ReaderEndpoint").child_value("Address"), "10.0.0.1");
  auto m = ng.child("NodeGroupMembers").child("NodeGroupMember");
  EXPECT_STREQ(m.child_value("CurrentRole"), "replica");
  EXPECT_STREQ(m.next_sibling().child_value("CurrentRole"), "primary");
}

TEST(ReplicationGroupXml, CmeElements) {
  GroupView v = Cme(GroupStatus::kAvailable);
  pugi::xml_document doc;
  auto rg = Render(doc, v);
  EXPECT_STREQ(rg.child_value("ClusterEnabled"), "true");
  EXPECT_STREQ(rg.child_value("ClusterMode"), "enabled");
  auto ngs = rg.child("NodeGroups");
  auto ng1 = ngs.child("NodeGroup");
  EXPECT_STREQ(ng1.child_value("Slots"), "0-8191");
  EXPECT_STREQ(ng1.next_sibling("NodeGroup").child_value("Slots"), "8192-16383");
  EXPECT_FALSE(ng1.child("PrimaryEndpoint"));
  EXPECT_FALSE(ng1.child("ReaderEndpoint"));
  auto m = ng1.child("NodeGroupMembers").child("NodeGroupMember");
  EXPECT_EQ(ChildNames(m),
            (std::set<std::string>{"CacheClusterId", "CacheNodeId", "PreferredAvailabilityZone"}));
  // No live primary observed: the planned primary of the first shard.
  EXPECT_STREQ(rg.child("ConfigurationEndpoint").child_value("Address"), "10.0.0.1");
  EXPECT_STREQ(rg.child("ConfigurationEndpoint").child_value("Port"), "30001");
  EXPECT_EQ(std::distance(rg.child("MemberClusters").children().begin(),
                          rg.child("MemberClusters").children().end()),
            4);
}

TEST(ReplicationGroupXml, CmeSlotsComeFromObservedPrimaryOnceAvailable) {
  GroupView v = Cme(GroupStatus::kAvailable);
  v.nodes[0].observed.known = true;
  v.nodes[0].observed.role = "master";
  v.nodes[0].observed.state = "running";
  v.nodes[0].observed.slots = {SlotRange{0, 100}, SlotRange{200, 8191}};
  v.nodes[2].observed.known = true;
  v.nodes[2].observed.role = "master";
  v.nodes[2].observed.state = "running";
  v.nodes[2].observed.slots = {SlotRange{101, 199}, SlotRange{8192, 16383}};
  pugi::xml_document doc;
  auto rg = Render(doc, v);
  auto ng1 = rg.child("NodeGroups").child("NodeGroup");
  EXPECT_STREQ(ng1.child_value("Slots"), "0-100,200-8191");
  EXPECT_STREQ(ng1.next_sibling("NodeGroup").child_value("Slots"), "101-199,8192-16383");
  // A live observed primary is the configuration endpoint.
  EXPECT_STREQ(rg.child("ConfigurationEndpoint").child_value("Port"), "30001");

  // While creating, the planned slots are shown and no endpoint until a primary is live.
  GroupView c = Cme(GroupStatus::kCreating);
  c.nodes[0].observed = v.nodes[0].observed;
  c.nodes[0].observed.slots = {};
  pugi::xml_document doc2;
  auto rg2 = Render(doc2, c);
  EXPECT_STREQ(rg2.child("NodeGroups").child("NodeGroup").child_value("Slots"), "0-8191");
  EXPECT_STREQ(rg2.child_value("AutomaticFailover"), "enabling");
}

TEST(ReplicationGroupXml, CmeCreatingWithoutLivePrimaryHasNoConfigurationEndpoint) {
  pugi::xml_document doc;
  auto rg = Render(doc, Cme(GroupStatus::kCreating));
  EXPECT_FALSE(rg.child("ConfigurationEndpoint"));
}

TEST(ReplicationGroupXml, SnapshottingClusterIdOnlyWhenSet) {
  GroupView v = Cmd(GroupStatus::kAvailable);
  v.group.snapshotting_cluster_id = "rg-002";
  pugi::xml_document doc;
  EXPECT_STREQ(Render(doc, v).child_value("SnapshottingClusterId"), "rg-002");
}

TEST(ReplicationGroupXml, Timestamp) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1714564800123), "2024-05-01T12:00:00.123Z");
}

}  // namespace
}  // namespace cf::orchestrator
