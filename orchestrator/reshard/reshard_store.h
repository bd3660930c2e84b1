// ReshardStore: the resharding records (ModifyReplicationGroupShardConfiguration): the planned slot
// moves, their attempts and progress. BeginReshard and CompleteReshard, shared with the
// replica-count changes, are the base GroupStore's (store/store.h).
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, reshard_store.cc).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "orchestrator/reshard/reshard_types.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

class ReshardStore {
 public:
  virtual ~ReshardStore() = default;

  // kPlanMoves -> kMoveSlots together with the planned moves (replacing any earlier rows of
  // the operation) and every node group's planned final slots; one transaction.
  virtual Status SavePlannedMoves(OperationRecord& op, const std::vector<SlotMoveRecord>& moves,
                                  const std::map<std::string, SlotRanges>& planned_slots,
                                  const std::string& step) = 0;
  virtual Result<std::vector<SlotMoveRecord>> ListSlotMoves(int64_t op_id) = 0;
  // A new MoveSlots attempt: attempt + 1, status running (started_ms set once). Compare-and-set
  // on the operation's attempt (kFailedPrecondition when stale). Returns the new attempt.
  virtual Result<int64_t> StartSlotMoveAttempt(const OperationRecord& op,
                                               const std::string& move_id) = 0;
  // Writes a move's progress (slots_done, keys, bytes, status; finished_ms when done) if the
  // row still has m.attempt and the operation op.attempt (else kFailedPrecondition: a newer
  // attempt owns it).
  virtual Status RecordSlotMoveProgress(const OperationRecord& op, const SlotMoveRecord& m) = 0;
  // A failed MoveSlots attempt: the move's retries + 1, last_error, status retrying; the
  // operation's retries + 1 and last_error; an event when event_message is not empty. Same
  // compare-and-set as RecordSlotMoveProgress.
  virtual Status RecordSlotMoveError(OperationRecord& op, const std::string& move_id,
                                     int64_t attempt, const std::string& error,
                                     const std::string& event_message) = 0;
  // progress_milli = max(progress_milli, value); updates op.progress_milli.
  virtual Status RaiseReshardProgress(OperationRecord& op, int64_t progress_milli) = 0;
  // Replaces the slots column of the given node groups (observed ownership).
  virtual Status SetNodeGroupSlots(const std::string& group_id,
                                   const std::map<std::string, SlotRanges>& slots) = 0;
};

// The ReshardStore of base's database: the implementation provided with Store::Provide, else the
// SQLite one (built on first use).
ReshardStore& ReshardStoreOf(Store& base);

}  // namespace cf::orchestrator
