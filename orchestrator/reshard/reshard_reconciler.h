// ReshardReconciler: carries out ModifyReplicationGroupShardConfiguration (the reshard-scale-out
// and reshard-scale-in operations; state diagrams in operation_types.h) through the agents.
//
// Steps (each idempotent; its completion is committed with the transition):
//   launch-nodes      scale-out: LaunchNode on the new nodes (group_formation.h).
//   meet              scale-out: every new node meets every node (a star on the first node
//                     above kFullMeshMaxNodes nodes).
//   await-membership  scale-out: every node of the group knows every node, no handshakes.
//   replicate         scale-out: the new replicas follow their new primaries.
//   plan-moves        reads every node's view, requires agreement on slot ownership, no open
//                     slot and cluster_state ok everywhere (a new primary answers MIGRATE with
//                     CLUSTERDOWN until it sees every slot covered), maps owners to node
//                     groups, PlanReshard (reshard_planner.h) from that
//                     OBSERVED ownership, estimates each move's keys from the source's observed
//                     keys per slot, and persists the moves (slot_moves) together with the
//                     transition and every node group's planned final slots. Event "Moving ...".
//   move-slots        runs the moves (below) until every one is done.
//   await-healthy     the full health gate over the remaining nodes against the planned final
//                     slots (every remaining node agrees, cluster_state ok, no open slot,
//                     replicas linked). Scale-out ends here: one transaction makes the node
//                     groups, nodes and the group `available` with the observed slots; event
//                     "Finished ..." with slots, keys, bytes, seconds and keys/s.
//   forget-nodes      scale-in: checks every removed node owns no slot (and a removed master
//                     holds no key), then CLUSTER FORGET of every removed node on EVERY remaining
//                     node, replicas included, all in parallel (Redis bans a forgotten id for 60
//                     s only, so all of them must forget it within that window).
//   stop-nodes        scale-in: after removed_node_grace_ms (default 2 s, counted from the
//                     transition into this state, so a resumed operation does not wait twice)
//                     during which the removed nodes stay up and answer MOVED to clients with a
//                     stale slot map, StopNode(purge) of the removed nodes, FORGET once more everywhere
//                     (cheap, catches a node that re-learned an id), then one transaction removes
//                     the removed node groups, their nodes and ports and makes the rest
//                     `available`; event "Finished ...".
//
// Moves (move-slots). One thread per source node group runs that source's moves one after
// another (a source may have only one MoveSlots running: the agent refuses a second, and open
// slots of two movers on one node are the classic stuck-slot cause); moves of different sources
// run in parallel. For each attempt of a move:
//   1. reload the group (agent endpoints change when an agent restarts) and poll every node:
//      the source is the source node group's CURRENT master (observed, so a failover between
//      attempts is followed), the target the target group's master, the other primaries every
//      other master;
//   2. slots left = planned - done - slots the target already owns; none left -> done;
//   3. the attempt number is bumped in the store (compare-and-set on the operation's attempt);
//   4. MoveSlots(move_id, attempt, slots left) on the source's agent; every streamed message
//      of THIS attempt (older ones are ignored) updates the move's figures in memory; they are
//      persisted every move_progress_write_ms and when the move is done (never per key);
//   5. a broken stream or an error: retries and last_error on the move and the operation, an
//      event (at most one per move every move_error_event_interval_ms), jittered exponential
//      backoff (retry_initial_backoff_ms .. retry_max_backoff_ms), then the next attempt.
//      There is no retry limit: the operation stays `modifying` and the watchdog and
//      last_error show why.
// Meanwhile the step's own thread computes the progress (reshard_progress.h) every 100 ms,
// raises the persisted ProgressPercentage (never lowered), publishes the rate and ETA on the
// ReshardLiveBoard, updates the step text and logs one info line per progress_log_interval_ms.
//
// Crash behaviour: kill -9 of the orchestrator loses at most move_progress_write_ms of figures.
// On restart the runner resumes the operation in its state; move-slots reloads the moves and
// issues MoveSlots for what is left with a higher attempt (the agent's mover finishes any slot
// left open and reports slots the target already owns as done; its registry lets a higher
// attempt supersede a stream of the dead process). kill -9 of the source agent breaks the
// stream: the move is retried with backoff until the agent is back (it re-adopts its nodes).
// A stopping orchestrator (SIGTERM) cancels its streams; the agent stops its mover between
// batches and rolls back untouched slots of the current window.
//
// Threading: Step runs on a runner worker; move threads and the reporter share one MoveState
// (mutex). No cancel: the point of no return is the first SETSLOT NODE of move-slots.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "orchestrator/operations/reconciler_context.h"
#include "orchestrator/reshard/reshard_progress.h"
#include "orchestrator/reshard/reshard_types.h"

namespace cf::orchestrator {

class ReshardReconciler final : public Reconciler {
 public:
  // board may be nullptr (no live rate published).
  ReshardReconciler(ReconcilerDeps deps, ReshardLiveBoard* board)
      : Reconciler(std::move(deps)), board_(board) {}
  Status Step(OperationRecord& op, const std::atomic<bool>& stop) override;

 private:
  struct Context;  // the group, the inputs and the node partition of one Step
  struct MoveState;

  Status Advance(OperationRecord& op, const std::string& step);
  Status LaunchNewNodes(OperationRecord& op, const Context& c);
  Status MeetNewNodes(OperationRecord& op, const Context& c);
  Status AwaitMembership(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status ReplicateNewNodes(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status PlanMoves(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status RunMoves(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  void RunSourceMoves(OperationRecord& op, const Context& c, MoveState& st,
                      std::vector<size_t> move_indexes, const std::atomic<bool>& stop);
  // One move until done, stopped or aborted (stale attempt): attempts with backoff between
  // them (reshard_moves.cc).
  void RunOneMove(OperationRecord& op, const Context& c, MoveState& st, size_t index,
                  const std::atomic<bool>& stop);
  struct MoveEnds;  // who is who for one attempt of a move, and what is left of it
  // Who is who now (reloaded: an agent that restarted re-registers with a new endpoint) and
  // what is left of the move; no source when nothing is left. nullopt (and `error`) when an
  // end has no reachable primary or the group cannot be loaded.
  std::optional<MoveEnds> FindMoveEnds(const OperationRecord& op, MoveState& st, size_t index,
                                       const SlotMoveRecord& plan, std::string& error);
  // One attempt: the ends, a new attempt number, the MoveSlots stream. True when the move is
  // done or the reshard stops; else `error` says why (`attempt` 0: no call was made).
  bool AttemptMove(OperationRecord& op, MoveState& st, size_t index, const SlotMoveRecord& plan,
                   const std::atomic<bool>& stop, int64_t& attempt, std::string& error);
  // The MoveSlots stream of one attempt; its progress messages update and persist the move
  // (replies of older attempts are ignored). True when done or stopped.
  bool StreamMove(OperationRecord& op, MoveState& st, size_t index, const MoveEnds& ends,
                  const pb::MoveSlotsRequest& req, uint64_t base_keys, uint64_t base_bytes,
                  const std::atomic<bool>& stop, std::string& error);
  // A failed attempt: retries and last_error on the move, a rate-limited event, the store.
  // False when a newer attempt owns the operation (stop).
  bool RecordMoveFailure(OperationRecord& op, MoveState& st, size_t index,
                         const SlotMoveRecord& plan, int64_t attempt, const std::string& error);
  void Report(OperationRecord& op, MoveState& st, bool force_log);
  Status AwaitHealthy(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status ForgetRemoved(OperationRecord& op, const Context& c);
  Status ForgetEverywhere(const Context& c);
  Status StopRemoved(OperationRecord& op, const Context& c, const std::atomic<bool>& stop);
  Status Complete(OperationRecord& op, const Context& c);

  ReshardLiveBoard* board_;
};

// ---- internal to the reconciler's two files (reshard_reconciler.cc, reshard_moves.cc) ---------
// The per-Step context and the small helpers both use. Not for other folders.

struct ReshardReconciler::Context {
  LoadedGroup g;
  ReshardInputs in;
  std::set<std::string> added;
  std::set<std::string> removed;
  std::vector<NodeRecord> new_nodes;
  std::vector<NodeRecord> removed_nodes;
  std::vector<NodeRecord> remaining_nodes;  // everything but the removed nodes
  bool scale_out() const { return !added.empty(); }
};

namespace reshard_detail {

// "[<group>/reshard#<id>]", the entity every log line of the operation starts with.
std::string OpTag(const OperationRecord& op);
// "1.5 MB"
std::string Bytes(uint64_t b);
// v with `decimals` decimals.
std::string Fixed(double v, int decimals);
SlotRanges FromPb(const google::protobuf::RepeatedPtrField<pb::SlotRange>& ranges);

}  // namespace reshard_detail

}  // namespace cf::orchestrator
