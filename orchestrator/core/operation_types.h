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
#include <vector>

#include "common/result.h"

namespace cf::orchestrator {

// A reshard (ModifyReplicationGroupShardConfiguration) is one of two kinds, so that each has
// exactly one state machine: scale-out adds node groups, scale-in removes them.
enum class OpKind {
  kCreateGroup,
  kDeleteGroup,
  kReshardScaleOut,
  kReshardScaleIn,
  kIncreaseReplicas,  // IncreaseReplicaCount (replica_count_reconciler.h)
  kDecreaseReplicas,  // DecreaseReplicaCount, DeleteReplicationGroup RetainPrimaryCluster
  kFailover,          // TestFailover, automatic failover, PrimaryClusterId (failover_reconciler.h)
  kRecoverNode,       // restart a held node (as a replica, or in place)
  kModifyFailover,    // ModifyReplicationGroup AutomaticFailoverEnabled / MultiAZEnabled
  kRollingRestart,    // static parameters, RebootCacheCluster, EngineVersion (rolling_restart_reconciler.h)
  kModifyNodeType,    // ModifyReplicationGroup CacheNodeType (node_type_reconciler.h)
};
// "create-group" / "delete-group" / "reshard-scale-out" / "reshard-scale-in" /
// "increase-replica-count" / "decrease-replica-count"
const char* OpKindName(OpKind k);
std::optional<OpKind> ParseOpKind(const std::string& s);
bool IsReshard(OpKind k);

// Which create sequence applies (cluster mode enabled groups need slots and a cluster bus).
enum class Topology { kClusterModeDisabled, kClusterModeEnabled };

// The states of every operation kind. Which states each kind walks, in which order, is data:
// the operation table (OperationTable() below, in operation_types.cc), from which NextState,
// IsValidTransition and the state diagrams of docs/orchestrator.md ("The operation table")
// all come. In words:
//   * create: per topology (CME adds assign-slots, meet, await-membership); past the create
//     deadline (operations.create_timeout_ms) any non-terminal state may go to kRollingBack
//     (stop every node, purge its data), which ends in kFailed (group `create-failed`);
//     kRollingBack is the point of no return of a create;
//   * delete: no way back once recorded (the group never becomes `available` again); the last
//     transition removes the group's records;
//   * reshard (scale out / scale in; cluster mode enabled only): no deadline, no cancel, no
//     rollback (ElastiCache has none either); the point of no return is the first SETSLOT NODE
//     of kMoveSlots, before which nothing has changed for clients (reshard_reconciler.h);
//   * replica count: one path per topology, no deadline, no rollback;
//   * failover: the reason in the payload picks the path (TestFailover kills the primary
//     first; a failover past its deadline before the promotion fails, the old primary
//     restarted in place); recover node; modify failover;
//   * rolling restart: per-node progress lives in the payload; no rollback;
//   * modify node type (node_type_reconciler.h): the old type comes back on failure: straight
//     to kFailed from kPending (a node holds more than the new type: nothing sent), through
//     kRollingBack (every node gets the old maxmemory again) when a node refused or the
//     deadline (operations.node_type_timeout_ms) passed.
// kSucceeded and kFailed are terminal: a finished operation is never overwritten.
enum class OpState {
  kPending,          // recorded, not yet started
  kLaunchNodes,      // create: LaunchNode on every node, in parallel
  kAssignSlots,      // create CME: ClusterAddSlots (+ distinct config epochs) on every node
  kMeet,             // create CME: CLUSTER MEET so every node knows every other
  kAwaitMembership,  // create CME: every node knows every node (handshakes done)
  kReplicate,        // create: ClusterReplicate (CME) / ReplicaOf (CMD) on every replica
  kAwaitHealthy,     // create: replica links up, cluster_state ok, no open slots
  kRollingBack,      // create: deadline passed; stopping nodes, then kFailed (node type: the
                     // old maxmemory back on every node)
  kStopNodes,        // delete: StopNode(purge_data) on every node; scale-in: on removed nodes
  kPlanMoves,        // reshard: slot moves planned from the observed ownership, persisted
  kMoveSlots,        // reshard: MoveSlots streams (parallel across source shards)
  kForgetNodes,      // scale-in: CLUSTER FORGET the removed nodes on every remaining node
  kKillPrimary,      // failover (TestFailover): KillNode on the primary
  kPromote,          // failover: Failover on the chosen replica
  kRepointReplicas,  // failover: the other replicas follow the new primary
  kRecoverNode,      // failover / recover-node: RestartNode of the held node
  kRestartNodes,     // rolling restart: replicas first, switch-over, then the old primary
  kResizeNodes,      // modify node type: ReconfigureNode with the new maxmemory on every node
  kSucceeded,        // terminal
  kFailed,           // terminal
};
const char* OpStateName(OpState s);
std::optional<OpState> ParseOpState(const std::string& s);
bool IsTerminal(OpState s);

// One path of a kind: its states in order (ending in a terminal state, or in the next path's
// start), for one topology or both.
struct OpVariant {
  const char* name = "";  // "" for a kind's only/main path; shown in the docs
  std::optional<Topology> topology;  // nullopt: either topology
  std::vector<OpState> states;
};
// A side exit: from any of `from` (empty: every non-terminal state) straight to `to`.
struct OpSideExit {
  std::vector<OpState> from;
  OpState to = OpState::kFailed;
  const char* why = "";
};
// A kind's row of the operation table.
struct OpKindPaths {
  OpKind kind = OpKind::kCreateGroup;
  bool cluster_mode_only = false;  // no transition is legal in a cluster mode disabled group
  std::vector<OpVariant> variants;  // NextState: the first variant (of the topology) holding `from`
  std::vector<OpSideExit> exits;
};
// The operation table: one row per OpKind, in OpKind order.
const std::vector<OpKindPaths>& OperationTable();
const OpKindPaths& PathsOf(OpKind kind);
// The table as the Markdown block of docs/orchestrator.md ("The operation table").
std::string OperationTableMarkdown();

// Legal: consecutive states of one of the kind's variants for the topology, or a side exit.
bool IsValidTransition(OpKind kind, Topology topology, OpState from, OpState to);
// IsValidTransition as a Status: an error naming both states when illegal.
Status CheckTransition(OpKind kind, Topology topology, OpState from, OpState to);
// The state after `from` on the happy path (kSucceeded after the last step; `from` itself when
// no variant of the topology holds it).
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
  // Reshard: the highest ProgressPercentage shown so far, x1000 (42.5 % -> 42500); the figure
  // users see never goes down.
  int64_t progress_milli = 0;
};

}  // namespace cf::orchestrator
