// XML envelopes, the Append* helpers, timestamps, text safety and request ids.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>
#include <sstream>

#include "orchestrator/api/request_id.h"
#include "orchestrator/api/xml_envelope.h"
#include "orchestrator/api/xml_util.h"

namespace cf::api {
namespace {

constexpr char kDecl[] = "<?xml version=\"1.0\"?>";

TEST(XmlEnvelope, SuccessWithResult) {
  pugi::xml_document doc;
  auto result = StartSuccessEnvelope(doc, "DescribeReplicationGroups");
  auto rg = result.append_child("ReplicationGroups").append_child("ReplicationGroup");
  AppendText(rg, "ReplicationGroupId", "my-rg");
  AppendText(rg, "Description", "a < b & \"c\"");
  EXPECT_EQ(FinishSuccessEnvelope(doc, result, "rid-1"),
            std::string(kDecl) +
                "<DescribeReplicationGroupsResponse "
                "xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"
                "<DescribeReplicationGroupsResult><ReplicationGroups><ReplicationGroup>"
                "<ReplicationGroupId>my-rg</ReplicationGroupId>"
                "<Description>a &lt; b &amp; \"c\"</Description>"
                "</ReplicationGroup></ReplicationGroups></DescribeReplicationGroupsResult>"
                "<ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>"
                "</DescribeReplicationGroupsResponse>");
}

TEST(XmlEnvelope, EmptyResultIsRemoved) {
  pugi::xml_document doc;
  auto result = StartSuccessEnvelope(doc, "RebootThing");
  EXPECT_EQ(FinishSuccessEnvelope(doc, result, "rid-2"),
            std::string(kDecl) +
                "<RebootThingResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"
                "<ResponseMetadata><RequestId>rid-2</RequestId></ResponseMetadata>"
                "</RebootThingResponse>");
}

TEST(XmlEnvelope, ResultWithOnlyEmptyChildIsKept) {
  pugi::xml_document doc;
  auto result = StartSuccessEnvelope(doc, "ListTagsForResource");
  AppendList(result, "TagList", "Tag", {});
  const std::string xml = FinishSuccessEnvelope(doc, result, "r");
  EXPECT_NE(xml.find("<ListTagsForResourceResult><TagList/></ListTagsForResourceResult>"),
            std::string::npos)
      << xml;
}

TEST(XmlEnvelope, ErrorSenderAndReceiver) {
  EXPECT_EQ(ErrorEnvelope({404, "ReplicationGroupNotFoundFault", "ReplicationGroup x not found."},
                          "rid-3"),
            std::string(kDecl) +
                "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"
                "<Error><Type>Sender</Type><Code>ReplicationGroupNotFoundFault</Code>"
                "<Message>ReplicationGroup x not found.</Message></Error>"
                "<RequestId>rid-3</RequestId></ErrorResponse>");
  const std::string xml = ErrorEnvelope(InternalFailure("boom"), "rid-4");
  EXPECT_NE(xml.find("<Type>Receiver</Type><Code>InternalFailure</Code>"), std::string::npos);
  // Messages that echo client bytes are made XML-safe.
  const std::string bad = ErrorEnvelope({400, "X", std::string("a\x01z\xff<")}, "r");
  EXPECT_NE(bad.find("<Message>a?z?&lt;</Message>"), std::string::npos) << bad;
  pugi::xml_document parsed;
  EXPECT_TRUE(parsed.load_string(bad.c_str()));
}

TEST(XmlUtil, ScalarHelpers) {
  pugi::xml_document doc;
  auto n = doc.append_child("N");
  AppendBool(n, "T", true);
  AppendBool(n, "F", false);
  AppendInt(n, "I", -42);
  AppendInt(n, "Big", INT64_MAX);
  AppendDouble(n, "D", 37.5);
  AppendTimestamp(n, "Ts", 1714566896789);
  AppendList(n, "MemberClusters", "ClusterId", {"c1", "c2"});
  AppendList(n, "UserGroupIds", "member", {});
  AppendText(n, "Empty", "");
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  EXPECT_EQ(out.str(),
            "<N><T>true</T><F>false</F><I>-42</I><Big>9223372036854775807</Big><D>37.5</D>"
            "<Ts>2024-05-01T12:34:56.789Z</Ts>"
            "<MemberClusters><ClusterId>c1</ClusterId><ClusterId>c2</ClusterId></MemberClusters>"
            "<UserGroupIds/><Empty></Empty></N>");
}

TEST(XmlUtil, FormatDouble) {
  EXPECT_EQ(FormatDouble(37.5), "37.5");
  EXPECT_EQ(FormatDouble(42.0), "42");
  EXPECT_EQ(FormatDouble(0.001), "0.001");
  EXPECT_EQ(FormatDouble(-2.25), "-2.25");
  EXPECT_EQ(FormatDouble(100.0 / 3.0), "33.333333333333336");
  EXPECT_EQ(FormatDouble(1e20), "100000000000000000000");
  EXPECT_EQ(FormatDouble(1e-7), "0.0000001");
  EXPECT_EQ(FormatDouble(0.0), "0");
  EXPECT_EQ(FormatDouble(-0.0), "0");
  EXPECT_EQ(FormatDouble(std::nan("")), "0");
  EXPECT_EQ(FormatDouble(1.0 / 0.0), "0");
}

TEST(XmlUtil, FormatTimestamp) {
  EXPECT_EQ(FormatTimestampMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMs(1714566896789), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(FormatTimestampMs(1709164800000), "2024-02-29T00:00:00.000Z");  // leap day
  EXPECT_EQ(FormatTimestampMs(253402300799999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestampMs(-1), "1969-12-31T23:59:59.999Z");
}

TEST(XmlUtil, ParseTimestamp) {
  EXPECT_EQ(ParseTimestampMs("2024-05-01T12:34:56.789Z"), 1714566896789);
  EXPECT_EQ(ParseTimestampMs("2024-05-01T12:34:56Z"), 1714566896000);
  EXPECT_EQ(ParseTimestampMs("2024-05-01T12:34:56.7Z"), 1714566896700);
  EXPECT_EQ(ParseTimestampMs("2024-05-01T12:34:56.789000Z"), 1714566896789);     // boto3
  EXPECT_EQ(ParseTimestampMs("2024-05-01T12:34:56.789999999Z"), 1714566896789);  // 9 digits
  EXPECT_EQ(ParseTimestampMs("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(ParseTimestampMs("1970-01-01T00:00:00Z"), 0);
  for (const char* bad :
       {"2024-05-01T12:34:56.7890000000Z", "2024-05-01T12:34:56.Z", "2024-05-01T12:34:56",
        "2024-05-01T12:34:56+00:00", "2024-05-01 12:34:56Z", "2024-05-01t12:34:56Z",
        "2024-05-01T12:34:56z", "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-05-00T00:00:00Z",
        "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:34:60Z",
        "2024-5-01T12:34:56Z", "2024-05-01T12:34:56ZZ", "", "2024-05-01"}) {
    EXPECT_FALSE(ParseTimestampMs(bad).has_value()) << bad;
  }
  // Round trip over a range of values.
  for (int64_t ms = -86400000LL * 800; ms < 86400000LL * 365 * 60; ms += 86400000LL * 37 + 12345) {
    EXPECT_EQ(ParseTimestampMs(FormatTimestampMs(ms)), ms);
  }
}

TEST(XmlUtil, XmlSafeText) {
  EXPECT_TRUE(IsXmlSafeText("plain ascii ~!@#$%^&*()<>"));
  EXPECT_TRUE(IsXmlSafeText("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_TRUE(IsXmlSafeText(""));
  EXPECT_FALSE(IsXmlSafeText("tab\there"));
  EXPECT_FALSE(IsXmlSafeText("nl\n"));
  EXPECT_FALSE(IsXmlSafeText(std::string("nul\0", 4)));
  EXPECT_FALSE(IsXmlSafeText("del\x7f"));
  EXPECT_FALSE(IsXmlSafeText("\xC3"));          // truncated
  EXPECT_FALSE(IsXmlSafeText("\xC0\xAF"));      // overlong
  EXPECT_FALSE(IsXmlSafeText("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(IsXmlSafeText("\xEF\xBF\xBF"));  // U+FFFF
  EXPECT_EQ(SanitizeXmlText("ok\x01\xC3\xA9\xC3"), "ok?\xC3\xA9?");
}

TEST(RequestId, IsUuidV4AndUnique) {
  const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    ASSERT_TRUE(std::regex_match(id, uuid)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace cf::api
