#include "orchestrator/store/slot_move_record.h"

namespace cf::orchestrator {

const char* SlotMoveStatusName(SlotMoveStatus s) {
  switch (s) {
    case SlotMoveStatus::kPending:
      return "pending";
    case SlotMoveStatus::kRunning:
      return "running";
    case SlotMoveStatus::kRetrying:
      return "retrying";
    case SlotMoveStatus::kDone:
      return "done";
  }
  return "unknown";
}

std::optional<SlotMoveStatus> ParseSlotMoveStatus(const std::string& s) {
  for (SlotMoveStatus m : {SlotMoveStatus::kPending, SlotMoveStatus::kRunning,
                           SlotMoveStatus::kRetrying, SlotMoveStatus::kDone})
    if (s == SlotMoveStatusName(m)) return m;
  return std::nullopt;
}

}  // namespace cf::orchestrator
