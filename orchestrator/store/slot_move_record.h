// A planned slot move of a reshard and its persisted progress (the `slot_moves` table).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/slot_range.h"

namespace cf::orchestrator {

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

}  // namespace cf::orchestrator
