// ParameterGroupStore: User-created cache parameter groups (schema v4) and the applier's work list.
// GetParameterGroup, ParameterApplyStatuses and MarkNodesRespec, which other features read, are the
// base store's.
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, parameter_group_store.cc).
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

class ParameterGroupStore {
 public:
  virtual ~ParameterGroupStore() = default;

  // ---- user-created cache parameter groups (schema v4) ----
  // Errors: kAlreadyExists (name taken), kResourceExhausted (max_groups user groups exist).
  // Writes the group, its tags and an event in one transaction.
  virtual Status CreateParameterGroup(const UserParameterGroup& g, const std::vector<Tag>& tags,
                                      int max_groups, const std::string& event_message) = 0;
  virtual Result<std::vector<UserParameterGroup>> ListParameterGroups() = 0;
  // Replication groups (ids) whose CacheParameterGroupName is `name`.
  virtual Result<std::vector<std::string>> GroupsUsingParameterGroup(const std::string& name) = 0;
  // kNotFound; kFailedPrecondition while a replication group uses it. Removes its values and
  // tags too; event.
  virtual Status DeleteParameterGroup(const std::string& name,
                                      const std::string& event_message) = 0;
  // One transaction: applies c (values, a new generation; the nodes of every replication group
  // using it become pending-reboot when c.requires_reboot), event. kNotFound when unknown.
  virtual Status ChangeParameterGroup(const ParameterGroupChange& c) = 0;
  // Nodes whose generation differs from their parameter group's (the applier's work list):
  // available nodes of available/modifying groups that use a user-created group, except the
  // groups whose rolling restart is running (it applies the values itself).
  virtual Result<std::vector<ParameterApplyTask>> ListParameterApplyTasks() = 0;
  // The node now runs generation `generation`; clears its last error.
  // With `expected`, only if the node's generation is still that (the value the task was
  // listed with): a node re-specced meanwhile (MarkNodesRespec) stays due.
  virtual Status MarkParametersApplied(const std::string& node_id, int64_t generation,
                                       std::optional<int64_t> expected = std::nullopt) = 0;
  virtual Status RecordParameterApplyError(const std::string& node_id,
                                           const std::string& error) = 0;
  // The node's running parameters lag a static value (ParameterApplyStatus pending-reboot).
  virtual Status MarkPendingReboot(const std::string& node_id) = 0;
};

// The ParameterGroupStore of base's database: the implementation provided with Store::Provide, else
// the SQLite one (built on first use).
ParameterGroupStore& ParameterGroupStoreOf(Store& base);

}  // namespace cf::orchestrator
