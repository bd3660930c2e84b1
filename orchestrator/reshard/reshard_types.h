// Records of a reshard (ModifyReplicationGroupShardConfiguration): the inputs the frontend
// validated (kept as the operation's JSON payload) and the planned slot moves with their
// persisted progress (the `slot_moves` table). Plain structs; JSON only in the .cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/slot_range.h"

namespace cf::orchestrator {

// ---- the planned slot moves (the `slot_moves` table) ----

enum class SlotMoveStatus { kPending, kRunning, kRetrying, kDone };
const char* SlotMoveStatusName(SlotMoveStatus s);  // "pending" / "running" / "retrying" / "done"
std::optional<SlotMoveStatus> ParseSlotMoveStatus(const std::string& s);

// One planned move: every slot of `slots` goes from node group `from` to node group `to`.
// Moves with the same source run one after another, moves of different sources in parallel.
struct SlotMoveRecord {
  int64_t op_id = 0;
  std::string move_id;  // "<op>:<from>-><to>", unique per operation, stable across restarts
  int seq = 0;          // position in the plan
  std::string from_node_group;
  std::string to_node_group;
  SlotRanges slots;       // planned, normalized
  SlotRanges slots_done;  // reported moved (owned by the target), normalized
  // Keys expected in the move before the mover reports (observed keys per slot of the source at
  // plan time x slots): keeps the progress denominator close to its final value from the start.
  uint64_t keys_estimate = 0;
  // The mover's count for the whole move (keys moved by earlier attempts + the keys it counted
  // in the slots still to move when the current attempt started); -1 until first reported.
  int64_t keys_total = -1;
  uint64_t keys_moved = 0;   // cumulative over attempts
  uint64_t bytes_moved = 0;  // cumulative over attempts (MEMORY USAGE estimate)
  int64_t attempt = 0;       // MoveSlots attempt number; bumped before every call
  SlotMoveStatus status = SlotMoveStatus::kPending;
  int64_t retries = 0;
  std::string last_error;
  int64_t started_ms = 0;
  int64_t updated_ms = 0;
  int64_t finished_ms = 0;

  uint32_t slots_planned() const { return CountSlots(slots); }
  uint32_t slots_moved() const { return CountSlots(slots_done); }
  // The keys this move is expected to carry: the mover's figure once known, else the estimate.
  uint64_t keys_expected() const {
    return keys_total >= 0 ? static_cast<uint64_t>(keys_total) : keys_estimate;
  }
};

// ---- the request ----

// One node group a scale-out adds.
struct NewNodeGroupSpec {
  std::string node_group_id;               // "0004"
  std::vector<std::string> preferred_azs;  // primary first; may be shorter than the shard
};

// What the request asked for, after validation. Stored as the operation payload so that a
// resumed operation knows the plan inputs without re-deriving them from the (changing) group.
struct ReshardInputs {
  int from_count = 0;                 // node groups before
  int to_count = 0;                   // node groups after
  int replicas_per_node_group = 0;    // replicas of every new node group
  std::vector<NewNodeGroupSpec> add;  // scale-out
  std::vector<std::string> remove;    // scale-in: ids of the node groups to remove
};

std::string ReshardInputsToJson(const ReshardInputs& in);
Result<ReshardInputs> ReshardInputsFromJson(const std::string& json);

// Slots of `planned` not in `done`.
SlotRanges SubtractSlots(const SlotRanges& planned, const SlotRanges& done);

}  // namespace cf::orchestrator
