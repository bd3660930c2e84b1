// Durable operations: their kinds, the state machine each kind walks, and the record the store
// keeps for them (DESIGN.md "Durable operations"; STYLE.md #3, #5, #7).
//
// An operation is created in the same transaction as the desired state it carries out (the
// frontend writes both), picked up by a worker (operation_runner.h) and advanced one step at a
// time by its reconciler. Each step is idempotent and its completion is committed together
// with the transition to the next state, so a restarted orchestrator resumes every unfinished
// operation at the step it was in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace cf::orchestrator {

enum class OpKind { kCreateGroup, kDeleteGroup };
const char* OpKindName(OpKind k);  // "create-group" / "delete-group"
std::optional<OpKind> ParseOpKind(const std::string& s);

// Which create sequence applies (cluster mode enabled groups need slots and a cluster bus).
enum class Topology { kClusterModeDisabled, kClusterModeEnabled };

// The states of every operation kind.
//
// Create, cluster mode enabled (CME):
//
//   kPending ─► kLaunchNodes ─► kAssignSlots ─► kMeet ─► kAwaitMembership ─► kReplicate
//                                                                                │
//                                      kSucceeded ◄─ kAwaitHealthy ◄─────────────┘
//
// Create, cluster mode disabled (CMD):
//
//   kPending ─► kLaunchNodes ─► kReplicate ─► kAwaitHealthy ─► kSucceeded
//
// Create, either topology: once the create deadline (operations.create_timeout_ms) has passed,
// any non-terminal state may go to kRollingBack (stop every node, purge its data), which ends in
// kFailed (group `create-failed`). kRollingBack is the point of no return of a create.
//
// Delete (no way back once recorded; the group never becomes `available` again):
//
//   kPending ─► kStopNodes ─► kSucceeded   (the last transition removes the group's records)
//
// kSucceeded and kFailed are terminal: a finished operation is never overwritten.
enum class OpState {
  kPending,          // recorded, not yet started
  kLaunchNodes,      // create: LaunchNode on every node, in parallel
  kAssignSlots,      // create CME: ClusterAddSlots (+ distinct config epochs) on every node
  kMeet,             // create CME: CLUSTER MEET so every node knows every other
  kAwaitMembership,  // create CME: every node knows every node (handshakes done)
  kReplicate,        // create: ClusterReplicate (CME) / ReplicaOf (CMD) on every replica
  kAwaitHealthy,     // create: replica links up, cluster_state ok, no open slots
  kRollingBack,      // create: deadline passed; stopping nodes, then kFailed
  kStopNodes,        // delete: StopNode(purge_data) on every node, in parallel
  kSucceeded,        // terminal
  kFailed,           // terminal
};
const char* OpStateName(OpState s);
std::optional<OpState> ParseOpState(const std::string& s);
bool IsTerminal(OpState s);

// The one place that knows the legal transitions (see the diagram above).
bool IsValidTransition(OpKind kind, Topology topology, OpState from, OpState to);
// IsValidTransition as a Status: an error naming both states when illegal.
Status CheckTransition(OpKind kind, Topology topology, OpState from, OpState to);
// The state after `from` on the happy path (kSucceeded after the last step).
OpState NextState(OpKind kind, Topology topology, OpState from);

struct OperationRecord {
  int64_t id = 0;
  std::string group_id;
  OpKind kind = OpKind::kCreateGroup;
  Topology topology = Topology::kClusterModeDisabled;
  OpState state = OpState::kPending;
  std::string step;        // human-readable detail of the current step
  int64_t attempt = 0;     // incremented each time a worker takes the operation over
  int64_t retries = 0;     // failed step executions so far
  std::string last_error;  // last retryable error ("" when none)
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t deadline_ms = 0;  // create: when to give up; 0 = never (delete)
  int64_t finished_ms = 0;
  std::string payload;  // JSON, kind-specific
};

}  // namespace cf::orchestrator
