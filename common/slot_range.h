// Hash-slot ranges: parsing, formatting and the arithmetic both daemons need.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cf {

inline constexpr uint32_t kNumSlots = 16384;

struct SlotRange {
  uint32_t start = 0;  // inclusive
  uint32_t end = 0;    // inclusive
  uint32_t size() const { return end - start + 1; }
  bool operator==(const SlotRange&) const = default;
};

using SlotRanges = std::vector<SlotRange>;

// Parses "0-8191" or "5" (one slot). Rejects anything outside 0..16383 or start > end.
Result<SlotRange> ParseSlotRange(std::string_view text);
// Parses "0-100,200-300" (ElastiCache's multi-range Slots form). Empty text is an error.
Result<SlotRanges> ParseSlotRanges(std::string_view text);
// "0-8191" / "0-100,200-300"; a single-slot range prints as "5-5" the way ElastiCache does.
std::string FormatSlotRanges(const SlotRanges& ranges);
// Sorts and merges adjacent/overlapping ranges.
SlotRanges NormalizeSlotRanges(SlotRanges ranges);
uint32_t CountSlots(const SlotRanges& ranges);
// Splits 0..16383 into n contiguous ranges as redis-cli does (sizes differ by at most one).
std::vector<SlotRange> SplitSlotsEvenly(uint32_t n);
// OK when the ranges cover 0..16383 exactly once; otherwise an error naming the first
// overlap or gap.
Status CheckFullCoverage(const std::vector<SlotRanges>& per_shard);
// Expands ranges into a sorted list of slots.
std::vector<uint32_t> ExpandSlots(const SlotRanges& ranges);
// Builds ranges from a list of slots (any order, duplicates ignored).
SlotRanges RangesFromSlots(std::vector<uint32_t> slots);

}  // namespace cf
