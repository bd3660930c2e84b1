// Store: the orchestrator's only source of truth, in SQLite (WAL).
//
// Threading: one connection behind `mu_`; every public method takes the mutex for its whole
// duration, so each call is atomic with respect to the others. Every multi-row change runs in
// one BEGIN IMMEDIATE transaction. Methods never call back into user code while holding the
// mutex, except the `place` callback of CreateGroup, which must be pure (the placement planner).
//
// Schema: versioned (schema_version table, migrations applied in order at Open); see
// docs/orchestrator.md for the tables. Records are the structs of orch_types.h and
// operation_types.h.
//
// The interface is domain-level (CreateGroup, BeginDelete, CompleteCreate, ...) rather than
// SQL-level so that a later, replicated backend (etcd) can implement the same calls.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/placement/placement_planner.h"
#include "orchestrator/store/slot_move_record.h"
#include "orchestrator/store/standalone_cluster.h"

namespace cf::orchestrator {

class SqliteDb;

inline constexpr int kSchemaVersion = 7;

// A DescribeEvents query (events_store.cc). Times are inclusive epoch ms; empty strings match
// every source id / type; before_* (from the Marker) keep events strictly older than
// (before_date_ms, before_event_id) in (date, id) order.
struct EventQuery {
  std::string source_id;
  std::string source_type;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::optional<std::pair<int64_t, int64_t>> before;  // (date_ms, event_id)
  int limit = 100;
};

// An event written together with a state change (failover_store.cc).
struct EventToWrite {
  std::string source_id;
  std::string source_type;  // "replication-group" / "cache-cluster"
  std::string message;
};

// What a failover-family step changes together with its transition, in one transaction
// (failover_store.cc). Events are written in this order.
struct FailoverChange {
  std::vector<EventToWrite> events;
  // (node group, node id): that node becomes the node group's desired primary, every other
  // node of the node group a desired replica.
  std::optional<std::pair<std::string, std::string>> new_primary;
  std::map<std::string, std::string> node_status;  // node id -> status
  std::optional<std::string> group_status;         // "available", "modifying", ...
  std::optional<std::string> payload;              // replaces the operation payload
  std::optional<bool> automatic_failover;
  std::optional<bool> multi_az;
  // Rolling restart: node id -> (parameter group, generation) the node now runs: records the
  // generation, clears its last error, and clears pending-reboot unless the parameter group
  // changed since (its generation is no longer the one given).
  std::map<std::string, std::pair<std::string, int64_t>> params_applied;
  std::optional<std::string> engine_version;  // the group's EngineVersion
};

// A user-created cache parameter group (parameter_group_store.cc). `values` are the
// parameters set by ModifyCacheParameterGroup (Source user); `reset` the parameters reset to
// their default since, still sent to the nodes once so that CONFIG SET restores the default.
struct UserParameterGroup {
  std::string name;  // lowercase
  std::string family;
  std::string description;
  int64_t generation = 0;  // changes take the highest of all groups + 1; nodes record theirs
  int64_t create_time_ms = 0;
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> reset;
};

struct ParameterGroupChange {
  std::string name;
  std::map<std::string, std::string> set;    // -> values (Source user)
  std::map<std::string, std::string> reset;  // name -> default value (moves out of values)
  bool requires_reboot = false;              // a static parameter changed
  std::string event_message;
};

// One node whose parameters lag its parameter group (ListParameterApplyTasks).
struct ParameterApplyTask {
  ReplicationGroupRecord group;
  NodeRecord node;
  std::string parameter_group;
  int64_t generation = 0;                     // the group's current generation
  std::map<std::string, std::string> config;  // every set or reset parameter -> value
  int64_t node_generation = 0;                // the generation the node runs (0: never applied)
  bool node_pending_reboot = false;
};

enum class TagResource { kReplicationGroup, kCacheCluster, kParameterGroup };

// ModifyReplicationGroup settings that are only stored (modify_settings.cc); absent = unchanged.
struct GroupSettingsUpdate {
  std::optional<std::string> description;
  std::optional<std::string> snapshotting_cluster_id;
  std::optional<int> snapshot_retention_limit;
  std::optional<std::string> snapshot_window;
  std::optional<std::string> preferred_maintenance_window;
  std::optional<std::string> notification_topic_arn;
  std::optional<std::string> notification_topic_status;  // active | inactive
  std::optional<std::vector<std::string>> security_group_ids;
  std::optional<bool> auto_minor_version_upgrade;
};

// ModifyReplicationGroup CacheParameterGroupName (modify_parameter_group.cc).
struct ParameterGroupSwitch {
  std::string name;                                   // the new group (stored as given)
  bool pending_reboot = false;                        // the group's nodes become pending-reboot
  std::map<std::string, std::string> reset_defaults;  // added to `name` as reset rows (if absent)
  // A built-in group (its family): its row in cache_parameter_groups is created if absent and
  // gets a new generation, so every node using it is brought to its values (reset rows).
  std::string builtin_family;
};

// One ModifyReplicationGroup parameter waiting for the maintenance window (store_pending.cc,
// schema v7). The rows one request recorded share its request_id and are replayed together.
struct PendingModification {
  std::string name;   // the request parameter, e.g. "CacheNodeType"
  std::string value;  // as requested
  int64_t request_id = 0;
  int64_t requested_ms = 0;
};

// A group with pending modifications, as the maintenance scheduler sees it.
struct PendingGroup {
  std::string group_id;
  GroupStatus status = GroupStatus::kAvailable;
  std::string maintenance_window;  // PreferredMaintenanceWindow
  bool operation_running = false;  // an unfinished operation
  std::vector<PendingModification> pending;  // by request_id, then name
};

// Everything CreateReplicationGroup writes, in one transaction.
struct NewGroup {
  ReplicationGroupRecord group;
  std::vector<NodeGroupRecord> node_groups;
  std::vector<NodeRecord> nodes;  // host_id/port/az filled by the place callback
  std::vector<Tag> tags;
  OperationRecord operation;
  std::string event_message;
};

// Everything ModifyReplicationGroupShardConfiguration writes, in one transaction.
struct NewReshard {
  std::string group_id;
  std::vector<NodeGroupRecord> new_node_groups;  // scale-out: status "creating", no slots
  std::vector<NodeRecord> new_nodes;             // host_id/port/az filled by the place callback
  std::vector<std::string> removed_node_groups;  // scale-in
  std::vector<std::string> removed_nodes;        // replica count decrease: set `deleting`
  OperationRecord operation;
  std::string event_message;
};

// The end of a reshard, in one transaction.
struct ReshardCompletion {
  std::map<std::string, SlotRanges> slots;       // every remaining node group's observed slots
  std::vector<std::string> removed_node_groups;  // rows (and their nodes and ports) to delete
  std::vector<std::string> removed_nodes;        // replica count decrease: rows + ports to delete
  std::string event_message;
};

class Store {
 public:
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens (creating) the database and migrates the schema to kSchemaVersion.
  Status Open(const std::string& path);
  int schema_version() const { return schema_version_; }

  // ---- hosts (fleet) ----
  // Inserts or replaces a host (Register). State becomes up, last heartbeat = now_ms.
  Status UpsertHost(const HostRecord& host);
  // Heartbeat: false when the host is unknown or its boot id differs (-> re-register).
  // Also replaces the host's warm pool ports.
  Result<bool> TouchHost(const std::string& host_id, const std::string& boot_id, int64_t now_ms,
                         const std::vector<uint32_t>& warm_cluster_ports = {});
  Result<std::vector<HostRecord>> ListHosts();
  Result<std::optional<HostRecord>> GetHost(const std::string& host_id);
  // Marks up hosts whose last heartbeat is older than now_ms - down_after_ms as down; returns
  // the ids that changed.
  Result<std::vector<std::string>> MarkStaleHostsDown(int64_t now_ms, int64_t down_after_ms);
  // Writes the observed columns of the host's nodes (unknown node ids are ignored and
  // returned, so that the caller can report orphans).
  Result<std::vector<std::string>> RecordObservations(
      const std::string& host_id, const std::vector<std::pair<std::string, ObservedNode>>& obs);

  // ---- replication groups ----
  Result<bool> GroupExists(const std::string& group_id);
  // In one transaction: reads the fleet, calls place (which fills the nodes' placement or
  // fails), then writes the group, node groups, nodes, port allocations, tags, operation and
  // event. Returns the operation id. Errors: the place callback's error unchanged;
  // Errc::kAlreadyExists when the id is taken.
  Result<int64_t> CreateGroup(
      NewGroup g,
      const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place);
  Result<std::optional<GroupView>> GetGroup(const std::string& group_id);
  // Groups with id > after_id, ordered by id, at most limit.
  Result<std::vector<GroupView>> ListGroups(const std::string& after_id, int limit);
  // Delete: checks the group exists (kNotFound) and may be deleted (available or create-failed,
  // and no operation running: kFailedPrecondition), then sets it and its nodes `deleting`,
  // records op and an event. Returns the group as it now is and the operation id.
  Result<std::pair<GroupView, int64_t>> BeginDelete(const std::string& group_id, OperationRecord op,
                                                    const std::string& event_message);

  // ---- nodes ----
  Status SetNodeClusterId(const std::string& node_id, const std::string& cluster_node_id);
  Status SetNodeStatus(const std::string& node_id, const std::string& status);
  // The node's port is taken by a process we do not manage: blocks it until block_until_ms,
  // moves the node to the lowest free port of its host and returns it (kResourceExhausted
  // when the host has none left).
  Result<uint32_t> ReallocateNodePort(const std::string& node_id, uint32_t bad_port,
                                      int64_t block_until_ms);

  // ---- operations ----
  Result<std::vector<OperationRecord>> ListUnfinishedOperations();
  Result<std::optional<OperationRecord>> GetOperation(int64_t op_id);
  // Takes the operation over: attempt++; returns the record with the new attempt.
  Result<OperationRecord> ClaimOperation(int64_t op_id);
  // Moves op from op.state to `to` (CheckTransition) if its row still has op.attempt and
  // op.state; kFailedPrecondition otherwise (a newer attempt owns it). Updates op in place.
  Status TransitionOperation(OperationRecord& op, OpState to, const std::string& step);
  // Updates the current step text only (same compare-and-set).
  Status SetOperationStep(OperationRecord& op, const std::string& step);
  // Records a retryable failure: retries++, last_error.
  Status RecordOperationError(OperationRecord& op, const std::string& error);
  // kAwaitHealthy -> kSucceeded, group/node groups/nodes available, event; one transaction.
  Status CompleteCreate(OperationRecord& op, const std::string& event_message);
  // kRollingBack -> kFailed, group create-failed, event; one transaction.
  Status FailCreate(OperationRecord& op, const std::string& event_message);
  // kStopNodes -> kSucceeded; removes nodes, ports, node groups, tags and the group; event.
  Status CompleteDelete(OperationRecord& op, const std::string& event_message);

  // ---- resharding (ModifyReplicationGroupShardConfiguration) ----
  // In one transaction: the group must exist (kNotFound), be `available` and have no unfinished
  // operation (kFailedPrecondition); reads the fleet, calls place for the new nodes, writes the
  // new node groups, nodes and ports, marks the removed node groups and their nodes `deleting`,
  // sets the group `modifying`, records the operation and the event. Returns the group as it
  // now is and the operation id. Placement errors are returned unchanged.
  Result<std::pair<GroupView, int64_t>> BeginReshard(
      NewReshard r,
      const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place);
  // kPlanMoves -> kMoveSlots together with the planned moves (replacing any earlier rows of
  // the operation) and every node group's planned final slots; one transaction.
  Status SavePlannedMoves(OperationRecord& op, const std::vector<SlotMoveRecord>& moves,
                          const std::map<std::string, SlotRanges>& planned_slots,
                          const std::string& step);
  Result<std::vector<SlotMoveRecord>> ListSlotMoves(int64_t op_id);
  // A new MoveSlots attempt: attempt + 1, status running (started_ms set once). Compare-and-set
  // on the operation's attempt (kFailedPrecondition when stale). Returns the new attempt.
  Result<int64_t> StartSlotMoveAttempt(const OperationRecord& op, const std::string& move_id);
  // Writes a move's progress (slots_done, keys, bytes, status; finished_ms when done) if the
  // row still has m.attempt and the operation op.attempt (else kFailedPrecondition: a newer
  // attempt owns it).
  Status RecordSlotMoveProgress(const OperationRecord& op, const SlotMoveRecord& m);
  // A failed MoveSlots attempt: the move's retries + 1, last_error, status retrying; the
  // operation's retries + 1 and last_error; an event when event_message is not empty. Same
  // compare-and-set as RecordSlotMoveProgress.
  Status RecordSlotMoveError(OperationRecord& op, const std::string& move_id, int64_t attempt,
                             const std::string& error, const std::string& event_message);
  // progress_milli = max(progress_milli, value); updates op.progress_milli.
  Status RaiseReshardProgress(OperationRecord& op, int64_t progress_milli);
  // Replaces the slots column of the given node groups (observed ownership).
  Status SetNodeGroupSlots(const std::string& group_id,
                           const std::map<std::string, SlotRanges>& slots);
  // op -> kSucceeded; removes the removed node groups with their nodes and ports; every other
  // node group gets its slots and `available`, every node `available`, the group `available`;
  // event. One transaction.
  Status CompleteReshard(OperationRecord& op, const ReshardCompletion& c);
  // Operations for GET /cachefleet/operations: of one group ("" = all groups), every
  // unfinished one plus the `finished_limit` most recently finished, newest first.
  Result<std::vector<OperationRecord>> ListOperations(const std::string& group_id,
                                                      int finished_limit);

  // ---- failover (failover_store.cc) ----
  // In one transaction: loads the group (kNotFound), lets check refuse (its error unchanged;
  // it runs under the store lock and must be pure), inserts op (kFailedPrecondition when
  // another operation of the group is unfinished), applies change, and returns the group as it
  // now is with the operation id.
  Result<std::pair<GroupView, int64_t>> BeginGroupOperation(
      const std::string& group_id, OperationRecord op,
      const std::function<Status(const GroupView&)>& check, const FailoverChange& change);
  // op -> `to` and change in one transaction; compare-and-set like TransitionOperation.
  Status TransitionWithChange(OperationRecord& op, OpState to, const std::string& step,
                              const FailoverChange& change);
  // Replaces op's payload (same compare-and-set).
  Status SetOperationPayload(OperationRecord& op, const std::string& payload);
  // Operations of `kind` on the group created at or after since_ms whose payload is LIKE
  // payload_like ("%" = any).
  Result<int> CountOperationsSince(const std::string& group_id, OpKind kind,
                                   const std::string& payload_like, int64_t since_ms);
  // The latest finished_ms of the group's operations (0 when none finished).
  Result<int64_t> LastOperationFinishedMs(const std::string& group_id);

  // ---- standalone cache clusters (store_standalone.cc) ----
  // RetainPrimaryCluster: kStopNodes -> kSucceeded; the group's node `primary_node_id` becomes
  // a standalone cache cluster (its port stays reserved), everything else of the group is
  // removed as CompleteDelete does; events on the group and the cluster. One transaction.
  Status CompleteRetainPrimary(OperationRecord& op, const std::string& primary_node_id,
                               const std::string& event_message);
  Result<std::vector<StandaloneCluster>> ListStandaloneClusters();
  // DeleteCacheCluster (standalone_delete.cc): kNotFound when no standalone cluster has the id;
  // kFailedPrecondition when the id is a member of a replication group, or the cluster is not
  // `available`; else one transaction sets it `deleting` and writes the event.
  Status BeginDeleteStandalone(const std::string& cluster_id, const std::string& event_message);
  // The reaper, once the agent stopped the node: deletes the `deleting` row, frees its port
  // reservation, event; one transaction (nothing when the row is gone).
  Status CompleteDeleteStandalone(const std::string& cluster_id, const std::string& event_message);
  // ModifyReplicationGroup settings (modify_settings.cc): the group must be `available` with
  // no unfinished operation (kFailedPrecondition); writes u and an event; returns the group.
  Result<GroupView> UpdateGroupSettings(const std::string& group_id, const GroupSettingsUpdate& u,
                                        const std::string& event_message);
  // ModifyReplicationGroup CacheParameterGroupName (modify_parameter_group.cc): same
  // preconditions as UpdateGroupSettings; switches the group's parameter group, sets its nodes'
  // pending-reboot flag, adds sw.reset_defaults, event; returns the group.
  Result<GroupView> SwitchParameterGroup(const std::string& group_id,
                                         const ParameterGroupSwitch& sw,
                                         const std::string& event_message);
  // ModifyReplicationGroup CacheNodeType (modify_node_type.cc), once every node runs it:
  // records the group's node type and maxmemory, event; returns the group.
  Result<GroupView> SetGroupNodeType(const std::string& group_id, const std::string& type,
                                     uint64_t maxmemory_bytes, const std::string& event_message);

  // ---- rolling restart (rolling_restart_store.cc) ----
  // op keeps its state; its payload and step are replaced and change applied, in one
  // transaction (compare-and-set like TransitionOperation).
  Status UpdateOperationWithChange(OperationRecord& op, const std::string& step,
                                   const std::string& payload, const FailoverChange& change);
  // The node's running parameters lag a static value (ParameterApplyStatus pending-reboot).
  Status MarkPendingReboot(const std::string& node_id);
  // Groups that are `available` with no unfinished operation and have available nodes that are
  // pending-reboot: group id -> those nodes.
  Result<std::map<std::string, std::vector<std::string>>> GroupsPendingReboot();

  // ---- pending modifications (store_pending.cc, schema v7) ----
  // ApplyImmediately=false: in one transaction, deletes the rows of `clear`, records `set`
  // (replacing earlier values of the same parameters; the rows get one new request id) and
  // writes the event (none when event_message is empty). kNotFound when the group is unknown.
  // Returns the group as it now is.
  Result<GroupView> RecordPendingModifications(const std::string& group_id,
                                               const std::map<std::string, std::string>& set,
                                               const std::vector<std::string>& clear,
                                               const std::string& event_message);
  // ApplyImmediately=true supersedes: deletes the group's rows of these parameters; returns
  // how many there were.
  Result<int> ClearPendingModifications(const std::string& group_id,
                                        const std::vector<std::string>& names);
  // Every group with at least one pending row.
  Result<std::vector<PendingGroup>> ListPendingGroups();
  // After a replay (applied or refused): deletes the batch's rows that still hold the batch's
  // request id (a newer request's value stays) and writes the event, in one transaction.
  Status FinishPendingModifications(const std::string& group_id,
                                    const std::vector<PendingModification>& batch,
                                    const std::string& event_message);

  // ---- events ----
  Status AddEvent(const std::string& source_id, const std::string& source_type,
                  const std::string& message, int64_t date_ms);
  Result<std::vector<EventRecord>> ListEvents(const std::string& source_id);
  // DescribeEvents (events_store.cc): first deletes events dated before prune_before_ms (the
  // 14-day retention), then returns the events matching q, newest first, at most q.limit.
  Result<std::vector<EventRecord>> QueryEvents(const EventQuery& q, int64_t prune_before_ms);

  // ---- user-created cache parameter groups (parameter_group_store.cc, schema v4) ----
  // Errors: kAlreadyExists (name taken), kResourceExhausted (max_groups user groups exist).
  // Writes the group, its tags and an event in one transaction.
  Status CreateParameterGroup(const UserParameterGroup& g, const std::vector<Tag>& tags,
                              int max_groups, const std::string& event_message);
  Result<std::vector<UserParameterGroup>> ListParameterGroups();
  Result<std::optional<UserParameterGroup>> GetParameterGroup(const std::string& name);
  // Replication groups (ids) whose CacheParameterGroupName is `name`.
  Result<std::vector<std::string>> GroupsUsingParameterGroup(const std::string& name);
  // kNotFound; kFailedPrecondition while a replication group uses it. Removes its values and
  // tags too; event.
  Status DeleteParameterGroup(const std::string& name, const std::string& event_message);
  // One transaction: applies c (values, a new generation; the nodes of every replication group
  // using it become pending-reboot when c.requires_reboot), event. kNotFound when unknown.
  Status ChangeParameterGroup(const ParameterGroupChange& c);
  // Nodes whose generation differs from their parameter group's (the applier's work list):
  // available nodes of available/modifying groups that use a user-created group, except the
  // groups whose rolling restart is running (it applies the values itself).
  Result<std::vector<ParameterApplyTask>> ListParameterApplyTasks();
  // The node now runs generation `generation`; clears its last error.
  // With `expected`, only if the node's generation is still that (the value the task was
  // listed with): a node re-specced meanwhile (MarkNodesRespec) stays due.
  Status MarkParametersApplied(const std::string& node_id, int64_t generation,
                               std::optional<int64_t> expected = std::nullopt);
  // The group's nodes must be sent their spec again (generation -1: due for the applier), e.g.
  // after AutomaticFailoverEnabled changed their hold_max_ms (failover_reconciler.cc).
  Status MarkNodesRespec(const std::string& group_id);
  Status RecordParameterApplyError(const std::string& node_id, const std::string& error);
  // node id -> ParameterApplyStatus (in-sync / applying / pending-reboot) of every node.
  Result<std::map<std::string, std::string>> ParameterApplyStatuses();

  // ---- tags by resource (tags_store.cc) ----
  // nullopt = the resource does not exist (a parameter group that `builtin` says exists is
  // taken as existing). Replication groups use the `tags` table, cache clusters and
  // parameter groups their own (v4).
  Result<std::optional<std::vector<Tag>>> GetTags(TagResource kind, const std::string& id,
                                                  bool builtin = false);
  // One transaction: adds/overwrites `add`, then removes `remove`. kNotFound when a key to
  // remove is absent (nothing changes), kResourceExhausted when the result exceeds max_tags.
  // nullopt = resource not found. Returns the resulting tags.
  Result<std::optional<std::vector<Tag>>> ChangeTags(TagResource kind, const std::string& id,
                                                     bool builtin, const std::vector<Tag>& add,
                                                     const std::vector<std::string>& remove,
                                                     int max_tags);

 private:
  Status Migrate();
  Result<GroupView> LoadGroupLocked(const std::string& group_id);
  // The group, if it is `available` with no unfinished operation (else FAILED_PRECONDITION
  // saying which): the check of every in-request change made in one transaction.
  Result<GroupView> LoadIdleAvailableGroupLocked(const std::string& group_id);
  Status TransitionLocked(OperationRecord& op, OpState to, const std::string& step, int64_t now);
  Status FinishCreateLocked(OperationRecord& op, OpState to, const std::string& status,
                            const char* group_guard, const char* node_guard,
                            const std::string& event_message);
  Status AddEventLocked(const std::string& source_id, const std::string& source_type,
                        const std::string& message, int64_t date_ms);
  Status ApplyFailoverChangeLocked(const std::string& group_id, const FailoverChange& c,
                                   int64_t now);
  Status LoadPendingLocked(const std::string& group_id, std::map<std::string, std::string>& out);

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;  // guarded by mu_
  int schema_version_ = 0;
};

}  // namespace cf::orchestrator
