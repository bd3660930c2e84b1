// SlotCompleter: the completion step of a move (phase kCompleting) — SETSLOT NODE for slots
// whose keys are all on the target: the target first (the point of no return), then the
// source and, without waiting, every other primary. Quiet batches (STABLE + NODE, no epoch
// bump) when the target's epoch is already above the source's. The design and its costs are in
// slot_mover.h (step 3d) and above Complete in slot_completion.cc. Internal to slots/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/slots/move_session.h"

namespace cf::agent {

class SlotCompleter {
 public:
  explicit SlotCompleter(MoveSession& session) : s_(session) {}

  // Completes a batch; returns the slots the source refused because it still holds keys
  // (they go back to the MIGRATE rounds); errors are fatal. final_batch: the call's last
  // batch ends with a plain NODE (one PONG tells every node).
  Result<std::vector<uint32_t>> Complete(const std::vector<uint32_t>& slots,
                                         bool final_batch = false);
  // Slots the source already gave up (kFinishOnTarget): the target claims them at once.
  Status FinishOnTarget(const std::vector<uint32_t>& slots);
  // SETSLOT S NODE <dst> on every other primary, written without waiting (best effort).
  void NodeOnOthersSend(const std::vector<uint32_t>& slots);
  // Reads every outstanding reply of the other primaries (end of the call).
  void DrainOthers();

  uint64_t quiet_batches() const { return quiet_batches_; }
  uint64_t bump_batches() const { return bump_batches_; }

 private:
  void PeerDown(Peer& o, const std::string& why);
  // Reads the replies of NODE commands sent to another primary.
  void DrainOther(Peer& o);
  Result<bool> TargetEpochAboveSource();

  MoveSession& s_;
  uint64_t quiet_batches_ = 0, bump_batches_ = 0;  // completion batches by kind
};

}  // namespace cf::agent
