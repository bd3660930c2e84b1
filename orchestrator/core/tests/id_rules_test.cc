#include "orchestrator/core/id_rules.h"

#include <gtest/gtest.h>

namespace cf::orchestrator {
namespace {

TEST(ReplicationGroupId, AcceptsAndLowercases) {
  auto r = NormalizeReplicationGroupId("My-Group-1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "my-group-1");
  EXPECT_TRUE(NormalizeReplicationGroupId("a").ok());
  EXPECT_TRUE(NormalizeReplicationGroupId(std::string(40, 'a')).ok());
}

TEST(ReplicationGroupId, Rejects) {
  for (const char* bad :
       {"", "1abc", "-abc", "abc-", "ab--c", "ab_c", "ab.c", "ab c", "Bad_ID--", "é", "abc\n"}) {
    auto r = NormalizeReplicationGroupId(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_FALSE(NormalizeReplicationGroupId(std::string(41, 'a')).ok());
  auto r = NormalizeReplicationGroupId("fake_cluster");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("The parameter ReplicationGroupId is not a valid identifier"),
            std::string::npos);
}

TEST(NodeGroupId, PadsAndRejects) {
  EXPECT_EQ(*NormalizeNodeGroupId("1"), "0001");
  EXPECT_EQ(*NormalizeNodeGroupId("0042"), "0042");
  EXPECT_EQ(*NormalizeNodeGroupId("9999"), "9999");
  for (const char* bad : {"", "00001", "12a", "-1", " 1"})
    EXPECT_FALSE(NormalizeNodeGroupId(bad).ok()) << bad;
}

TEST(MemberIds, ElastiCacheNaming) {
  EXPECT_EQ(CmdMemberId("rg", 1), "rg-001");
  EXPECT_EQ(CmdMemberId("rg", 6), "rg-006");
  EXPECT_EQ(CmeMemberId("rg", "0003", 2), "rg-0003-002");
  EXPECT_EQ(FormatNodeGroupId(12), "0012");
}

TEST(Marker, RoundTrips) {
  for (const char* id : {"a", "my-group", "z9-x"}) {
    auto m = EncodeDescribeMarker(id);
    auto back = DecodeDescribeMarker(m);
    ASSERT_TRUE(back.has_value()) << m;
    EXPECT_EQ(*back, id);
  }
}

TEST(Marker, RejectsForeignMarkers) {
  for (const char* bad :
       {"", "abc123", "cfm1.", "cfm1.zz", "cfm1.6", "cfm2.61",
        "cfm1.2d61" /* "-a": not a valid id */, "cfm1.41" /* "A": not lowercase */}) {
    EXPECT_FALSE(DecodeDescribeMarker(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace cf::orchestrator
