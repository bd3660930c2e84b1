// ModifyStore: ModifyReplicationGroup's in-request changes (settings, parameter group switch, node
// type) and the modifications waiting for the maintenance window (schema v7).
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, modify_store.cc).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

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

// One ModifyReplicationGroup parameter waiting for the maintenance window (modify_store.cc,
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
  std::string maintenance_window;            // PreferredMaintenanceWindow
  bool operation_running = false;            // an unfinished operation
  std::vector<PendingModification> pending;  // by request_id, then name
};

class ModifyStore {
 public:
  virtual ~ModifyStore() = default;

  // ModifyReplicationGroup settings (modify_settings.cc): the group must be `available` with
  // no unfinished operation (kFailedPrecondition); writes u and an event; returns the group.
  virtual Result<GroupView> UpdateGroupSettings(const std::string& group_id,
                                                const GroupSettingsUpdate& u,
                                                const std::string& event_message) = 0;
  // ModifyReplicationGroup CacheParameterGroupName (modify_parameter_group.cc): same
  // preconditions as UpdateGroupSettings; switches the group's parameter group, sets its nodes'
  // pending-reboot flag, adds sw.reset_defaults, event; returns the group.
  virtual Result<GroupView> SwitchParameterGroup(const std::string& group_id,
                                                 const ParameterGroupSwitch& sw,
                                                 const std::string& event_message) = 0;
  // ---- pending modifications (schema v7) ----
  // ApplyImmediately=false: in one transaction, deletes the rows of `clear`, records `set`
  // (replacing earlier values of the same parameters; the rows get one new request id) and
  // writes the event (none when event_message is empty). kNotFound when the group is unknown.
  // Returns the group as it now is.
  virtual Result<GroupView> RecordPendingModifications(
      const std::string& group_id, const std::map<std::string, std::string>& set,
      const std::vector<std::string>& clear, const std::string& event_message) = 0;
  // ApplyImmediately=true supersedes: deletes the group's rows of these parameters; returns
  // how many there were.
  virtual Result<int> ClearPendingModifications(const std::string& group_id,
                                                const std::vector<std::string>& names) = 0;
  // Every group with at least one pending row.
  virtual Result<std::vector<PendingGroup>> ListPendingGroups() = 0;
  // After a replay (applied or refused): deletes the batch's rows that still hold the batch's
  // request id (a newer request's value stays) and writes the event, in one transaction.
  virtual Status FinishPendingModifications(const std::string& group_id,
                                            const std::vector<PendingModification>& batch,
                                            const std::string& event_message) = 0;
};

// The ModifyStore of base's database: the implementation provided with Store::Provide, else the
// SQLite one (built on first use).
ModifyStore& ModifyStoreOf(Store& base);

}  // namespace cf::orchestrator
