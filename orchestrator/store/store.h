// Store: the orchestrator's only source of truth, in SQLite (WAL). This is the base store: the
// records every feature shares (hosts, groups with their node groups and nodes, ports,
// operations and their transitions, events). Each feature's own records are behind its own
// interface in the feature's folder (reshard/reshard_store.h, parameters/parameter_group_store.h,
// tags/tag_store.h, events/event_query_store.h, modify/modify_store.h, groups/standalone_store.h,
// rolling_restart/rolling_restart_store.h, failover/failover_store.h), reached with
// `<Feature>StoreOf(store)` and implemented over the same database in that feature's
// *_store.cc (with the shared transactional helpers of store_txn.h).
//
// Threading: one connection (SqliteDb) behind its mutex; every call of this store and of every
// feature store takes the mutex for its whole duration, so each call is atomic with respect to
// all others. Every multi-row change runs in one BEGIN IMMEDIATE transaction. Methods never
// call back into user code while holding the mutex, except the `place` callback of CreateGroup
// and BeginReshard, which must be pure (the placement planner), and the `check` of
// BeginGroupOperation.
//
// Schema: versioned (schema.h / schema.cc: migrations applied in order at Open); see
// docs/orchestrator.md for the tables. Records are the structs of orch_types.h and
// operation_types.h; row_decoders.h maps them to rows.
//
// Every interface is domain-level (CreateGroup, BeginDelete, CompleteCreate, ...) rather than
// SQL-level so that a later, replicated backend (etcd) can implement the same calls.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/placement/placement_planner.h"

namespace cf::orchestrator {

class SqliteDb;

inline constexpr int kSchemaVersion = 7;  // schema.cc

// A standalone cache cluster: the primary a DeleteReplicationGroup with RetainPrimaryCluster=true
// kept (store table standalone_clusters, schema v5; group_change_store.cc). Its redis-server keeps
// running on its host and port (the port stays reserved); it no longer belongs to a replication
// group. DescribeCacheClusters can list these (Store::ListStandaloneClusters) with
// ReplicationGroupId absent (ShowCacheClustersNotInReplicationGroups).
struct StandaloneCluster {
  std::string cluster_id;       // the former member id, e.g. "rg-001"
  std::string former_group_id;  // the replication group it came from
  std::string host_id;
  uint32_t port = 0;
  std::string az;
  std::string status = "available";
  std::string cache_node_type;
  uint64_t maxmemory_bytes = 0;
  std::string engine = "redis";
  std::string engine_version;
  std::string parameter_group;
  std::string preferred_maintenance_window;
  std::string snapshot_window;
  int snapshot_retention_limit = 0;
  std::vector<std::string> security_group_ids;
  std::string notification_topic_arn;
  std::string notification_topic_status = "active";
  bool auto_minor_version_upgrade = true;
  int64_t create_time_ms = 0;  // the node's creation time
};

// An event written together with a state change (store_txn.cc writes it).
struct EventToWrite {
  std::string source_id;
  std::string source_type;  // "replication-group" / "cache-cluster"
  std::string message;
};

// What a failover-family step changes together with its transition, in one transaction
// (ApplyFailoverChangeLocked, store_txn.cc). Events are written in this order.
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
  // CacheNodeType (modify/modify_node_type.h): the group's node type and maxmemory (bytes).
  std::optional<std::pair<std::string, uint64_t>> node_type;
};

// A user-created cache parameter group (parameters/parameter_group_store.h). `values` are the
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

// HostStore: The fleet's hosts (fleet/): registration, heartbeats, observations.
class HostStore {
 public:
  virtual ~HostStore() = default;

  // ---- hosts (fleet) ----
  // Inserts or replaces a host (Register). State becomes up, last heartbeat = now_ms.
  virtual Status UpsertHost(const HostRecord& host) = 0;
  // Heartbeat: false when the host is unknown or its boot id differs (-> re-register).
  // Also replaces the host's warm pool ports.
  virtual Result<bool> TouchHost(const std::string& host_id, const std::string& boot_id,
                                 int64_t now_ms,
                                 const std::vector<uint32_t>& warm_cluster_ports = {}) = 0;
  virtual Result<std::vector<HostRecord>> ListHosts() = 0;
  virtual Result<std::optional<HostRecord>> GetHost(const std::string& host_id) = 0;
  // Marks up hosts whose last heartbeat is older than now_ms - down_after_ms as down; returns
  // the ids that changed.
  virtual Result<std::vector<std::string>> MarkStaleHostsDown(int64_t now_ms,
                                                              int64_t down_after_ms) = 0;
  // Writes the observed columns of the host's nodes (unknown node ids are ignored and
  // returned, so that the caller can report orphans).
  virtual Result<std::vector<std::string>> RecordObservations(
      const std::string& host_id, const std::vector<std::pair<std::string, ObservedNode>>& obs) = 0;
};

// GroupStore: Replication groups with their node groups, nodes and ports; the changes several
// features share (shard topology, retained primaries) and the parameter state they read.
class GroupStore {
 public:
  virtual ~GroupStore() = default;

  // ---- replication groups ----
  virtual Result<bool> GroupExists(const std::string& group_id) = 0;
  // In one transaction: reads the fleet, calls place (which fills the nodes' placement or
  // fails), then writes the group, node groups, nodes, port allocations, tags, operation and
  // event. Returns the operation id. Errors: the place callback's error unchanged;
  // Errc::kAlreadyExists when the id is taken.
  virtual Result<int64_t> CreateGroup(
      NewGroup g,
      const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) = 0;
  virtual Result<std::optional<GroupView>> GetGroup(const std::string& group_id) = 0;
  // Groups with id > after_id, ordered by id, at most limit.
  virtual Result<std::vector<GroupView>> ListGroups(const std::string& after_id, int limit) = 0;
  // Delete: checks the group exists (kNotFound) and may be deleted (available or create-failed,
  // and no operation running: kFailedPrecondition), then sets it and its nodes `deleting`,
  // records op and an event. Returns the group as it now is and the operation id.
  virtual Result<std::pair<GroupView, int64_t>> BeginDelete(const std::string& group_id,
                                                            OperationRecord op,
                                                            const std::string& event_message) = 0;
  // ---- nodes ----
  virtual Status SetNodeClusterId(const std::string& node_id,
                                  const std::string& cluster_node_id) = 0;
  virtual Status SetNodeStatus(const std::string& node_id, const std::string& status) = 0;
  // The node's port is taken by a process we do not manage: blocks it until block_until_ms,
  // moves the node to the lowest free port of its host and returns it (kResourceExhausted
  // when the host has none left).
  virtual Result<uint32_t> ReallocateNodePort(const std::string& node_id, uint32_t bad_port,
                                              int64_t block_until_ms) = 0;
  // ---- shard topology (topology_store.cc; the slot moves: reshard/reshard_store.h) ----
  // In one transaction: the group must exist (kNotFound), be `available` and have no unfinished
  // operation (kFailedPrecondition); reads the fleet, calls place for the new nodes, writes the
  // new node groups, nodes and ports, marks the removed node groups and their nodes `deleting`,
  // sets the group `modifying`, records the operation and the event. Returns the group as it
  // now is and the operation id. Placement errors are returned unchanged.
  virtual Result<std::pair<GroupView, int64_t>> BeginReshard(
      NewReshard r,
      const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) = 0;
  // op -> kSucceeded; removes the removed node groups with their nodes and ports; every other
  // node group gets its slots and `available`, every node `available`, the group `available`;
  // event. One transaction.
  virtual Status CompleteReshard(OperationRecord& op, const ReshardCompletion& c) = 0;
  // ---- standalone cache clusters (group_change_store.cc; DeleteCacheCluster:
  // groups/standalone_store.h) ---- RetainPrimaryCluster: kStopNodes -> kSucceeded; the group's
  // node `primary_node_id` becomes a standalone cache cluster (its port stays reserved), everything
  // else of the group is removed as CompleteDelete does; events on the group and the cluster. One
  // transaction.
  virtual Status CompleteRetainPrimary(OperationRecord& op, const std::string& primary_node_id,
                                       const std::string& event_message) = 0;
  virtual Result<std::vector<StandaloneCluster>> ListStandaloneClusters() = 0;
  // ---- parameter state other features read (parameter_status.cc; the parameter groups
  // themselves: parameters/parameter_group_store.h) ----
  virtual Result<std::optional<UserParameterGroup>> GetParameterGroup(const std::string& name) = 0;
  // The group's nodes must be sent their spec again (generation -1: due for the applier), e.g.
  // after AutomaticFailoverEnabled changed their hold_max_ms (failover_reconciler.cc).
  virtual Status MarkNodesRespec(const std::string& group_id) = 0;
  // node id -> ParameterApplyStatus (in-sync / applying / pending-reboot) of every node.
  virtual Result<std::map<std::string, std::string>> ParameterApplyStatuses() = 0;
};

// OperationStore: Durable operations: claim, transitions (compare-and-set on attempt and state),
// the create/delete endings, and an operation together with a FailoverChange of its group.
class OperationStore {
 public:
  virtual ~OperationStore() = default;

  // ---- operations ----
  virtual Result<std::vector<OperationRecord>> ListUnfinishedOperations() = 0;
  virtual Result<std::optional<OperationRecord>> GetOperation(int64_t op_id) = 0;
  // Takes the operation over: attempt++; returns the record with the new attempt.
  virtual Result<OperationRecord> ClaimOperation(int64_t op_id) = 0;
  // Moves op from op.state to `to` (CheckTransition) if its row still has op.attempt and
  // op.state; kFailedPrecondition otherwise (a newer attempt owns it). Updates op in place.
  virtual Status TransitionOperation(OperationRecord& op, OpState to, const std::string& step) = 0;
  // Updates the current step text only (same compare-and-set).
  virtual Status SetOperationStep(OperationRecord& op, const std::string& step) = 0;
  // Records a retryable failure: retries++, last_error.
  virtual Status RecordOperationError(OperationRecord& op, const std::string& error) = 0;
  // kAwaitHealthy -> kSucceeded, group/node groups/nodes available, event; one transaction.
  virtual Status CompleteCreate(OperationRecord& op, const std::string& event_message) = 0;
  // kRollingBack -> kFailed, group create-failed, event; one transaction.
  virtual Status FailCreate(OperationRecord& op, const std::string& event_message) = 0;
  // kStopNodes -> kSucceeded; removes nodes, ports, node groups, tags and the group; event.
  virtual Status CompleteDelete(OperationRecord& op, const std::string& event_message) = 0;
  // Operations for GET /cachefleet/operations: of one group ("" = all groups), every
  // unfinished one plus the `finished_limit` most recently finished, newest first.
  virtual Result<std::vector<OperationRecord>> ListOperations(const std::string& group_id,
                                                              int finished_limit) = 0;
  // ---- an operation with a change to its group (group_change_store.cc) ----
  // In one transaction: loads the group (kNotFound), lets check refuse (its error unchanged;
  // it runs under the store lock and must be pure), inserts op (kFailedPrecondition when
  // another operation of the group is unfinished), applies change, and returns the group as it
  // now is with the operation id.
  virtual Result<std::pair<GroupView, int64_t>> BeginGroupOperation(
      const std::string& group_id, OperationRecord op,
      const std::function<Status(const GroupView&)>& check, const FailoverChange& change) = 0;
  // op -> `to` and change in one transaction; compare-and-set like TransitionOperation.
  virtual Status TransitionWithChange(OperationRecord& op, OpState to, const std::string& step,
                                      const FailoverChange& change) = 0;
  // Replaces op's payload (same compare-and-set).
  virtual Status SetOperationPayload(OperationRecord& op, const std::string& payload) = 0;
  // op keeps its state; its payload and step are replaced and change applied, in one
  // transaction (compare-and-set like TransitionOperation).
  virtual Status UpdateOperationWithChange(OperationRecord& op, const std::string& step,
                                           const std::string& payload,
                                           const FailoverChange& change) = 0;
};

// EventLog: Events (DescribeEvents reads them through events/event_query_store.h).
class EventLog {
 public:
  virtual ~EventLog() = default;

  // ---- events ----
  virtual Status AddEvent(const std::string& source_id, const std::string& source_type,
                          const std::string& message, int64_t date_ms) = 0;
  virtual Result<std::vector<EventRecord>> ListEvents(const std::string& source_id) = 0;
};

// Store: the SQLite implementation of the base interfaces, and the owner of the database every
// feature store works on.
class Store final : public HostStore, public GroupStore, public OperationStore, public EventLog {
 public:
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens (creating) the database and migrates the schema to kSchemaVersion.
  Status Open(const std::string& path);
  int schema_version() const { return schema_version_; }

  // The feature stores over this database (the seam a second backend plugs into). Feature<T>
  // returns the T given to Provide, else builds one with make_sqlite over this database (once;
  // after Open). Each feature's `<Feature>StoreOf(Store&)` calls it with its SQLite factory.
  template <class T>
  T& Feature(std::unique_ptr<T> (*make_sqlite)(SqliteDb&)) {
    std::lock_guard lk(features_mu_);
    auto& slot = features_[std::type_index(typeid(T))];
    if (!slot) slot = std::shared_ptr<T>(make_sqlite(*db_));
    return *static_cast<T*>(slot.get());
  }
  template <class T>
  void Provide(std::unique_ptr<T> impl) {
    std::lock_guard lk(features_mu_);
    features_[std::type_index(typeid(T))] = std::shared_ptr<T>(std::move(impl));
  }

  // HostStore
  Status UpsertHost(const HostRecord& host) override;
  Result<bool> TouchHost(const std::string& host_id, const std::string& boot_id, int64_t now_ms,
                         const std::vector<uint32_t>& warm_cluster_ports = {}) override;
  Result<std::vector<HostRecord>> ListHosts() override;
  Result<std::optional<HostRecord>> GetHost(const std::string& host_id) override;
  Result<std::vector<std::string>> MarkStaleHostsDown(int64_t now_ms,
                                                      int64_t down_after_ms) override;
  Result<std::vector<std::string>> RecordObservations(
      const std::string& host_id,
      const std::vector<std::pair<std::string, ObservedNode>>& obs) override;

  // GroupStore
  Result<bool> GroupExists(const std::string& group_id) override;
  Result<int64_t> CreateGroup(
      NewGroup g,
      const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) override;
  Result<std::optional<GroupView>> GetGroup(const std::string& group_id) override;
  Result<std::vector<GroupView>> ListGroups(const std::string& after_id, int limit) override;
  Result<std::pair<GroupView, int64_t>> BeginDelete(const std::string& group_id, OperationRecord op,
                                                    const std::string& event_message) override;
  Status SetNodeClusterId(const std::string& node_id, const std::string& cluster_node_id) override;
  Status SetNodeStatus(const std::string& node_id, const std::string& status) override;
  Result<uint32_t> ReallocateNodePort(const std::string& node_id, uint32_t bad_port,
                                      int64_t block_until_ms) override;
  Result<std::pair<GroupView, int64_t>> BeginReshard(
      NewReshard r,
      const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) override;
  Status CompleteReshard(OperationRecord& op, const ReshardCompletion& c) override;
  Status CompleteRetainPrimary(OperationRecord& op, const std::string& primary_node_id,
                               const std::string& event_message) override;
  Result<std::vector<StandaloneCluster>> ListStandaloneClusters() override;
  Result<std::optional<UserParameterGroup>> GetParameterGroup(const std::string& name) override;
  Status MarkNodesRespec(const std::string& group_id) override;
  Result<std::map<std::string, std::string>> ParameterApplyStatuses() override;

  // OperationStore
  Result<std::vector<OperationRecord>> ListUnfinishedOperations() override;
  Result<std::optional<OperationRecord>> GetOperation(int64_t op_id) override;
  Result<OperationRecord> ClaimOperation(int64_t op_id) override;
  Status TransitionOperation(OperationRecord& op, OpState to, const std::string& step) override;
  Status SetOperationStep(OperationRecord& op, const std::string& step) override;
  Status RecordOperationError(OperationRecord& op, const std::string& error) override;
  Status CompleteCreate(OperationRecord& op, const std::string& event_message) override;
  Status FailCreate(OperationRecord& op, const std::string& event_message) override;
  Status CompleteDelete(OperationRecord& op, const std::string& event_message) override;
  Result<std::vector<OperationRecord>> ListOperations(const std::string& group_id,
                                                      int finished_limit) override;
  Result<std::pair<GroupView, int64_t>> BeginGroupOperation(
      const std::string& group_id, OperationRecord op,
      const std::function<Status(const GroupView&)>& check, const FailoverChange& change) override;
  Status TransitionWithChange(OperationRecord& op, OpState to, const std::string& step,
                              const FailoverChange& change) override;
  Status SetOperationPayload(OperationRecord& op, const std::string& payload) override;
  Status UpdateOperationWithChange(OperationRecord& op, const std::string& step,
                                   const std::string& payload,
                                   const FailoverChange& change) override;

  // EventLog
  Status AddEvent(const std::string& source_id, const std::string& source_type,
                  const std::string& message, int64_t date_ms) override;
  Result<std::vector<EventRecord>> ListEvents(const std::string& source_id) override;

 private:
  // Brings the database to kSchemaVersion, one transaction per migration (schema.cc).
  Status Migrate();
  Status FinishCreateLocked(OperationRecord& op, OpState to, const std::string& status,
                            const char* group_guard, const char* node_guard,
                            const std::string& event_message);

  std::unique_ptr<SqliteDb> db_;  // its mutex guards every call
  int schema_version_ = 0;
  std::mutex features_mu_;
  std::map<std::type_index, std::shared_ptr<void>> features_;  // guarded by features_mu_
};

}  // namespace cf::orchestrator
