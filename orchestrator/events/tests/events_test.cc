// DescribeEvents: validation (every rule), the store query (filters, order, pruning, paging)
// and the handler's XML.
#include <gtest/gtest.h>

#include "orchestrator/api/xml_util.h"
#include "orchestrator/events/event_query_store.h"
#include "orchestrator/events/events_frontend.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator {
namespace {

using testing::Children;
using testing::Request;
using testing::TempDir;

constexpr int64_t kNow = 1764633600000;  // 2025-12-02T00:00:00Z
constexpr int64_t kMin = 60000;

settings::Checked<EventQuery> V(std::map<std::string, std::string> p) {
  return ValidateDescribeEvents(api::QueryParams(std::move(p)), kNow);
}
std::string Code(const settings::Checked<EventQuery>& v) {
  auto* e = std::get_if<api::ApiError>(&v);
  return e ? e->code : "";
}

TEST(DescribeEventsValidation, DefaultsToTheLastHour) {
  auto v = V({});
  ASSERT_EQ(Code(v), "");
  auto q = std::get<EventQuery>(v);
  EXPECT_EQ(q.end_ms, kNow);
  EXPECT_EQ(q.start_ms, kNow - 60 * kMin);
  EXPECT_EQ(q.limit, 100);
  EXPECT_FALSE(q.before);
}

TEST(DescribeEventsValidation, Windows) {
  auto q = std::get<EventQuery>(V({{"Duration", "30"}}));
  EXPECT_EQ(q.start_ms, kNow - 30 * kMin);
  q = std::get<EventQuery>(V({{"StartTime", "2025-12-01T00:00:00Z"}}));
  EXPECT_EQ(q.start_ms, kNow - 24 * 60 * kMin);
  EXPECT_EQ(q.end_ms, kNow);
  q = std::get<EventQuery>(V({{"StartTime", "2025-12-01T00:00:00Z"}, {"Duration", "10"}}));
  EXPECT_EQ(q.end_ms, kNow - 24 * 60 * kMin + 10 * kMin);
  q = std::get<EventQuery>(V({{"EndTime", "2025-12-01T12:00:00.5Z"}}));
  EXPECT_EQ(q.end_ms, kNow - 12 * 60 * kMin + 500);
  EXPECT_EQ(q.start_ms, q.end_ms - 60 * kMin);
  q = std::get<EventQuery>(
      V({{"StartTime", "2025-12-01T01:02:03.456000Z"}, {"EndTime", "2025-12-01T01:02:04.123456789Z"}}));
  EXPECT_EQ(q.end_ms - q.start_ms, 667);
}

TEST(DescribeEventsValidation, Rejections) {
  EXPECT_EQ(Code(V({{"SourceType", "cluster"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"SourceType", "replication-group"}})), "");
  EXPECT_EQ(Code(V({{"StartTime", "2025-12-01"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"StartTime", "2025-12-01T00:00:00.1234567890Z"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"StartTime", "2025-12-01T00:00:00+01:00"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"StartTime", "2025-12-01T02:00:00Z"}, {"EndTime", "2025-12-01T01:00:00Z"}})),
            "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"StartTime", "2025-12-01T00:00:00Z"},
                    {"EndTime", "2025-12-01T01:00:00Z"},
                    {"Duration", "5"}})),
            "InvalidParameterCombination");
  EXPECT_EQ(Code(V({{"Duration", "-1"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"Duration", "abc"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"MaxRecords", "19"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"MaxRecords", "101"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"MaxRecords", "20"}})), "");
  EXPECT_EQ(Code(V({{"Marker", "garbage"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"Marker", "cfe1.zz"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"Marker", EncodeEventMarker(5, 7)}})), "");
  EXPECT_EQ(Code(V({{"Bogus", "1"}})), "InvalidParameterValue");
  EXPECT_EQ(Code(V({{"SourceIdentifier", ""}})), "InvalidParameterValue");
}

TEST(DescribeEventsValidation, MarkerRoundTrip) {
  auto m = EncodeEventMarker(1714566896789, 42);
  auto d = DecodeEventMarker(m);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->first, 1714566896789);
  EXPECT_EQ(d->second, 42);
  EXPECT_FALSE(DecodeEventMarker("cfe1."));
  EXPECT_FALSE(DecodeEventMarker(settings::EncodeMarker("cfe1.", "12:")));
  EXPECT_FALSE(DecodeEventMarker(settings::EncodeMarker("cfe1.", "a:1")));
}

class EventsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Open(dir_.file("s.db"))); }
  TempDir dir_;
  Store store_;
};

TEST_F(EventsStoreTest, FiltersOrderPruneAndPages) {
  const int64_t now = NowMs();
  ASSERT_TRUE(store_.AddEvent("old", "replication-group", "too old", now - kEventRetentionMs - 1));
  for (int i = 0; i < 45; ++i)
    ASSERT_TRUE(store_.AddEvent(i % 3 == 0 ? "pg" : "rg", i % 3 == 0 ? "cache-parameter-group"
                                                                     : "replication-group",
                                "e" + std::to_string(i), now - 45 + i));
  EventsFrontend fe(store_);
  // All 45, paged by 20, newest first, no duplicates, no Marker on the last page.
  std::vector<std::string> seen;
  std::string marker;
  int pages = 0;
  do {
    std::map<std::string, std::string> p = {{"MaxRecords", "20"}};
    if (!marker.empty()) p["Marker"] = marker;
    pugi::xml_document doc;
    auto res = doc.append_child("R");
    ASSERT_FALSE(fe.DescribeEvents(Request("DescribeEvents", p), res));
    for (auto ev : Children(res.child("Events"), "Event"))
      seen.push_back(ev.child_value("Message"));
    marker = res.child_value("Marker");
    ++pages;
  } while (!marker.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 45u);
  EXPECT_EQ(seen.front(), "e44");
  EXPECT_EQ(seen.back(), "e0");
  // The old event was pruned.
  EXPECT_TRUE(store_.ListEvents("old")->empty());
  // Filters.
  pugi::xml_document doc;
  auto res = doc.append_child("R");
  ASSERT_FALSE(fe.DescribeEvents(
      Request("DescribeEvents", {{"SourceIdentifier", "PG"}, {"SourceType", "cache-parameter-group"}}),
      res));
  auto evs = Children(res.child("Events"), "Event");
  EXPECT_EQ(evs.size(), 15u);
  EXPECT_STREQ(evs[0].child_value("SourceType"), "cache-parameter-group");
  EXPECT_STREQ(evs[0].child_value("SourceIdentifier"), "pg");
  EXPECT_TRUE(api::ParseTimestampMs(evs[0].child_value("Date")));
  EXPECT_FALSE(res.child("Marker"));
  pugi::xml_document doc2;
  auto res2 = doc2.append_child("R");
  ASSERT_FALSE(fe.DescribeEvents(Request("DescribeEvents", {{"SourceType", "cache-cluster"}}), res2));
  EXPECT_TRUE(res2.child("Events"));
  EXPECT_TRUE(Children(res2.child("Events"), "Event").empty());
}

}  // namespace
}  // namespace cf::orchestrator
