#include <gtest/gtest.h>

#include <map>

#include "orchestrator/groups/replication_group_validator.h"

namespace cf::orchestrator {
namespace {

using Params = std::map<std::string, std::string>;

class ValidatorTest : public ::testing::Test {
 protected:
  ValidatorTest() {
    node_types_ = *ParseNodeTypes(
        "default: cache.t3.micro\nnode_types:\n  cache.t3.micro: {memory_gib: 0.5}\n"
        "  cache.r6g.large: {memory_gib: 13.07}\n");
    groups_ = *ParseParameterGroups(
        "parameter_groups:\n  - {name: default.redis7, family: redis7}\n"
        "  - {name: default.redis7.cluster.on, family: redis7, cluster_enabled: true}\n");
    ctx_.node_types = &node_types_;
    ctx_.parameter_groups = &groups_;
    ctx_.engine_versions = {"7.0.15", "7.0.15", "7.0.11"};
  }

  // The minimal valid request plus `extra`.
  static Params Base(Params extra = {}) {
    Params p = {{"ReplicationGroupId", "My-Group"}, {"ReplicationGroupDescription", "desc"}};
    for (auto& [k, v] : extra) p[k] = v;
    return p;
  }

  Validated<CreateGroupRequest> Create(const Params& p) {
    return ValidateCreateReplicationGroup(api::QueryParams(p), ctx_);
  }

  CreateGroupRequest Ok(const Params& p) {
    auto r = Create(p);
    if (auto* e = std::get_if<api::ApiError>(&r)) {
      ADD_FAILURE() << e->code << ": " << e->message;
      return {};
    }
    return std::get<CreateGroupRequest>(r);
  }

  // Expects a fault with `code` (and `status`), whose message contains `needle`.
  void Fault(const Params& p, const std::string& code, const std::string& needle = "",
             int status = 400) {
    auto r = Create(p);
    auto* e = std::get_if<api::ApiError>(&r);
    ASSERT_NE(e, nullptr) << "expected " << code;
    EXPECT_EQ(e->code, code) << e->message;
    EXPECT_EQ(e->http_status, status) << e->message;
    if (!needle.empty()) {
      EXPECT_NE(e->message.find(needle), std::string::npos) << e->message;
    }
  }

  NodeTypeCatalogue node_types_;
  ParameterGroupCatalogue groups_;
  ValidationContext ctx_;
};

// ---- required parameters, ids, unknown parameters ----

TEST_F(ValidatorTest, MinimalRequestDefaults) {
  auto r = Ok(Base());
  EXPECT_EQ(r.group.id, "my-group");
  EXPECT_EQ(r.group.description, "desc");
  EXPECT_FALSE(r.group.cluster_enabled);
  EXPECT_FALSE(r.group.automatic_failover);
  EXPECT_FALSE(r.group.multi_az);
  EXPECT_EQ(r.group.engine, "redis");
  EXPECT_EQ(r.group.engine_version, "7.0.15");
  EXPECT_EQ(r.group.cache_node_type, "cache.t3.micro");
  EXPECT_EQ(r.group.maxmemory_bytes, 512ull << 20);
  EXPECT_EQ(r.group.parameter_group, "default.redis7");
  EXPECT_EQ(r.group.snapshot_window, "05:00-06:00");
  EXPECT_EQ(r.group.snapshot_retention_limit, 0);
  EXPECT_EQ(r.group.port, 6379);
  EXPECT_TRUE(r.group.auto_minor_version_upgrade);
  EXPECT_EQ(r.group.network_type, "ipv4");
  ASSERT_EQ(r.shards.size(), 1u);
  EXPECT_EQ(r.shards[0].node_group_id, "0001");
  EXPECT_EQ(r.shards[0].replica_count, 0);
  EXPECT_TRUE(r.shards[0].slots.empty());
}

TEST_F(ValidatorTest, RequiredParameters) {
  Fault({{"ReplicationGroupDescription", "d"}}, "MissingParameter",
        "The request must contain the parameter ReplicationGroupId");
  Fault({{"ReplicationGroupId", "g"}}, "MissingParameter",
        "The request must contain the parameter ReplicationGroupDescription");
}

TEST_F(ValidatorTest, IdRules) {
  for (const char* bad : {"1abc", "ab--c", "abc-", "a_b", ""})
    Fault(Base({{"ReplicationGroupId", bad}}), "InvalidParameterValue", "ReplicationGroupId");
  Fault(Base({{"ReplicationGroupId", std::string(41, 'a')}}), "InvalidParameterValue");
  EXPECT_EQ(Ok(Base({{"ReplicationGroupId", std::string(40, 'A')}})).group.id,
            std::string(40, 'a'));
}

TEST_F(ValidatorTest, UnknownParametersAreNamed) {
  Fault(Base({{"Bogus", "1"}}), "InvalidParameterValue", "Bogus");
  Fault(Base({{"Port.x", "1"}}), "InvalidParameterValue", "Port.x");
  Fault(Base({{"Tags.Tag.1.Key", "k"}, {"Tags.Tag.1.Colour", "red"}}), "InvalidParameterValue",
        "Colour");
  Fault(Base({{"NodeGroupConfiguration.NodeGroupConfiguration.1.Bogus", "x"}}),
        "InvalidParameterValue", "Bogus");
  // A list with the wrong item name is rejected by the list reader.
  Fault(Base({{"PreferredCacheClusterAZs.member.1", "a"}}), "InvalidParameterValue");
}

// ---- refused (not supported yet) ----

TEST_F(ValidatorTest, RefusedParameters) {
  const std::vector<Params> refused = {
      {{"SnapshotArns.SnapshotArn.1", "arn:aws:s3:::b/k"}},
      {{"SnapshotName", "s"}},
      {{"AuthToken", "0123456789abcdef0123"}},
      {{"TransitEncryptionEnabled", "true"}},
      {{"TransitEncryptionMode", "preferred"}},
      {{"AtRestEncryptionEnabled", "true"}},
      {{"KmsKeyId", "k"}},
      {{"UserGroupIds.member.1", "ug"}},
      {{"LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.LogType", "slow-log"}},
      {{"GlobalReplicationGroupId", "g"}},
      {{"ServerlessCacheSnapshotName", "s"}},
      {{"PrimaryClusterId", "c"}},
      {{"NodeGroupConfiguration.NodeGroupConfiguration.1.PrimaryOutpostArn", "arn"}},
      {{"NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaOutpostArns.OutpostArn.1", "a"}},
      {{"SnapshotRetentionLimit", "1"}},
      {{"CacheSecurityGroupNames.CacheSecurityGroupName.1", "default"}},
      {{"DataTieringEnabled", "true"}},
      {{"Engine", "valkey"}},
      {{"ClusterMode", "compatible"}},
      {{"NetworkType", "ipv6"}},
      {{"NetworkType", "dual_stack"}},
      {{"IpDiscovery", "ipv6"}},
  };
  for (const auto& extra : refused) {
    SCOPED_TRACE(extra.begin()->first + "=" + extra.begin()->second);
    Fault(Base(extra), "InvalidParameterValue");
  }
}

TEST_F(ValidatorTest, HarmlessValuesOfRefusedParametersAreAccepted) {
  auto r = Ok(Base({{"TransitEncryptionEnabled", "false"},
                    {"AtRestEncryptionEnabled", "false"},
                    {"DataTieringEnabled", "false"},
                    {"SnapshotRetentionLimit", "0"},
                    {"UserGroupIds", ""},
                    {"SnapshotArns", ""},
                    {"CacheSecurityGroupNames", ""},
                    {"LogDeliveryConfigurations", ""},
                    {"PreferredCacheClusterAZs", ""},
                    {"Tags", ""}}));
  EXPECT_FALSE(r.group.transit_encryption);
  EXPECT_TRUE(r.tags.empty());
  Fault(Base({{"SnapshotRetentionLimit", "-1"}}), "InvalidParameterValue");
}

// ---- descriptive parameters ----

TEST_F(ValidatorTest, Tags) {
  auto r = Ok(
      Base({{"Tags.Tag.1.Key", "env"}, {"Tags.Tag.1.Value", "prod"}, {"Tags.Tag.2.Key", "team"}}));
  ASSERT_EQ(r.tags.size(), 2u);
  EXPECT_EQ(r.tags[0].key, "env");
  EXPECT_EQ(r.tags[0].value, "prod");
  EXPECT_EQ(r.tags[1].value, "");
  Params many = Base();
  for (int i = 1; i <= 51; ++i)
    many["Tags.Tag." + std::to_string(i) + ".Key"] = "k" + std::to_string(i);
  Fault(many, "TagQuotaPerResourceExceeded");
  many.erase("Tags.Tag.51.Key");
  EXPECT_EQ(Ok(many).tags.size(), 50u);
  Fault(Base({{"Tags.Tag.1.Key", std::string(129, 'k')}}), "InvalidParameterValue");
  EXPECT_EQ(Ok(Base({{"Tags.Tag.1.Key", std::string(128, 'k')}})).tags.size(), 1u);
  Fault(Base({{"Tags.Tag.1.Key", "k"}, {"Tags.Tag.1.Value", std::string(257, 'v')}}),
        "InvalidParameterValue");
  Fault(Base({{"Tags.Tag.1.Key", "aws:owner"}}), "InvalidParameterValue", "aws:");
  Fault(Base({{"Tags.Tag.1.Key", "AWS:owner"}}), "InvalidParameterValue", "aws:");
  Fault(Base({{"Tags.Tag.1.Value", "v"}}), "InvalidParameterValue");
  Fault(Base({{"Tags.Tag.1.Key", "k"}, {"Tags.Tag.2.Key", "k"}}), "InvalidParameterValue",
        "Duplicate");
}

TEST_F(ValidatorTest, SubnetAndSecurityGroups) {
  EXPECT_EQ(Ok(Base({{"CacheSubnetGroupName", "default"}})).group.subnet_group, "default");
  Fault(Base({{"CacheSubnetGroupName", "my-subnets"}}), "CacheSubnetGroupNotFoundFault",
        "my-subnets", 400);
  auto r = Ok(Base({{"SecurityGroupIds.SecurityGroupId.1", "sg-1"},
                    {"SecurityGroupIds.SecurityGroupId.2", "sg-2"}}));
  EXPECT_EQ(r.group.security_group_ids, (std::vector<std::string>{"sg-1", "sg-2"}));
}

TEST_F(ValidatorTest, Windows) {
  EXPECT_EQ(Ok(Base({{"PreferredMaintenanceWindow", "Sun:05:00-Sun:06:00"}}))
                .group.preferred_maintenance_window,
            "sun:05:00-sun:06:00");
  EXPECT_TRUE(Ok(Base({{"PreferredMaintenanceWindow", "sat:23:30-sun:00:30"}})).group.id.size());
  for (const char* bad : {"sun:05:00-sun:05:59", "sun:05:00", "xyz:05:00-sun:06:00",
                          "sun:25:00-sun:26:00", "sun:05:00-sun:05:00", "sun 05:00-sun 06:00"})
    Fault(Base({{"PreferredMaintenanceWindow", bad}}), "InvalidParameterValue",
          "PreferredMaintenanceWindow");
  EXPECT_EQ(Ok(Base({{"SnapshotWindow", "07:00-08:00"}})).group.snapshot_window, "07:00-08:00");
  for (const char* bad : {"7:00-8:00", "07:00", "24:00-01:00", "07:60-08:00", "07:00_08:00"})
    Fault(Base({{"SnapshotWindow", bad}}), "InvalidParameterValue", "SnapshotWindow");
}

TEST_F(ValidatorTest, ScalarsStored) {
  auto r = Ok(Base({{"NotificationTopicArn", "arn:aws:sns:us-east-1:123456789012:t"},
                    {"AutoMinorVersionUpgrade", "false"},
                    {"NetworkType", "ipv4"},
                    {"IpDiscovery", "IPV4"},
                    {"Port", "7000"},
                    {"Engine", "REDIS"},
                    {"CacheNodeType", "cache.r6g.large"}}));
  EXPECT_EQ(r.group.notification_topic_arn, "arn:aws:sns:us-east-1:123456789012:t");
  EXPECT_FALSE(r.group.auto_minor_version_upgrade);
  EXPECT_EQ(r.group.port, 7000);
  EXPECT_EQ(r.group.cache_node_type, "cache.r6g.large");
  Fault(Base({{"NotificationTopicArn", "topic"}}), "InvalidParameterValue");
  Fault(Base({{"Port", "80"}}), "InvalidParameterValue", "Port");
  Fault(Base({{"Port", "65536"}}), "InvalidParameterValue", "Port");
  Fault(Base({{"Port", "abc"}}), "InvalidParameterValue", "Port");
  Fault(Base({{"AutoMinorVersionUpgrade", "yes"}}), "InvalidParameterValue");
  Fault(Base({{"Engine", "memcached"}}), "InvalidParameterValue", "Engine");
  Fault(Base({{"CacheNodeType", "cache.x9.huge"}}), "InvalidParameterValue", "CacheNodeType");
  Fault(Base({{"NetworkType", "ipx"}}), "InvalidParameterValue");
  Fault(Base({{"ClusterMode", "sometimes"}}), "InvalidParameterValue");
}

// ---- engine version and parameter groups ----

TEST_F(ValidatorTest, EngineVersions) {
  EXPECT_EQ(Ok(Base({{"EngineVersion", "7.0"}})).group.engine_version, "7.0.15");
  EXPECT_EQ(Ok(Base({{"EngineVersion", "7"}})).group.engine_version, "7.0.15");
  EXPECT_EQ(Ok(Base({{"EngineVersion", "7.0.11"}})).group.engine_version, "7.0.11");
  Fault(Base({{"EngineVersion", "6.2"}}), "InvalidParameterValue", "6.2");
  Fault(Base({{"EngineVersion", "7.0.1"}}), "InvalidParameterValue");
  Fault(Base({{"EngineVersion", "latest"}}), "InvalidParameterValue");
  ctx_.engine_versions.clear();
  Fault(Base(), "InsufficientCacheClusterCapacity");
}

TEST(EngineVersion, Resolution) {
  std::vector<std::string> v = {"7.0.9", "7.0.15", "7.2.4", "6.2.14"};
  EXPECT_EQ(ResolveEngineVersion("7", v), "7.2.4");
  EXPECT_EQ(ResolveEngineVersion("7.0", v), "7.0.15");
  EXPECT_EQ(ResolveEngineVersion("6", v), "6.2.14");
  EXPECT_FALSE(ResolveEngineVersion("7.1", v).has_value());
  EXPECT_FALSE(ResolveEngineVersion("7.0.15.1", v).has_value());
  EXPECT_FALSE(ResolveEngineVersion("7.", v).has_value());
  EXPECT_EQ(HighestVersion(v), "7.2.4");
}

TEST_F(ValidatorTest, ParameterGroups) {
  EXPECT_EQ(Ok(Base({{"CacheParameterGroupName", "default.redis7"}})).group.parameter_group,
            "default.redis7");
  Fault(Base({{"CacheParameterGroupName", "my-params"}}), "CacheParameterGroupNotFound",
        "my-params", 404);
  // A cluster-mode-on group makes the request CME.
  auto cme = Ok(Base({{"CacheParameterGroupName", "default.redis7.cluster.on"}}));
  EXPECT_TRUE(cme.group.cluster_enabled);
  EXPECT_EQ(cme.group.parameter_group, "default.redis7.cluster.on");
  // Wrong kind for the topology.
  Fault(Base({{"CacheParameterGroupName", "default.redis7"}, {"NumNodeGroups", "3"}}),
        "InvalidParameterCombination");
  Fault(Base({{"CacheParameterGroupName", "default.redis7.cluster.on"}, {"NumCacheClusters", "2"}}),
        "InvalidParameterCombination");
  Fault(
      Base({{"CacheParameterGroupName", "default.redis7.cluster.on"}, {"ClusterMode", "disabled"}}),
      "InvalidParameterCombination");
  EXPECT_EQ(Ok(Base({{"NumNodeGroups", "2"}})).group.parameter_group, "default.redis7.cluster.on");
}

// ---- topology: cluster mode disabled ----

TEST_F(ValidatorTest, CmdNumCacheClusters) {
  auto r = Ok(Base({{"NumCacheClusters", "3"}}));
  EXPECT_FALSE(r.group.cluster_enabled);
  ASSERT_EQ(r.shards.size(), 1u);
  EXPECT_EQ(r.shards[0].replica_count, 2);
  EXPECT_EQ(r.total_nodes(), 3);
  Fault(Base({{"NumCacheClusters", "0"}}), "InvalidParameterValue", "NumCacheClusters");
  Fault(Base({{"NumCacheClusters", "7"}}), "InvalidParameterValue", "NumCacheClusters");
  EXPECT_EQ(Ok(Base({{"NumCacheClusters", "6"}})).total_nodes(), 6);
}

TEST_F(ValidatorTest, CmdReplicasPerNodeGroup) {
  EXPECT_EQ(Ok(Base({{"ReplicasPerNodeGroup", "2"}})).total_nodes(), 3);
  EXPECT_EQ(Ok(Base({{"ReplicasPerNodeGroup", "2"}, {"NumNodeGroups", "1"}})).total_nodes(), 3);
  Fault(Base({{"ReplicasPerNodeGroup", "6"}}), "InvalidParameterValue", "ReplicasPerNodeGroup");
  Fault(Base({{"ReplicasPerNodeGroup", "-1"}}), "InvalidParameterValue");
  Fault(Base({{"NumCacheClusters", "3"}, {"ReplicasPerNodeGroup", "1"}}),
        "InvalidParameterCombination");
  EXPECT_EQ(Ok(Base({{"NumCacheClusters", "3"}, {"ReplicasPerNodeGroup", "2"}})).total_nodes(), 3);
}

TEST_F(ValidatorTest, CmdAutomaticFailoverAndMultiAz) {
  Fault(Base({{"AutomaticFailoverEnabled", "true"}}), "InvalidParameterCombination");
  Fault(Base({{"AutomaticFailoverEnabled", "true"}, {"NumCacheClusters", "1"}}),
        "InvalidParameterCombination");
  auto r = Ok(Base({{"AutomaticFailoverEnabled", "true"},
                    {"NumCacheClusters", "2"},
                    {"MultiAZEnabled", "true"}}));
  EXPECT_TRUE(r.group.automatic_failover);
  EXPECT_TRUE(r.group.multi_az);
  Fault(Base({{"MultiAZEnabled", "true"}, {"NumCacheClusters", "2"}}),
        "InvalidParameterCombination", "AutomaticFailoverEnabled");
  Fault(Base({{"MultiAZEnabled", "true"},
              {"AutomaticFailoverEnabled", "false"},
              {"NumCacheClusters", "3"}}),
        "InvalidParameterCombination");
}

TEST_F(ValidatorTest, CmdPreferredCacheClusterAzs) {
  auto r = Ok(Base({{"NumCacheClusters", "3"},
                    {"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-a"},
                    {"PreferredCacheClusterAZs.AvailabilityZone.2", "lab-b"},
                    {"PreferredCacheClusterAZs.AvailabilityZone.3", "lab-c"}}));
  EXPECT_EQ(r.shards[0].primary_az, "lab-a");
  EXPECT_EQ(r.shards[0].replica_azs, (std::vector<std::string>{"lab-b", "lab-c"}));
  Fault(Base({{"NumCacheClusters", "3"},
              {"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-a"},
              {"PreferredCacheClusterAZs.AvailabilityZone.2", "lab-b"}}),
        "InvalidParameterCombination", "PreferredCacheClusterAZs");
  // Without NumCacheClusters the AZ list sizes the group.
  EXPECT_EQ(Ok(Base({{"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-a"},
                     {"PreferredCacheClusterAZs.AvailabilityZone.2", "lab-b"}}))
                .total_nodes(),
            2);
  // With cluster mode enabled it is a combination error.
  Fault(Base({{"NumNodeGroups", "2"}, {"PreferredCacheClusterAZs.AvailabilityZone.1", "lab-a"}}),
        "InvalidParameterCombination");
}

TEST_F(ValidatorTest, CmdNodeGroupConfiguration) {
  auto r =
      Ok(Base({{"NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount", "1"},
               {"NodeGroupConfiguration.NodeGroupConfiguration.1.PrimaryAvailabilityZone", "lab-b"},
               {"NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaAvailabilityZones."
                "AvailabilityZone.1",
                "lab-c"}}));
  EXPECT_FALSE(r.group.cluster_enabled);
  EXPECT_EQ(r.total_nodes(), 2);
  EXPECT_EQ(r.shards[0].primary_az, "lab-b");
  Fault(Base({{"NodeGroupConfiguration.NodeGroupConfiguration.1.Slots", "0-16383"}}),
        "InvalidParameterCombination", "Slots");
  Fault(Base({{"NodeGroupConfiguration.NodeGroupConfiguration.1.NodeGroupId", "0002"}}),
        "InvalidParameterValue", "0001");
}

// ---- topology: cluster mode enabled ----

TEST_F(ValidatorTest, CmeNumNodeGroups) {
  auto r = Ok(Base({{"NumNodeGroups", "3"}, {"ReplicasPerNodeGroup", "1"}}));
  EXPECT_TRUE(r.group.cluster_enabled);
  EXPECT_TRUE(r.group.automatic_failover);  // defaults to enabled for cluster mode
  ASSERT_EQ(r.shards.size(), 3u);
  EXPECT_EQ(r.shards[0].node_group_id, "0001");
  EXPECT_EQ(r.shards[2].node_group_id, "0003");
  EXPECT_EQ(FormatSlotRanges(r.shards[0].slots), "0-5460");
  EXPECT_EQ(FormatSlotRanges(r.shards[1].slots), "5461-10921");
  EXPECT_EQ(FormatSlotRanges(r.shards[2].slots), "10922-16383");
  EXPECT_EQ(r.total_nodes(), 6);
  Fault(Base({{"NumNodeGroups", "0"}}), "InvalidParameterValue", "NumNodeGroups");
  Fault(Base({{"NumNodeGroups", "91"}}), "NodeGroupsPerReplicationGroupQuotaExceeded");
  EXPECT_EQ(Ok(Base({{"NumNodeGroups", "90"}})).shards.size(), 90u);
  ctx_.limits.max_node_groups = 15;
  Fault(Base({{"NumNodeGroups", "16"}}), "NodeGroupsPerReplicationGroupQuotaExceeded");
}

TEST_F(ValidatorTest, CmeSignals) {
  EXPECT_TRUE(Ok(Base({{"ClusterMode", "enabled"}})).group.cluster_enabled);
  EXPECT_EQ(Ok(Base({{"ClusterMode", "enabled"}})).shards.size(), 1u);
  EXPECT_FALSE(Ok(Base({{"ClusterMode", "disabled"}})).group.cluster_enabled);
  Fault(Base({{"ClusterMode", "disabled"}, {"NumNodeGroups", "2"}}), "InvalidParameterCombination");
  Fault(Base({{"NumCacheClusters", "2"}, {"NumNodeGroups", "2"}}), "InvalidParameterCombination");
  auto ngc = Ok(Base({{"NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount", "0"},
                      {"NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount", "1"}}));
  EXPECT_TRUE(ngc.group.cluster_enabled);
  EXPECT_EQ(ngc.total_nodes(), 3);
}

TEST_F(ValidatorTest, CmeRequiresAutomaticFailover) {
  // AWS: InvalidParameterValue "Redis with cluster mode enabled cannot be created with auto
  // failover turned off." (for one shard too).
  Fault(Base({{"NumNodeGroups", "2"}, {"AutomaticFailoverEnabled", "false"}}),
        "InvalidParameterValue", "auto failover turned off");
  Fault(Base({{"ClusterMode", "enabled"}, {"AutomaticFailoverEnabled", "false"}}),
        "InvalidParameterValue", "auto failover turned off");
  EXPECT_TRUE(Ok(Base({{"ClusterMode", "enabled"}})).group.automatic_failover);
  Fault(Base({{"NumNodeGroups", "2"}, {"MultiAZEnabled", "true"}}), "InvalidParameterCombination",
        "replica");
  EXPECT_TRUE(
      Ok(Base({{"NumNodeGroups", "2"}, {"ReplicasPerNodeGroup", "1"}, {"MultiAZEnabled", "true"}}))
          .group.multi_az);
}

Params CapturedCme() {
  // The boto3 body of elasticache-api.md §1.
  return {{"ReplicationGroupId", "rg-cme"},
          {"ReplicationGroupDescription", "cluster mode on"},
          {"AutomaticFailoverEnabled", "true"},
          {"MultiAZEnabled", "true"},
          {"NumNodeGroups", "2"},
          {"ReplicasPerNodeGroup", "1"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.1.NodeGroupId", "0001"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.1.Slots", "0-8191"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount", "1"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.1.PrimaryAvailabilityZone", "us-east-1a"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaAvailabilityZones."
           "AvailabilityZone.1",
           "us-east-1b"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId", "0002"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.2.Slots", "8192-16383"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount", "2"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.2.PrimaryAvailabilityZone", "us-east-1b"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones."
           "AvailabilityZone.1",
           "us-east-1a"},
          {"NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones."
           "AvailabilityZone.2",
           "us-east-1c"},
          {"CacheNodeType", "cache.r6g.large"},
          {"Engine", "redis"},
          {"EngineVersion", "7.0"},
          {"CacheParameterGroupName", "default.redis7.cluster.on"},
          {"SecurityGroupIds.SecurityGroupId.1", "sg-1"},
          {"SecurityGroupIds.SecurityGroupId.2", "sg-2"},
          {"Port", "6379"},
          {"Tags.Tag.1.Key", "env"},
          {"Tags.Tag.1.Value", "prod"},
          {"Tags.Tag.2.Key", "team"},
          {"Tags.Tag.2.Value", "cache"}};
}

TEST_F(ValidatorTest, CapturedBoto3CmeRequest) {
  auto r = Ok(CapturedCme());
  EXPECT_TRUE(r.group.cluster_enabled);
  ASSERT_EQ(r.shards.size(), 2u);
  EXPECT_EQ(FormatSlotRanges(r.shards[0].slots), "0-8191");
  EXPECT_EQ(r.shards[0].replica_count, 1);
  EXPECT_EQ(r.shards[1].replica_count, 2);  // ReplicaCount overrides ReplicasPerNodeGroup
  EXPECT_EQ(r.shards[1].primary_az, "us-east-1b");
  EXPECT_EQ(r.shards[1].replica_azs, (std::vector<std::string>{"us-east-1a", "us-east-1c"}));
  EXPECT_EQ(r.total_nodes(), 5);
  EXPECT_EQ(r.tags.size(), 2u);
}

TEST_F(ValidatorTest, CmeSlots) {
  Params p = CapturedCme();
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.Slots"] = "8000-16383";
  Fault(p, "InvalidParameterValue", "more than one node group");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.Slots"] = "8193-16383";
  Fault(p, "InvalidParameterValue", "8192");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.Slots"] = "8192-16384";
  Fault(p, "InvalidParameterValue", "Slots");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.Slots"] = "9000-8192";
  Fault(p, "InvalidParameterValue");
  p.erase("NodeGroupConfiguration.NodeGroupConfiguration.2.Slots");
  Fault(p, "InvalidParameterCombination", "Slots");
  // Several ranges per shard.
  p["NodeGroupConfiguration.NodeGroupConfiguration.1.Slots"] = "0-100,8192-16383";
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.Slots"] = "101-8191";
  auto r = Ok(p);
  EXPECT_EQ(FormatSlotRanges(r.shards[0].slots), "0-100,8192-16383");
}

TEST_F(ValidatorTest, CmeNodeGroupIdsAndCounts) {
  Params p = CapturedCme();
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId"] = "0001";
  Fault(p, "InvalidParameterValue", "0001");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId"] = "1";  // pads to 0001
  Fault(p, "InvalidParameterValue", "0001");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId"] = "00002";
  Fault(p, "InvalidParameterValue", "1 to 4 digits");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId"] = "7";
  auto r = Ok(p);
  EXPECT_EQ(r.shards[1].node_group_id, "0007");
  p["NumNodeGroups"] = "3";
  Fault(p, "InvalidParameterCombination", "NumNodeGroups");
  p["NumNodeGroups"] = "2";
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount"] = "6";
  Fault(p, "InvalidParameterValue", "ReplicaCount");
  p["NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount"] = "1";
  Fault(p, "InvalidParameterCombination", "ReplicaAvailabilityZones");
  // Ids not given are assigned the lowest unused ones.
  auto auto_ids = Ok(Base({{"NumNodeGroups", "3"},
                           {"NodeGroupConfiguration.NodeGroupConfiguration.1.NodeGroupId", "0002"},
                           {"NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount", "0"},
                           {"NodeGroupConfiguration.NodeGroupConfiguration.3.ReplicaCount", "0"}}));
  EXPECT_EQ(auto_ids.shards[0].node_group_id, "0002");
  EXPECT_EQ(auto_ids.shards[1].node_group_id, "0001");
  EXPECT_EQ(auto_ids.shards[2].node_group_id, "0003");
}

TEST_F(ValidatorTest, NodeQuota) {
  Fault(Base({{"NumNodeGroups", "90"}, {"ReplicasPerNodeGroup", "5"}}),
        "NodeQuotaForClusterExceeded");
  ctx_.limits.max_nodes_per_group = 10;
  Fault(Base({{"NumNodeGroups", "4"}, {"ReplicasPerNodeGroup", "2"}}),
        "NodeQuotaForClusterExceeded");
  EXPECT_EQ(Ok(Base({{"NumNodeGroups", "5"}, {"ReplicasPerNodeGroup", "1"}})).total_nodes(), 10);
}

// ---- Describe / Delete ----

TEST(DescribeValidation, Rules) {
  using api::QueryParams;
  auto ok = ValidateDescribeReplicationGroups(QueryParams(Params{}));
  ASSERT_TRUE(std::holds_alternative<DescribeGroupsRequest>(ok));
  EXPECT_EQ(std::get<DescribeGroupsRequest>(ok).max_records, 100);
  auto one =
      ValidateDescribeReplicationGroups(QueryParams(Params{{"ReplicationGroupId", "RG-Cmd"}}));
  EXPECT_EQ(*std::get<DescribeGroupsRequest>(one).group_id, "rg-cmd");
  for (const char* bad : {"19", "101", "0", "x"}) {
    auto r = ValidateDescribeReplicationGroups(QueryParams(Params{{"MaxRecords", bad}}));
    ASSERT_TRUE(std::holds_alternative<api::ApiError>(r)) << bad;
    EXPECT_EQ(std::get<api::ApiError>(r).code, "InvalidParameterValue");
  }
  EXPECT_TRUE(std::holds_alternative<DescribeGroupsRequest>(
      ValidateDescribeReplicationGroups(QueryParams(Params{{"MaxRecords", "20"}}))));
  auto bad_marker = ValidateDescribeReplicationGroups(QueryParams(Params{{"Marker", "abc123"}}));
  ASSERT_TRUE(std::holds_alternative<api::ApiError>(bad_marker));
  EXPECT_EQ(std::get<api::ApiError>(bad_marker).code, "InvalidParameterValue");
  auto bad_id = ValidateDescribeReplicationGroups(
      QueryParams(Params{{"ReplicationGroupId", "fake_cluster"}}));
  ASSERT_TRUE(std::holds_alternative<api::ApiError>(bad_id));
  EXPECT_EQ(std::get<api::ApiError>(bad_id).code, "InvalidParameterValue");
  auto unknown =
      ValidateDescribeReplicationGroups(QueryParams(Params{{"ShowCacheNodeInfo", "true"}}));
  ASSERT_TRUE(std::holds_alternative<api::ApiError>(unknown));
  EXPECT_NE(std::get<api::ApiError>(unknown).message.find("ShowCacheNodeInfo"), std::string::npos);
}

TEST(DeleteValidation, Rules) {
  using api::QueryParams;
  auto missing = ValidateDeleteReplicationGroup(QueryParams(Params{}));
  EXPECT_EQ(std::get<api::ApiError>(missing).code, "MissingParameter");
  auto bad = ValidateDeleteReplicationGroup(QueryParams(Params{{"ReplicationGroupId", "a--b"}}));
  EXPECT_EQ(std::get<api::ApiError>(bad).code, "InvalidParameterValue");
  auto retain = ValidateDeleteReplicationGroup(
      QueryParams(Params{{"ReplicationGroupId", "a"}, {"RetainPrimaryCluster", "true"}}));
  EXPECT_TRUE(std::get<DeleteGroupRequest>(retain).retain_primary);
  auto snap = ValidateDeleteReplicationGroup(
      QueryParams(Params{{"ReplicationGroupId", "a"}, {"FinalSnapshotIdentifier", "s"}}));
  EXPECT_EQ(std::get<api::ApiError>(snap).code, "InvalidParameterValue");
  auto ok = ValidateDeleteReplicationGroup(
      QueryParams(Params{{"ReplicationGroupId", "MyRG"}, {"RetainPrimaryCluster", "false"}}));
  EXPECT_EQ(std::get<DeleteGroupRequest>(ok).group_id, "myrg");
}

}  // namespace
}  // namespace cf::orchestrator
