#include "common/slot_range.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

TEST(SlotRange, ParsesSingleAndRange) {
  auto a = ParseSlotRange("0-8191");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->start, 0u);
  EXPECT_EQ(a->end, 8191u);
  auto b = ParseSlotRange("42");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->start, 42u);
  EXPECT_EQ(b->end, 42u);
}

TEST(SlotRange, RejectsBadInput) {
  for (const char* bad : {"", "-", "1-", "-5", "5-4", "0-16384", "16384", "a-b", "1-2-3", " 1-2",
                          "99999999999"}) {
    EXPECT_FALSE(ParseSlotRange(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseSlotRanges("").ok());
  EXPECT_FALSE(ParseSlotRanges("0-5,").ok());
}

TEST(SlotRange, ParsesAndFormatsLists) {
  auto r = ParseSlotRanges("0-100,200-300,400");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(FormatSlotRanges(*r), "0-100,200-300,400-400");
  EXPECT_EQ(CountSlots(*r), 101u + 101u + 1u);
}

TEST(SlotRange, SplitsLikeRedisCli) {
  auto three = SplitSlotsEvenly(3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0], (SlotRange{0, 5460}));
  EXPECT_EQ(three[1], (SlotRange{5461, 10921}));
  EXPECT_EQ(three[2], (SlotRange{10922, 16383}));
  for (uint32_t n = 1; n <= 90; ++n) {
    auto parts = SplitSlotsEvenly(n);
    std::vector<SlotRanges> shards;
    uint32_t lo = kNumSlots, hi = 0;
    for (auto& p : parts) {
      shards.push_back({p});
      lo = std::min(lo, p.size());
      hi = std::max(hi, p.size());
    }
    EXPECT_TRUE(CheckFullCoverage(shards).ok()) << n;
    EXPECT_LE(hi - lo, 1u) << n;
  }
}

TEST(SlotRange, CoverageFindsGapsAndOverlaps) {
  EXPECT_TRUE(CheckFullCoverage({{{0, 8191}}, {{8192, 16383}}}).ok());
  auto gap = CheckFullCoverage({{{0, 8190}}, {{8192, 16383}}});
  ASSERT_FALSE(gap.ok());
  EXPECT_NE(gap.error().message.find("8191"), std::string::npos);
  auto overlap = CheckFullCoverage({{{0, 8192}}, {{8192, 16383}}});
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.error().message.find("more than one"), std::string::npos);
}

TEST(SlotRange, NormalizeExpandRoundTrip) {
  SlotRanges in{{10, 20}, {0, 5}, {6, 9}, {30, 30}};
  auto n = NormalizeSlotRanges(in);
  EXPECT_EQ(FormatSlotRanges(n), "0-20,30-30");
  EXPECT_EQ(RangesFromSlots(ExpandSlots(in)), n);
}

}  // namespace
}  // namespace cf
