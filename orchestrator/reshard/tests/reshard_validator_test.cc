// ModifyReplicationGroupShardConfiguration validation: every rule with its fault code.
#include "orchestrator/reshard/reshard_validator.h"

#include <gtest/gtest.h>

#include "orchestrator/core/id_rules.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;

// A cluster-mode-enabled group with `shards` node groups of 1 primary + `replicas`.
GroupView Group(int shards, int replicas = 1) {
  GroupView v;
  v.group.id = "cme";
  v.group.cluster_enabled = true;
  v.group.status = GroupStatus::kAvailable;
  auto parts = SplitSlotsEvenly(shards);
  for (int s = 0; s < shards; ++s) {
    NodeGroupRecord ng;
    ng.group_id = "cme";
    ng.node_group_id = FormatNodeGroupId(s + 1);
    ng.slots = {parts[s]};
    ng.status = "available";
    v.node_groups.push_back(ng);
    for (int m = 0; m <= replicas; ++m) {
      NodeRecord n;
      n.node_id = CmeMemberId("cme", ng.node_group_id, m + 1);
      n.node_group_id = ng.node_group_id;
      n.desired_role = m == 0 ? NodeRole::kPrimary : NodeRole::kReplica;
      v.nodes.push_back(n);
    }
  }
  return v;
}

ShardConfigContext Ctx() {
  ShardConfigContext c;
  c.azs = {{"lab-a", true}, {"lab-b", true}, {"lab-c", true}, {"lab-down", false}};
  return c;
}

Params Base(int count) {
  return {{"ReplicationGroupId", "cme"},
          {"NodeGroupCount", std::to_string(count)},
          {"ApplyImmediately", "true"}};
}

// Runs both stages; returns the fault code ("" on success) and fills `out`.
std::string Validate(const Params& p, const GroupView& g, ReshardInputs* out = nullptr,
                     std::string* message = nullptr) {
  auto parsed = ParseModifyShardConfiguration(api::QueryParams(p), GroupLimits{});
  if (auto* e = std::get_if<api::ApiError>(&parsed)) {
    if (message) *message = e->message;
    return e->code;
  }
  auto checked = CheckModifyShardConfiguration(std::get<ShardConfigRequest>(parsed), g, Ctx());
  if (auto* e = std::get_if<api::ApiError>(&checked)) {
    if (message) *message = e->message;
    return e->code;
  }
  if (out) *out = std::get<ReshardInputs>(checked);
  return "";
}

TEST(ReshardValidator, ScaleOutDefaults) {
  ReshardInputs in;
  ASSERT_EQ(Validate(Base(5), Group(3), &in), "");
  EXPECT_EQ(in.from_count, 3);
  EXPECT_EQ(in.to_count, 5);
  EXPECT_EQ(in.replicas_per_node_group, 1);
  ASSERT_EQ(in.add.size(), 2u);
  EXPECT_EQ(in.add[0].node_group_id, "0004");
  EXPECT_EQ(in.add[1].node_group_id, "0005");
  EXPECT_TRUE(in.remove.empty());
}

TEST(ReshardValidator, ScaleOutWithReshardingConfiguration) {
  Params p = Base(5);
  p["ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId"] = "7";
  p["ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones.AvailabilityZone."
    "1"] = "lab-b";
  p["ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones.AvailabilityZone."
    "2"] = "lab-c";
  ReshardInputs in;
  ASSERT_EQ(Validate(p, Group(3), &in), "");
  ASSERT_EQ(in.add.size(), 2u);
  EXPECT_EQ(in.add[0].node_group_id, "0007");
  EXPECT_EQ(in.add[0].preferred_azs, (std::vector<std::string>{"lab-b", "lab-c"}));
  EXPECT_EQ(in.add[1].node_group_id, "0004");  // lowest unused id
  EXPECT_TRUE(in.add[1].preferred_azs.empty());
}

TEST(ReshardValidator, ScaleInWithRemoveAndRetain) {
  Params p = Base(3);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0005";
  p["NodeGroupsToRemove.NodeGroupToRemove.2"] = "4";
  ReshardInputs in;
  ASSERT_EQ(Validate(p, Group(5), &in), "");
  EXPECT_EQ(in.remove, (std::vector<std::string>{"0004", "0005"}));
  EXPECT_TRUE(in.add.empty());

  Params r = Base(2);
  r["NodeGroupsToRetain.NodeGroupToRetain.1"] = "0001";
  r["NodeGroupsToRetain.NodeGroupToRetain.2"] = "0003";
  ASSERT_EQ(Validate(r, Group(5), &in), "");
  EXPECT_EQ(in.remove, (std::vector<std::string>{"0002", "0004", "0005"}));
}

TEST(ReshardValidator, RequiredParameters) {
  for (const char* missing : {"ReplicationGroupId", "NodeGroupCount", "ApplyImmediately"}) {
    Params p = Base(4);
    p.erase(missing);
    std::string msg;
    EXPECT_EQ(Validate(p, Group(3), nullptr, &msg), "MissingParameter") << missing;
    EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  }
}

TEST(ReshardValidator, ParameterSyntax) {
  Params p = Base(4);
  p["ReplicationGroupId"] = "Bad--id";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["NodeGroupCount"] = "four";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(0);
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(-2);
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(91);
  EXPECT_EQ(Validate(p, Group(3)), "NodeGroupsPerReplicationGroupQuotaExceeded");
  p = Base(4);
  p["ApplyImmediately"] = "false";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["ApplyImmediately"] = "yes";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["Unknown"] = "x";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["NodeGroupCount.1"] = "x";  // a scalar with a suffix
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["ReshardingConfiguration.ReshardingConfiguration.1.Bogus"] = "x";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId"] = "12345";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(4);
  p["ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones.member.1"] =
      "lab-a";  // wrong item name
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(2);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "x1";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(2);
  p["NodeGroupsToRemove.member.1"] = "0001";  // the item name is singular NodeGroupToRemove
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p = Base(1);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0002";
  p["NodeGroupsToRemove.NodeGroupToRemove.2"] = "2";  // same id twice
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
}

TEST(ReshardValidator, RemoveAndRetainTogether) {
  Params p = Base(2);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0003";
  p["NodeGroupsToRetain.NodeGroupToRetain.1"] = "0001";
  p["NodeGroupsToRetain.NodeGroupToRetain.2"] = "0002";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterCombination");
}

TEST(ReshardValidator, GroupState) {
  GroupView cmd = Group(1, 2);
  cmd.group.cluster_enabled = false;
  std::string msg;
  EXPECT_EQ(Validate(Base(2), cmd, nullptr, &msg), "InvalidParameterValue");
  EXPECT_NE(msg.find("cluster mode disabled"), std::string::npos) << msg;
  for (GroupStatus s : {GroupStatus::kCreating, GroupStatus::kModifying, GroupStatus::kDeleting,
                        GroupStatus::kCreateFailed, GroupStatus::kSnapshotting}) {
    GroupView g = Group(3);
    g.group.status = s;
    EXPECT_EQ(Validate(Base(4), g), "InvalidReplicationGroupState") << GroupStatusName(s);
  }
}

TEST(ReshardValidator, SameCount) {
  std::string msg;
  EXPECT_EQ(Validate(Base(3), Group(3), nullptr, &msg), "InvalidParameterValue");
  EXPECT_NE(msg.find("is the same as the current"), std::string::npos) << msg;
}

TEST(ReshardValidator, ScaleOutRules) {
  Params p = Base(4);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0001";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterCombination");
  p = Base(4);
  p["NodeGroupsToRetain.NodeGroupToRetain.1"] = "0001";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterCombination");
  // More entries than new node groups.
  p = Base(4);
  p["ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId"] = "0004";
  p["ReshardingConfiguration.ReshardingConfiguration.2.NodeGroupId"] = "0005";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  // An id that exists.
  p = Base(4);
  p["ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId"] = "2";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  // The same new id twice.
  p = Base(5);
  p["ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId"] = "0009";
  p["ReshardingConfiguration.ReshardingConfiguration.2.NodeGroupId"] = "9";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  // Unknown AZ, AZ without an up host, more AZs than nodes per shard.
  p = Base(4);
  p["ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones.AvailabilityZone."
    "1"] = "mars-1a";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  p["ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones.AvailabilityZone."
    "1"] = "lab-down";
  EXPECT_EQ(Validate(p, Group(3)), "InsufficientCacheClusterCapacity");
  p = Base(4);
  for (int i = 1; i <= 3; ++i)
    p["ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones."
      "AvailabilityZone." +
      std::to_string(i)] = "lab-a";
  EXPECT_EQ(Validate(p, Group(3, 1)), "InvalidParameterValue");
  EXPECT_EQ(Validate(p, Group(3, 2)), "");
  // The node quota.
  EXPECT_EQ(Validate(Base(90), Group(3, 5)), "NodeQuotaForClusterExceeded");
  // An empty ReshardingConfiguration list is no list.
  p = Base(4);
  p["ReshardingConfiguration"] = "";
  EXPECT_EQ(Validate(p, Group(3)), "");
}

TEST(ReshardValidator, ScaleInRules) {
  // Neither list.
  EXPECT_EQ(Validate(Base(2), Group(3)), "InvalidParameterValue");
  Params p = Base(2);
  p["NodeGroupsToRemove"] = "";  // bare empty list
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  // ReshardingConfiguration when shrinking.
  p = Base(2);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0003";
  p["ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId"] = "0004";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterCombination");
  // Unknown ids.
  p = Base(2);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0009";
  std::string msg;
  EXPECT_EQ(Validate(p, Group(3), nullptr, &msg), "InvalidParameterValue");
  EXPECT_NE(msg.find("0009"), std::string::npos);
  p = Base(2);
  p["NodeGroupsToRetain.NodeGroupToRetain.1"] = "0001";
  p["NodeGroupsToRetain.NodeGroupToRetain.2"] = "0008";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
  // Counts that do not add up.
  p = Base(1);
  p["NodeGroupsToRemove.NodeGroupToRemove.1"] = "0003";
  EXPECT_EQ(Validate(p, Group(3), nullptr, &msg), "InvalidParameterValue");
  EXPECT_NE(msg.find("leaves 2"), std::string::npos) << msg;
  p = Base(2);
  p["NodeGroupsToRetain.NodeGroupToRetain.1"] = "0001";
  EXPECT_EQ(Validate(p, Group(3)), "InvalidParameterValue");
}

TEST(ReshardValidator, ReplicasPerNodeGroupIsTheMostCommon) {
  GroupView g = Group(3, 2);
  EXPECT_EQ(ReplicasPerNodeGroup(g), 2);
  // Drop one replica from one shard: still 2 (two shards have 2).
  g.nodes.erase(std::find_if(g.nodes.begin(), g.nodes.end(),
                             [](const NodeRecord& n) { return n.node_id == "cme-0001-003"; }));
  EXPECT_EQ(ReplicasPerNodeGroup(g), 2);
  EXPECT_EQ(ReplicasPerNodeGroup(Group(2, 0)), 0);
}

}  // namespace
}  // namespace cf::orchestrator
