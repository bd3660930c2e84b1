#include "orchestrator/reshard/reshard_planner.h"

#include <algorithm>
#include <map>
#include <set>

namespace cf::orchestrator {

Result<ReshardPlan> PlanReshard(const std::vector<ShardSlots>& current,
                                const std::vector<std::string>& add,
                                const std::vector<std::string>& remove) {
  std::set<std::string> current_ids;
  std::vector<SlotRanges> coverage;
  for (const auto& s : current) {
    if (!current_ids.insert(s.node_group_id).second)
      return MakeError(Errc::kInvalidArgument, "node group " + s.node_group_id + " listed twice");
    coverage.push_back(s.slots);
  }
  if (auto st = CheckFullCoverage(coverage); !st) return st.error();

  std::set<std::string> removing;
  for (const auto& id : remove) {
    if (!current_ids.count(id))
      return MakeError(Errc::kNotFound, "node group " + id + " is not part of the group");
    if (!removing.insert(id).second)
      return MakeError(Errc::kInvalidArgument, "node group " + id + " listed twice for removal");
  }
  std::set<std::string> adding;
  for (const auto& id : add) {
    if (current_ids.count(id) || !adding.insert(id).second)
      return MakeError(Errc::kAlreadyExists, "node group " + id + " already exists");
  }

  // The final shards: kept ones in their current order, then the new ones.
  struct Final {
    std::string id;
    std::vector<uint32_t> owned;  // ascending
    uint32_t target = 0;
  };
  std::vector<Final> finals;
  std::vector<uint32_t> pool;  // donated slots
  for (const auto& s : current) {
    auto slots = ExpandSlots(s.slots);
    if (removing.count(s.node_group_id)) {
      pool.insert(pool.end(), slots.begin(), slots.end());
    } else {
      finals.push_back({s.node_group_id, std::move(slots), 0});
    }
  }
  for (const auto& id : add) finals.push_back({id, {}, 0});
  if (finals.empty()) return MakeError(Errc::kInvalidArgument, "cannot remove every node group");

  // Targets: floor for everyone, +1 for the `extra` shards that own the most now (ties: the
  // earlier shard), so shards already at ceil keep what they have.
  const uint32_t n = static_cast<uint32_t>(finals.size());
  const uint32_t base = kNumSlots / n;
  uint32_t extra = kNumSlots % n;
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return finals[a].owned.size() > finals[b].owned.size();
  });
  for (size_t i : order) {
    finals[i].target = base + (extra > 0 ? 1 : 0);
    if (extra > 0) --extra;
  }

  // Donations: each keeping shard gives its highest-numbered surplus slots. Remember who gave
  // each slot so the moves can name their source.
  std::map<uint32_t, std::string> giver;
  for (const auto& s : current)
    if (removing.count(s.node_group_id))
      for (uint32_t slot : ExpandSlots(s.slots)) giver[slot] = s.node_group_id;
  for (auto& f : finals) {
    while (f.owned.size() > f.target) {
      uint32_t slot = f.owned.back();
      f.owned.pop_back();
      pool.push_back(slot);
      giver[slot] = f.id;
    }
  }
  std::sort(pool.begin(), pool.end());

  // Hand out the pool in ascending order, each receiver taking a contiguous run.
  std::map<std::pair<std::string, std::string>, std::vector<uint32_t>> moves;
  size_t next = 0;
  ReshardPlan plan;
  for (auto& f : finals) {
    while (f.owned.size() < f.target && next < pool.size()) {
      uint32_t slot = pool[next++];
      moves[{giver[slot], f.id}].push_back(slot);
      f.owned.push_back(slot);
      ++plan.slots_moved;
    }
  }
  if (next != pool.size())
    return MakeError(Errc::kInternal, "reshard plan left slots unassigned");  // invariant

  for (auto& [key, slots] : moves)
    plan.moves.push_back(SlotMove{key.first, key.second, RangesFromSlots(std::move(slots))});
  for (auto& f : finals) plan.result.push_back(ShardSlots{f.id, RangesFromSlots(f.owned)});
  return plan;
}

}  // namespace cf::orchestrator
