#include "orchestrator/api/form_decoder.h"

#include <gtest/gtest.h>

namespace cf::api {
namespace {

using Form = std::map<std::string, std::string>;

Form MustDecode(std::string_view body) {
  auto r = DecodeForm(body);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "decode failed: " << e->code << ": " << e->message;
    return {};
  }
  return std::get<Form>(r);
}

std::string DecodeErrorCode(std::string_view body) {
  auto r = DecodeForm(body);
  if (auto* e = std::get_if<ApiError>(&r)) {
    EXPECT_EQ(e->http_status, 400);
    return e->code;
  }
  return "";
}

TEST(FormDecoder, PlusAndPercentEscapes) {
  const Form f = MustDecode(
      "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupDescription=cluster+mode+on"
      "&Js=from%20js%20%20two&Arn=arn%3Aaws%3Aelasticache%3Aus-east-1%3A1%3Areplicationgroup%3Arg"
      "&Utf=caf%C3%A9+%E2%82%AC&Literal=a%2Bb%3Dc%26d");
  EXPECT_EQ(f.at("Action"), "CreateReplicationGroup");
  EXPECT_EQ(f.at("ReplicationGroupDescription"), "cluster mode on");
  EXPECT_EQ(f.at("Js"), "from js  two");
  EXPECT_EQ(f.at("Arn"), "arn:aws:elasticache:us-east-1:1:replicationgroup:rg");
  EXPECT_EQ(f.at("Utf"), "caf\xC3\xA9 \xE2\x82\xAC");
  EXPECT_EQ(f.at("Literal"), "a+b=c&d");
}

TEST(FormDecoder, EmptyValuesAndSegments) {
  const Form f = MustDecode("PreferredCacheClusterAZs=&Tags&&A=1&B==x&");
  EXPECT_EQ(f.at("PreferredCacheClusterAZs"), "");
  EXPECT_EQ(f.at("Tags"), "");
  EXPECT_EQ(f.at("A"), "1");
  EXPECT_EQ(f.at("B"), "=x");
  EXPECT_EQ(f.size(), 4u);
  EXPECT_TRUE(MustDecode("").empty());
}

TEST(FormDecoder, MalformedEscapesAreInvalidQueryParameter) {
  EXPECT_EQ(DecodeErrorCode("A=%"), "InvalidQueryParameter");
  EXPECT_EQ(DecodeErrorCode("A=%4"), "InvalidQueryParameter");
  EXPECT_EQ(DecodeErrorCode("A=%G1"), "InvalidQueryParameter");
  EXPECT_EQ(DecodeErrorCode("A=x%zz"), "InvalidQueryParameter");
  EXPECT_EQ(DecodeErrorCode("A%=1"), "InvalidQueryParameter");
}

TEST(FormDecoder, DuplicateAndEmptyKeys) {
  EXPECT_EQ(DecodeErrorCode("A=1&A=2"), "InvalidQueryParameter");
  EXPECT_EQ(DecodeErrorCode("A=1&%41=2"), "InvalidQueryParameter");  // same key once decoded
  EXPECT_EQ(DecodeErrorCode("=1"), "InvalidQueryParameter");
}

TEST(FormDecoder, ControlCharactersAndBadUtf8AreInvalidParameterValue) {
  for (const char* bad : {"%00", "%01", "%09", "%0A", "%0D", "%1F", "%7F", "%C3", "%FF", "%C0%80",
                          "%ED%A0%80", "%EF%BF%BF", "%EF%BF%BE", "%F4%90%80%80"}) {
    EXPECT_EQ(DecodeErrorCode(std::string("Description=a") + bad + "b"), "InvalidParameterValue")
        << bad;
  }
  // Fine: printable ASCII, 2-, 3- and 4-byte UTF-8, U+0080 (a C1 control XML 1.0 allows).
  MustDecode("D=%C2%80%E2%82%AC%F0%9F%98%80~!*'()");
  // A control character in a key is a malformed key.
  EXPECT_EQ(DecodeErrorCode("A%0A=1"), "InvalidQueryParameter");
}

TEST(FormDecoder, CapturedBodiesDecodeAndNumberCorrectly) {
  // elasticache-api.md §1 (boto3, CLI v2).
  for (const char* body : {
           "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg-cmd"
           "&ReplicationGroupDescription=cluster+mode+off&AutomaticFailoverEnabled=false"
           "&NumCacheClusters=3&CacheNodeType=cache.t3.micro&Engine=redis"
           "&PreferredCacheClusterAZs.AvailabilityZone.1=us-east-1a"
           "&PreferredCacheClusterAZs.AvailabilityZone.2=us-east-1b"
           "&PreferredCacheClusterAZs.AvailabilityZone.3=us-east-1c",
           "Action=ModifyReplicationGroupShardConfiguration&Version=2015-02-02"
           "&ReplicationGroupId=rg-cme&NodeGroupCount=4&ApplyImmediately=true"
           "&ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId=0003"
           "&ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones."
           "AvailabilityZone.1=us-east-1a"
           "&ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones."
           "AvailabilityZone.2=us-east-1b"
           "&ReshardingConfiguration.ReshardingConfiguration.2.NodeGroupId=0004",
           "Action=DescribeEvents&Version=2015-02-02&SourceIdentifier=rg-cme"
           "&SourceType=replication-group&StartTime=2024-05-01T00%3A00%3A00Z"
           "&EndTime=2024-05-02T01%3A02%3A03.456000Z&MaxRecords=50",
       }) {
    const Form f = MustDecode(body);
    EXPECT_FALSE(ValidateListIndices(f).has_value()) << body;
  }
  const Form ev = MustDecode("StartTime=2024-05-01T00%3A00%3A00Z");
  EXPECT_EQ(ev.at("StartTime"), "2024-05-01T00:00:00Z");
}

std::string IndexErrorCode(const Form& f) {
  auto e = ValidateListIndices(f);
  return e ? e->code : "";
}

TEST(FormDecoder, ListNumberingMustStartAtOneWithoutGaps) {
  EXPECT_EQ(IndexErrorCode({{"L.Item.1", "a"}, {"L.Item.2", "b"}}), "");
  EXPECT_EQ(IndexErrorCode({{"L.Item.1", "a"}, {"L.Item.3", "b"}}), "InvalidParameterValue");
  EXPECT_EQ(IndexErrorCode({{"L.Item.2", "a"}}), "InvalidParameterValue");
  EXPECT_EQ(IndexErrorCode({{"L.Item.0", "a"}}), "InvalidParameterValue");
  EXPECT_EQ(IndexErrorCode({{"L.Item.01", "a"}}), "InvalidParameterValue");
  EXPECT_EQ(IndexErrorCode({{"L.Item.1234567", "a"}}), "InvalidParameterValue");
  // Numeric order, not string order: 1..12.
  Form twelve;
  for (int i = 1; i <= 12; ++i) twelve["L.Item." + std::to_string(i)] = "x";
  EXPECT_EQ(IndexErrorCode(twelve), "");
  // Struct members: several fields per index.
  EXPECT_EQ(
      IndexErrorCode({{"Tags.Tag.1.Key", "a"}, {"Tags.Tag.1.Value", "b"}, {"Tags.Tag.2.Key", "c"}}),
      "");
  EXPECT_EQ(IndexErrorCode({{"Tags.Tag.1.Key", "a"}, {"Tags.Tag.3.Key", "c"}}),
            "InvalidParameterValue");
}

TEST(FormDecoder, NestedListsAreNumberedPerParent) {
  const std::string p = "NodeGroupConfiguration.NodeGroupConfiguration.";
  EXPECT_EQ(IndexErrorCode({{p + "1.Slots", "0-8191"},
                            {p + "1.ReplicaAvailabilityZones.AvailabilityZone.1", "a"},
                            {p + "2.Slots", "8192-16383"},
                            {p + "2.ReplicaAvailabilityZones.AvailabilityZone.1", "a"},
                            {p + "2.ReplicaAvailabilityZones.AvailabilityZone.2", "c"}}),
            "");
  EXPECT_EQ(IndexErrorCode({{p + "1.Slots", "0-8191"},
                            {p + "1.ReplicaAvailabilityZones.AvailabilityZone.2", "a"}}),
            "InvalidParameterValue");
}

TEST(FormDecoder, EmptyKeySegmentsAreMalformed) {
  EXPECT_EQ(IndexErrorCode({{"a..b", "x"}}), "InvalidQueryParameter");
  EXPECT_EQ(IndexErrorCode({{"a.", "x"}}), "InvalidQueryParameter");
  EXPECT_EQ(IndexErrorCode({{".a", "x"}}), "InvalidQueryParameter");
}

TEST(FormDecoder, PercentDecodePlusHandling) {
  EXPECT_EQ(PercentDecode("a+b", true).value(), "a b");
  EXPECT_EQ(PercentDecode("a+b", false).value(), "a+b");
  EXPECT_FALSE(PercentDecode("%2", false).has_value());
}

}  // namespace
}  // namespace cf::api
