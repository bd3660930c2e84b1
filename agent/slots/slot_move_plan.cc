#include "agent/slots/slot_move_plan.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

namespace cf::agent {
namespace {

constexpr std::array<uint16_t, 256> MakeCrc16Table() {
  std::array<uint16_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrc16Table = MakeCrc16Table();

uint16_t Crc16(std::string_view s) {
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

bool Owns(const ClusterNodeEntry& n, uint32_t slot) {
  for (const auto& r : n.slots) {
    if (slot >= r.start && slot <= r.end) return true;
  }
  return false;
}

// slot -> owner id ("" = none) for the slots asked about, from one node's view.
struct View {
  const ClusterNodeEntry* myself = nullptr;
  std::vector<std::pair<SlotRange, std::string>> owners;  // range -> id
  std::map<uint32_t, OpenSlotMark> marks;                  // myself's open marks

  std::string OwnerOf(uint32_t slot) const {
    for (const auto& [r, id] : owners) {
      if (slot >= r.start && slot <= r.end) return id;
    }
    return {};
  }
  const OpenSlotMark* Mark(uint32_t slot) const {
    auto it = marks.find(slot);
    return it == marks.end() ? nullptr : &it->second;
  }
};

Result<View> BuildView(const std::vector<ClusterNodeEntry>& nodes, const char* who) {
  View v;
  v.myself = FindMyself(nodes);
  if (!v.myself) {
    return MakeError(Errc::kFailedPrecondition,
                     std::string(who) + "'s CLUSTER NODES has no 'myself' entry");
  }
  for (const auto& n : nodes) {
    // A failed-over master keeps stale slot tokens until it learns; trust masters only.
    if (!n.is_master()) continue;
    for (const auto& r : n.slots) v.owners.push_back({r, n.id});
  }
  for (const auto& tok : v.myself->open_slots) {
    auto m = ParseOpenSlotToken(tok);
    if (!m.ok()) return m.error();
    v.marks[m->slot] = *m;
  }
  return v;
}

std::string Short(std::string_view id) { return std::string(id.substr(0, 8)); }

}  // namespace

uint32_t KeyHashSlot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kNumSlots - 1);
}

Result<OpenSlotMark> ParseOpenSlotToken(std::string_view tok) {
  auto bad = [&] {
    return MakeError(Errc::kInternal, "malformed open-slot token '" + std::string(tok) + "'");
  };
  if (tok.size() < 6 || tok.front() != '[' || tok.back() != ']') return bad();
  std::string_view body = tok.substr(1, tok.size() - 2);
  OpenSlotMark m;
  size_t p = body.find("->-");
  if (p != std::string_view::npos) {
    m.kind = OpenSlotMark::Kind::kMigrating;
  } else if ((p = body.find("-<-")) != std::string_view::npos) {
    m.kind = OpenSlotMark::Kind::kImporting;
  } else {
    return bad();
  }
  std::string_view num = body.substr(0, p);
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), m.slot);
  if (ec != std::errc() || end != num.data() + num.size() || m.slot >= kNumSlots) return bad();
  m.peer_id = std::string(body.substr(p + 3));
  if (m.peer_id.empty()) return bad();
  return m;
}

const char* SlotActionName(SlotAction a) {
  switch (a) {
    case SlotAction::kDone: return "done";
    case SlotAction::kMove: return "move";
    case SlotAction::kFinishOnTarget: return "finish-on-target";
    case SlotAction::kConflict: return "conflict";
  }
  return "?";
}

Result<std::vector<SlotPlan>> ClassifySlots(const std::vector<ClusterNodeEntry>& source_view,
                                            const std::vector<ClusterNodeEntry>& target_view,
                                            std::string_view target_id,
                                            const std::vector<uint32_t>& slots) {
  auto src = BuildView(source_view, "source");
  if (!src.ok()) return src.error();
  auto dst = BuildView(target_view, "target");
  if (!dst.ok()) return dst.error();
  if (dst->myself->id != target_id) {
    return MakeError(Errc::kFailedPrecondition,
                     "the target node's id is " + dst->myself->id + ", not " +
                         std::string(target_id) + " (another node on that address?)");
  }
  const std::string& source_id = src->myself->id;
  if (source_id == target_id) {
    return MakeError(Errc::kInvalidArgument, "source and target are the same node " + source_id);
  }

  std::vector<SlotPlan> out;
  out.reserve(slots.size());
  for (uint32_t s : slots) {
    SlotPlan p;
    p.slot = s;
    const OpenSlotMark* smark = src->Mark(s);
    const OpenSlotMark* dmark = dst->Mark(s);
    std::string src_owner = src->OwnerOf(s);
    bool target_owns = Owns(*dst->myself, s);
    if (target_owns) {
      if (src_owner == source_id) {
        p.action = SlotAction::kMove;
        p.target_owns = true;
        p.resumed = true;
        p.reason = "target owns it but the source still claims it";
      } else {
        p.action = SlotAction::kDone;
        p.source_marked = smark != nullptr;
        p.reason = "already owned by the target";
      }
    } else if (src_owner == source_id) {
      if (smark && smark->kind == OpenSlotMark::Kind::kMigrating && smark->peer_id != target_id) {
        p.action = SlotAction::kConflict;
        p.reason = "the source is migrating it to " + smark->peer_id;
      } else if (dmark && dmark->kind == OpenSlotMark::Kind::kImporting &&
                 dmark->peer_id != source_id) {
        p.action = SlotAction::kConflict;
        p.reason = "the target is importing it from " + dmark->peer_id;
      } else {
        p.action = SlotAction::kMove;
        p.resumed = smark != nullptr || dmark != nullptr;
        p.reason = p.resumed ? "resuming an open slot" : "";
      }
    } else if (src_owner == target_id && dmark &&
               dmark->kind == OpenSlotMark::Kind::kImporting) {
      p.action = SlotAction::kFinishOnTarget;
      p.resumed = true;
      p.reason = "the source gave it up while the target still imports it";
    } else {
      p.action = SlotAction::kConflict;
      if (src_owner.empty()) {
        p.reason = "no node owns it (source's view)";
      } else if (src_owner == target_id) {
        p.reason = "the source says the target owns it but the target does not (views "
                   "disagree; retry after gossip converges)";
      } else {
        p.reason = "owned by " + Short(src_owner) + "…, neither the source nor the target";
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<WindowSpan> PlanWindows(const std::vector<uint64_t>& keys, uint32_t max_slots,
                                    uint64_t max_keys) {
  std::vector<WindowSpan> out;
  if (max_slots == 0) max_slots = 1;
  size_t i = 0;
  while (i < keys.size()) {
    WindowSpan w{i, i + 1};
    uint64_t sum = keys[i];
    while (w.end < keys.size() && w.end - w.begin < max_slots &&
           sum + keys[w.end] <= max_keys) {
      sum += keys[w.end];
      ++w.end;
    }
    out.push_back(w);
    i = w.end;
  }
  return out;
}

BatchSizer::BatchSizer(BatchLimits limits) : limits_(limits) {
  if (limits_.max_batch_keys == 0) limits_.max_batch_keys = 1;
  if (limits_.min_fetch_keys == 0) limits_.min_fetch_keys = 1;
  limits_.min_fetch_keys = std::min(limits_.min_fetch_keys, limits_.max_batch_keys);
  fetch_ = std::clamp(limits_.initial_batch_keys, limits_.min_fetch_keys, limits_.max_batch_keys);
}

void BatchSizer::Observe(const std::vector<uint64_t>& sizes) {
  uint64_t sum = 0, n = 0;
  for (uint64_t s : sizes) {
    if (s == 0) continue;
    sum += s;
    ++n;
  }
  if (n == 0) return;
  double mean = static_cast<double>(sum) / static_cast<double>(n);
  avg_ = avg_ == 0 ? mean : 0.5 * avg_ + 0.5 * mean;
  Recompute();
}

void BatchSizer::ObserveMigrate(uint64_t keys, double ms) {
  if (keys == 0 || ms <= 0) return;
  double per = ms / static_cast<double>(keys);
  ms_per_key_ = ms_per_key_ == 0 ? per : 0.7 * ms_per_key_ + 0.3 * per;
  Recompute();
}

void BatchSizer::Recompute() {
  double want = limits_.max_batch_keys;
  if (avg_ > 0) want = std::min(want, static_cast<double>(limits_.max_batch_bytes) / std::max(avg_, 1.0));
  if (ms_per_key_ > 0 && limits_.target_batch_ms > 0) {
    want = std::min(want, limits_.target_batch_ms / ms_per_key_);
  }
  uint64_t target = static_cast<uint64_t>(std::max(want, 0.0));
  target = std::min<uint64_t>(target, static_cast<uint64_t>(fetch_) * 4);
  fetch_ = static_cast<uint32_t>(
      std::clamp<uint64_t>(target, limits_.min_fetch_keys, limits_.max_batch_keys));
}

double PaceIdleMs(double busy_ms, uint32_t busy_percent) {
  if (busy_percent == 0 || busy_percent >= 100 || busy_ms <= 0) return 0;
  return busy_ms * (100.0 - busy_percent) / busy_percent;
}

std::vector<Flight> PlanFlights(const std::vector<SlotKeys>& fetched, const BatchLimits& limits) {
  const uint64_t max_keys = std::max<uint32_t>(limits.max_batch_keys, 1);
  const uint64_t max_bytes = std::max<uint64_t>(limits.max_batch_bytes, 1);
  std::vector<Flight> out;
  Flight cur;
  auto flush = [&] {
    if (!cur.commands.empty()) out.push_back(std::move(cur));
    cur = Flight{};
  };
  const uint64_t soft_keys = limits.flight_keys;
  for (const auto& sk : fetched) {
    for (size_t ki = 0; ki < sk.keys.size(); ++ki) {
      const SizedKey& k = sk.keys[ki];
      if (k.bytes > max_bytes) {
        // Oversized: alone in its own flight, before anything packed after it.
        flush();
        Flight big;
        big.commands.push_back(MigrateCommand{sk.slot, {k.key}, k.bytes});
        big.keys = 1;
        big.bytes = k.bytes;
        big.oversized = true;
        out.push_back(std::move(big));
        continue;
      }
      if (!cur.commands.empty() && (cur.keys + 1 > max_keys || cur.bytes + k.bytes > max_bytes)) {
        flush();
      } else if (soft_keys > 0 && !cur.commands.empty() && cur.commands.back().slot != sk.slot &&
                 cur.keys + (sk.keys.size() - ki) > soft_keys) {
        flush();  // the rest of this slot does not fit the budget: it starts the next flight
      }
      if (cur.commands.empty() || cur.commands.back().slot != sk.slot) {
        cur.commands.push_back(MigrateCommand{sk.slot, {}, 0});
      }
      cur.commands.back().keys.push_back(k.key);
      cur.commands.back().bytes += k.bytes;
      cur.keys += 1;
      cur.bytes += k.bytes;
    }
  }
  flush();
  return out;
}

}  // namespace cf::agent
