#include "common/slot_range.h"

#include <algorithm>
#include <charconv>

namespace cf {
namespace {

Result<uint32_t> ParseSlot(std::string_view s) {
  uint32_t v = 0;
  if (s.empty() || s.size() > 5) return MakeError(Errc::kInvalidArgument, "bad slot number");
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return MakeError(Errc::kInvalidArgument, "bad slot number '" + std::string(s) + "'");
  if (v >= kNumSlots)
    return MakeError(Errc::kInvalidArgument, "slot " + std::to_string(v) + " is outside 0-16383");
  return v;
}

}  // namespace

Result<SlotRange> ParseSlotRange(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    auto v = ParseSlot(text);
    if (!v) return v.error();
    return SlotRange{*v, *v};
  }
  auto a = ParseSlot(text.substr(0, dash));
  if (!a) return a.error();
  auto b = ParseSlot(text.substr(dash + 1));
  if (!b) return b.error();
  if (*a > *b)
    return MakeError(Errc::kInvalidArgument,
                     "slot range '" + std::string(text) + "' starts after it ends");
  return SlotRange{*a, *b};
}

Result<SlotRanges> ParseSlotRanges(std::string_view text) {
  SlotRanges out;
  if (text.empty()) return MakeError(Errc::kInvalidArgument, "empty slot range");
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    auto r = ParseSlotRange(text.substr(pos, comma - pos));
    if (!r) return r.error();
    out.push_back(*r);
    pos = comma + 1;
  }
  return out;
}

std::string FormatSlotRanges(const SlotRanges& ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.start) + "-" + std::to_string(r.end);
  }
  return out;
}

SlotRanges NormalizeSlotRanges(SlotRanges ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const SlotRange& a, const SlotRange& b) { return a.start < b.start; });
  SlotRanges out;
  for (const auto& r : ranges) {
    if (!out.empty() && r.start <= out.back().end + 1) {
      out.back().end = std::max(out.back().end, r.end);
    } else {
      out.push_back(r);
    }
  }
  return out;
}

uint32_t CountSlots(const SlotRanges& ranges) {
  uint32_t n = 0;
  for (const auto& r : ranges) n += r.size();
  return n;
}

std::vector<SlotRange> SplitSlotsEvenly(uint32_t n) {
  std::vector<SlotRange> out;
  if (n == 0) return out;
  // Shard i gets [floor(i*16384/n), floor((i+1)*16384/n) - 1]: the same ranges redis-cli's
  // cluster create produces for small n, sizes never differing by more than one.
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t first = static_cast<uint32_t>(uint64_t{i} * kNumSlots / n);
    uint32_t next = static_cast<uint32_t>(uint64_t{i + 1} * kNumSlots / n);
    out.push_back(SlotRange{first, next - 1});
  }
  return out;
}

Status CheckFullCoverage(const std::vector<SlotRanges>& per_shard) {
  std::vector<uint8_t> seen(kNumSlots, 0);
  for (const auto& shard : per_shard) {
    for (const auto& r : shard) {
      if (r.end >= kNumSlots || r.start > r.end)
        return MakeError(Errc::kInvalidArgument, "slot range outside 0-16383");
      for (uint32_t s = r.start; s <= r.end; ++s) {
        if (seen[s])
          return MakeError(Errc::kInvalidArgument,
                           "slot " + std::to_string(s) + " is assigned to more than one node group");
        seen[s] = 1;
      }
    }
  }
  for (uint32_t s = 0; s < kNumSlots; ++s) {
    if (!seen[s])
      return MakeError(Errc::kInvalidArgument,
                       "slot " + std::to_string(s) + " is not assigned to any node group");
  }
  return {};
}

std::vector<uint32_t> ExpandSlots(const SlotRanges& ranges) {
  std::vector<uint32_t> out;
  for (const auto& r : NormalizeSlotRanges(ranges))
    for (uint32_t s = r.start; s <= r.end; ++s) out.push_back(s);
  return out;
}

SlotRanges RangesFromSlots(std::vector<uint32_t> slots) {
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  SlotRanges out;
  for (uint32_t s : slots) {
    if (!out.empty() && out.back().end + 1 == s) {
      out.back().end = s;
    } else {
      out.push_back(SlotRange{s, s});
    }
  }
  return out;
}

}  // namespace cf
