// QueryParams: typed getters and every list encoding of elasticache-api.md §1.
#include <gtest/gtest.h>

#include "orchestrator/api/api_types.h"
#include "orchestrator/api/form_decoder.h"

namespace cf::api {
namespace {

QueryParams FromBody(std::string_view body) {
  auto r = DecodeForm(body);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << e->message;
    return {};
  }
  return QueryParams(std::get<0>(r));
}

std::vector<std::string> List(const QueryParams& p, const std::string& param,
                              const std::string& item) {
  auto r = p.GetListChecked(param, item);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << param << ": " << e->message;
    return {};
  }
  auto& list = std::get<0>(r);
  EXPECT_TRUE(list.has_value()) << param << " absent";
  return list.value_or(std::vector<std::string>{});
}

std::vector<QueryParams> Structs(const QueryParams& p, const std::string& param,
                                 const std::string& item) {
  auto r = p.GetStructListChecked(param, item);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << param << ": " << e->message;
    return {};
  }
  auto& list = std::get<0>(r);
  EXPECT_TRUE(list.has_value()) << param << " absent";
  return list.value_or(std::vector<QueryParams>{});
}

using V = std::vector<std::string>;

QueryParams Q(std::map<std::string, std::string> m) { return QueryParams(std::move(m)); }

TEST(QueryParams, GetBool) {
  QueryParams p({{"a", "true"}, {"b", "FALSE"}, {"c", "True"}, {"d", "1"}, {"e", ""}});
  EXPECT_EQ(std::get<0>(p.GetBool("a")), true);
  EXPECT_EQ(std::get<0>(p.GetBool("b")), false);
  EXPECT_EQ(std::get<0>(p.GetBool("c")), true);
  EXPECT_EQ(std::get<ApiError>(p.GetBool("d")).code, "InvalidParameterValue");
  EXPECT_EQ(std::get<ApiError>(p.GetBool("e")).code, "InvalidParameterValue");
  EXPECT_FALSE(std::get<0>(p.GetBool("absent")).has_value());
}

TEST(QueryParams, GetInt) {
  QueryParams p({{"a", "20"},
                 {"b", "-5"},
                 {"c", "0001"},
                 {"max", "9223372036854775807"},
                 {"over", "9223372036854775808"},
                 {"x", "1.5"},
                 {"y", "+1"},
                 {"z", ""},
                 {"m", "-"},
                 {"s", " 1"}});
  EXPECT_EQ(std::get<0>(p.GetInt("a")), 20);
  EXPECT_EQ(std::get<0>(p.GetInt("b")), -5);
  EXPECT_EQ(std::get<0>(p.GetInt("c")), 1);
  EXPECT_EQ(std::get<0>(p.GetInt("max")), INT64_MAX);
  for (const char* bad : {"over", "x", "y", "z", "m", "s"}) {
    ASSERT_TRUE(std::holds_alternative<ApiError>(p.GetInt(bad))) << bad;
    EXPECT_NE(std::get<ApiError>(p.GetInt(bad)).message.find(bad), std::string::npos);
  }
  EXPECT_FALSE(std::get<0>(p.GetInt("absent")).has_value());
  EXPECT_EQ(p.Get("a").value(), "20");
  EXPECT_FALSE(p.Get("absent").has_value());
  EXPECT_TRUE(p.Has("z"));
}

TEST(QueryParams, ScalarListForms) {
  const QueryParams p = FromBody(
      "PreferredCacheClusterAZs.AvailabilityZone.1=us-east-1a"
      "&PreferredCacheClusterAZs.AvailabilityZone.2=us-east-1b"
      "&PreferredCacheClusterAZs.AvailabilityZone.3=us-east-1c"
      "&TagKeys.member.1=a&TagKeys.member.2=b"
      "&SecurityGroupIds.SecurityGroupId.1=sg-1&SecurityGroupIds.SecurityGroupId.2=sg-2"
      "&CacheSecurityGroupNames.CacheSecurityGroupName.1=default"
      "&SnapshotArns.SnapshotArn.1=arn%3Aaws%3As3%3A%3A%3Ab%2Fk.rdb"
      "&UserGroupIds.member.1=ug1&UserGroupIdsToAdd.member.1=ug2&UserGroupIdsToRemove.member.1=ug3"
      "&ReplicasToRemove.member.1=rg-002&ReplicasToRemove.member.2=rg-003"
      "&NodeGroupsToRemove.NodeGroupToRemove.1=0003&NodeGroupsToRemove.NodeGroupToRemove.2=0004"
      "&NodeGroupsToRetain.NodeGroupToRetain.1=0001");
  EXPECT_EQ(List(p, "PreferredCacheClusterAZs", "AvailabilityZone"),
            (V{"us-east-1a", "us-east-1b", "us-east-1c"}));
  EXPECT_EQ(List(p, "TagKeys", "member"), (V{"a", "b"}));
  EXPECT_EQ(List(p, "SecurityGroupIds", "SecurityGroupId"), (V{"sg-1", "sg-2"}));
  EXPECT_EQ(List(p, "CacheSecurityGroupNames", "CacheSecurityGroupName"), (V{"default"}));
  EXPECT_EQ(List(p, "SnapshotArns", "SnapshotArn"), (V{"arn:aws:s3:::b/k.rdb"}));
  EXPECT_EQ(List(p, "UserGroupIds", "member"), (V{"ug1"}));
  EXPECT_EQ(List(p, "UserGroupIdsToAdd", "member"), (V{"ug2"}));
  EXPECT_EQ(List(p, "UserGroupIdsToRemove", "member"), (V{"ug3"}));
  EXPECT_EQ(List(p, "ReplicasToRemove", "member"), (V{"rg-002", "rg-003"}));
  EXPECT_EQ(List(p, "NodeGroupsToRemove", "NodeGroupToRemove"), (V{"0003", "0004"}));
  EXPECT_EQ(List(p, "NodeGroupsToRetain", "NodeGroupToRetain"), (V{"0001"}));
  // The unchecked form agrees.
  EXPECT_EQ(p.GetList("TagKeys", "member").value(), (V{"a", "b"}));
}

TEST(QueryParams, ListsAreInNumericOrder) {
  std::map<std::string, std::string> m;
  for (int i = 1; i <= 12; ++i) m["L.member." + std::to_string(i)] = "v" + std::to_string(i);
  const auto got = List(QueryParams(m), "L", "member");
  ASSERT_EQ(got.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(got[i], "v" + std::to_string(i + 1));
}

TEST(QueryParams, EmptyAndAbsentLists) {
  const QueryParams p = FromBody("PreferredCacheClusterAZs=&Tags=&UserGroupIds&X=1");
  EXPECT_EQ(List(p, "PreferredCacheClusterAZs", "AvailabilityZone"), V{});
  EXPECT_TRUE(Structs(p, "Tags", "Tag").empty());
  EXPECT_EQ(List(p, "UserGroupIds", "member"), V{});
  EXPECT_FALSE(p.GetList("SecurityGroupIds", "SecurityGroupId").has_value());
  EXPECT_FALSE(std::get<0>(p.GetListChecked("SecurityGroupIds", "SecurityGroupId")).has_value());
  EXPECT_FALSE(p.GetStructList("NodeGroupConfiguration", "NodeGroupConfiguration").has_value());
  // A key that merely starts with the same letters is not part of the list.
  const QueryParams q({{"TagsExtra", "1"}, {"Tags2.Tag.1", "x"}});
  EXPECT_FALSE(q.GetStructList("Tags", "Tag").has_value());
}

TEST(QueryParams, TagsStructList) {
  const QueryParams p = FromBody(
      "Tags.Tag.1.Key=env&Tags.Tag.1.Value=prod&Tags.Tag.2.Key=team&Tags.Tag.2.Value="
      "&Tags.Tag.3.Key=only-key");
  const auto tags = Structs(p, "Tags", "Tag");
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags[0].Get("Key").value(), "env");
  EXPECT_EQ(tags[0].Get("Value").value(), "prod");
  EXPECT_EQ(tags[1].Get("Value").value(), "");
  EXPECT_FALSE(tags[2].Get("Value").has_value());
  EXPECT_EQ(tags[0].all().size(), 2u);
}

TEST(QueryParams, NodeGroupConfigurationWithNestedLists) {
  const std::string p = "NodeGroupConfiguration.NodeGroupConfiguration.";
  const QueryParams q =
      FromBody(p + "1.NodeGroupId=0001&" + p + "1.Slots=0-8191&" + p + "1.ReplicaCount=1&" + p +
               "1.PrimaryAvailabilityZone=us-east-1a&" + p +
               "1.ReplicaAvailabilityZones.AvailabilityZone.1=us-east-1b&" + p +
               "1.PrimaryOutpostArn=arn%3Ao1&" + p + "1.ReplicaOutpostArns.OutpostArn.1=arn%3Ao2&" +
               p + "2.NodeGroupId=0002&" + p + "2.Slots=8192-16383&" + p + "2.ReplicaCount=2&" + p +
               "2.ReplicaAvailabilityZones.AvailabilityZone.1=us-east-1a&" + p +
               "2.ReplicaAvailabilityZones.AvailabilityZone.2=us-east-1c&" + p +
               "3.NodeGroupId=0003&" + p + "3.ReplicaAvailabilityZones=");
  const auto ngs = Structs(q, "NodeGroupConfiguration", "NodeGroupConfiguration");
  ASSERT_EQ(ngs.size(), 3u);
  EXPECT_EQ(ngs[0].Get("NodeGroupId").value(), "0001");
  EXPECT_EQ(ngs[0].Get("Slots").value(), "0-8191");
  EXPECT_EQ(std::get<0>(ngs[0].GetInt("ReplicaCount")), 1);
  EXPECT_EQ(ngs[0].Get("PrimaryOutpostArn").value(), "arn:o1");
  EXPECT_EQ(List(ngs[0], "ReplicaAvailabilityZones", "AvailabilityZone"), (V{"us-east-1b"}));
  EXPECT_EQ(List(ngs[0], "ReplicaOutpostArns", "OutpostArn"), (V{"arn:o2"}));
  EXPECT_EQ(List(ngs[1], "ReplicaAvailabilityZones", "AvailabilityZone"),
            (V{"us-east-1a", "us-east-1c"}));
  EXPECT_FALSE(ngs[1].GetList("ReplicaOutpostArns", "OutpostArn").has_value());
  EXPECT_EQ(List(ngs[2], "ReplicaAvailabilityZones", "AvailabilityZone"), V{});
}

TEST(QueryParams, LogDeliveryConfigurationsNestedStruct) {
  const std::string p = "LogDeliveryConfigurations.LogDeliveryConfigurationRequest.";
  const QueryParams q = FromBody(
      p + "1.LogType=slow-log&" + p + "1.DestinationType=cloudwatch-logs&" + p +
      "1.LogFormat=json&" + p + "1.Enabled=true&" + p +
      "1.DestinationDetails.CloudWatchLogsDetails.LogGroup=lg&" + p + "2.LogType=engine-log&" + p +
      "2.DestinationDetails.KinesisFirehoseDetails.DeliveryStream=ds");
  const auto l = Structs(q, "LogDeliveryConfigurations", "LogDeliveryConfigurationRequest");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].Get("DestinationDetails.CloudWatchLogsDetails.LogGroup").value(), "lg");
  EXPECT_EQ(std::get<0>(l[0].GetBool("Enabled")), true);
  EXPECT_EQ(l[1].Get("DestinationDetails.KinesisFirehoseDetails.DeliveryStream").value(), "ds");
}

TEST(QueryParams, ReshardingAndReplicaConfiguration) {
  const QueryParams q = FromBody(
      "ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId=0003"
      "&ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones."
      "AvailabilityZone.1=us-east-1a"
      "&ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones."
      "AvailabilityZone.2=us-east-1b"
      "&ReshardingConfiguration.ReshardingConfiguration.2.NodeGroupId=0004"
      "&ReplicaConfiguration.ConfigureShard.1.NodeGroupId=0001"
      "&ReplicaConfiguration.ConfigureShard.1.NewReplicaCount=2"
      "&ReplicaConfiguration.ConfigureShard.1.PreferredAvailabilityZones."
      "PreferredAvailabilityZone.1=us-east-1a"
      "&ReplicaConfiguration.ConfigureShard.1.PreferredOutpostArns.PreferredOutpostArn.1=o"
      "&ParameterNameValues.ParameterNameValue.1.ParameterName=maxmemory-policy"
      "&ParameterNameValues.ParameterNameValue.1.ParameterValue=allkeys-lru");
  const auto rs = Structs(q, "ReshardingConfiguration", "ReshardingConfiguration");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(List(rs[0], "PreferredAvailabilityZones", "AvailabilityZone"),
            (V{"us-east-1a", "us-east-1b"}));
  EXPECT_FALSE(rs[1].GetList("PreferredAvailabilityZones", "AvailabilityZone").has_value());
  const auto cs = Structs(q, "ReplicaConfiguration", "ConfigureShard");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(List(cs[0], "PreferredAvailabilityZones", "PreferredAvailabilityZone"),
            (V{"us-east-1a"}));
  EXPECT_EQ(List(cs[0], "PreferredOutpostArns", "PreferredOutpostArn"), (V{"o"}));
  const auto pv = Structs(q, "ParameterNameValues", "ParameterNameValue");
  ASSERT_EQ(pv.size(), 1u);
  EXPECT_EQ(pv[0].Get("ParameterValue").value(), "allkeys-lru");
}

std::string ListErr(const QueryParams& p, const std::string& param, const std::string& item) {
  auto r = p.GetListChecked(param, item);
  EXPECT_FALSE(p.GetList(param, item).has_value());  // unchecked reads a bad list as absent
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).code : "ok";
}

std::string StructErr(const QueryParams& p, const std::string& param, const std::string& item) {
  auto r = p.GetStructListChecked(param, item);
  EXPECT_FALSE(p.GetStructList(param, item).has_value());
  return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).code : "ok";
}

TEST(QueryParams, MalformedListsAreInvalidParameterValue) {
  const std::string kIpv = "InvalidParameterValue";
  EXPECT_EQ(ListErr(Q({{"L.I.1", "a"}, {"L.I.3", "b"}}), "L", "I"), kIpv);  // gap
  EXPECT_EQ(ListErr(Q({{"L.I.0", "a"}}), "L", "I"), kIpv);
  EXPECT_EQ(ListErr(Q({{"L.I.01", "a"}}), "L", "I"), kIpv);
  EXPECT_EQ(ListErr(Q({{"L.I.x", "a"}}), "L", "I"), kIpv);
  EXPECT_EQ(ListErr(Q({{"L.I.", "a"}}), "L", "I"), kIpv);
  EXPECT_EQ(ListErr(Q({{"L.member.1", "a"}}), "L", "I"), kIpv);        // wrong item name
  EXPECT_EQ(ListErr(Q({{"L", "a"}}), "L", "I"), kIpv);                 // scalar, not a list
  EXPECT_EQ(ListErr(Q({{"L", ""}, {"L.I.1", "a"}}), "L", "I"), kIpv);  // both forms
  EXPECT_EQ(ListErr(Q({{"L.I.1.F", "a"}}), "L", "I"), kIpv);           // struct where scalar
  EXPECT_EQ(StructErr(Q({{"S.I.1", "a"}}), "S", "I"), kIpv);           // scalar where struct
  EXPECT_EQ(StructErr(Q({{"S.I.1.", "a"}}), "S", "I"), kIpv);
  EXPECT_EQ(StructErr(Q({{"S.I.1.K", "a"}, {"S.I.3.K", "b"}}), "S", "I"), kIpv);
  EXPECT_EQ(StructErr(Q({{"S", "x"}}), "S", "I"), kIpv);
  // The message names the parameter and the expected form.
  auto r = Q({{"Tags.member.1.Key", "a"}}).GetStructListChecked("Tags", "Tag");
  EXPECT_NE(std::get<ApiError>(r).message.find("Tags.Tag.N"), std::string::npos);
}

TEST(QueryParams, RealBoto3CreateReplicationGroupBody) {
  // Captured from boto3 1.26 (see sigv4_test.cc for the signed request).
  const QueryParams q = FromBody(
      "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg-cme"
      "&ReplicationGroupDescription=cluster+mode+on+%C3%BC&AutomaticFailoverEnabled=true"
      "&NumNodeGroups=2&NodeGroupConfiguration.NodeGroupConfiguration.1.NodeGroupId=0001"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.Slots=0-8191"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount=1"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.PrimaryAvailabilityZone=us-east-1a"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaAvailabilityZones."
      "AvailabilityZone.1=us-east-1b"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId=0002"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.Slots=8192-16383"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount=2"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.PrimaryAvailabilityZone=us-east-1b"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones."
      "AvailabilityZone.1=us-east-1a"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones."
      "AvailabilityZone.2=us-east-1c"
      "&CacheNodeType=cache.r6g.large&Engine=redis&SecurityGroupIds.SecurityGroupId.1=sg-1"
      "&SecurityGroupIds.SecurityGroupId.2=sg-2&PreferredCacheClusterAZs=&Tags.Tag.1.Key=env"
      "&Tags.Tag.1.Value=prod&Tags.Tag.2.Key=team&Tags.Tag.2.Value=cache");
  EXPECT_EQ(q.Get("ReplicationGroupDescription").value(), "cluster mode on \xC3\xBC");
  const auto ngs = Structs(q, "NodeGroupConfiguration", "NodeGroupConfiguration");
  ASSERT_EQ(ngs.size(), 2u);
  EXPECT_EQ(ngs[1].Get("Slots").value(), "8192-16383");
  EXPECT_EQ(List(ngs[1], "ReplicaAvailabilityZones", "AvailabilityZone"),
            (V{"us-east-1a", "us-east-1c"}));
  EXPECT_EQ(List(q, "SecurityGroupIds", "SecurityGroupId"), (V{"sg-1", "sg-2"}));
  EXPECT_EQ(List(q, "PreferredCacheClusterAZs", "AvailabilityZone"), V{});
  EXPECT_EQ(Structs(q, "Tags", "Tag").size(), 2u);
}

}  // namespace
}  // namespace cf::api
