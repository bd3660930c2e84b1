// Reshard planner: pure code, no I/O (STYLE.md #8).
//
// Input: the shards of a cluster-mode-enabled group with the slots each owns now, and the
// change asked for (shards to add, shards to remove). Output: the slot moves that leave every
// remaining shard with an even share (16384 / N, the first 16384 % N shards in the final order
// holding one more), moving as few slots as possible.
//
// How the minimum is reached:
//   * Each final shard's target is floor or ceil of 16384 / N. The "+1" targets go to the
//     shards that own the most slots now, so a shard that is already at ceil keeps its slots.
//   * A shard gives away only its surplus (current - target); a removed shard gives everything.
//     The total moved is therefore the sum of the surpluses, which no plan can beat.
//   * A shard that keeps slots gives away its highest-numbered ones, so what it keeps stays as
//     contiguous as it was.
//   * The donated slots are handed out in ascending order, each receiver taking a contiguous
//     run, so new shards end up with as few ranges as possible.
//
// Example: 0001=0-5460, 0002=5461-10921, 0003=10922-16383, add 0004. Targets are 4096 each;
// 0001 gives 4096-5460, 0002 gives 9557-10921, 0003 gives 15018-16383, and 0004 ends with
// those three ranges: 4096 slots moved, the minimum.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "common/slot_range.h"

namespace cf::orchestrator {

struct ShardSlots {
  std::string node_group_id;
  SlotRanges slots;
};

struct SlotMove {
  std::string from;  // node group id
  std::string to;    // node group id
  SlotRanges slots;  // normalized, ascending
  uint32_t count() const { return CountSlots(slots); }
};

struct ReshardPlan {
  std::vector<SlotMove> moves;      // at most one entry per (from, to) pair
  std::vector<ShardSlots> result;   // every final shard with the slots it will own
  uint32_t slots_moved = 0;
};

// current: the group's shards now (their slots must cover 0..16383 exactly once).
// add: ids of new, empty shards. remove: ids of current shards to empty and drop.
// Errors: an id in `remove` that is not current, an id in `add` that already exists, removing
// every shard, or current slots that do not cover the keyspace exactly once.
Result<ReshardPlan> PlanReshard(const std::vector<ShardSlots>& current,
                                const std::vector<std::string>& add,
                                const std::vector<std::string>& remove);

}  // namespace cf::orchestrator
