// What the group reconcilers share: the collaborators they act through, loading a group with
// its hosts, agent targets, node specs, parallel status polls that also refresh the store's
// observed columns, and stopping nodes in parallel.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/operations/operation_runner.h"

namespace cf::orchestrator {

class Store;
struct EventToWrite;
class TaskPool;

struct ReconcilerDeps {
  Store* store = nullptr;
  AgentApi* agents = nullptr;
  TaskPool* pool = nullptr;
  OperationSettings settings;
  int64_t cluster_node_timeout_ms = 5000;
  int64_t hold_max_ms = 30000;  // NodeSpec.hold_max_ms of groups without automatic failover
};

// A reconciler: the OperationHandler of some operation kinds (registered with the runner),
// acting through the collaborators in deps_.
class Reconciler : public OperationHandler {
 public:
  explicit Reconciler(ReconcilerDeps deps) : deps_(std::move(deps)) {}
  // For operations without a deadline: if one was set anyway, the step runs as usual.
  Status OnDeadline(OperationRecord& op) override;

 protected:
  ReconcilerDeps deps_;
};

struct LoadedGroup {
  GroupView view;
  std::map<std::string, HostRecord> hosts;  // every host, by id
  const HostRecord* HostOf(const NodeRecord& n) const;
  AgentTarget TargetOf(const NodeRecord& n) const;
};

Result<LoadedGroup> LoadGroup(Store& store, const std::string& group_id);

// The NodeSpec the agent launches a node from (deterministic from the records, so a repeated
// LaunchNode is recognised as the same node).
// Every node is launched with hold_on_exit (the orchestrator alone decides between failover and
// a restart in place); hold_max_ms is 0 (hold until told) with automatic failover, else
// hold_max_ms (the agent restarts it in place itself if the orchestrator does not answer).
pb::NodeSpec BuildNodeSpec(const ReplicationGroupRecord& g, const NodeRecord& n,
                           int64_t cluster_node_timeout_ms, int64_t hold_max_ms = 30000);

// GetNodeStatus on every node in parallel; nullopt entries did not answer. Successful answers
// are written to the store's observed columns.
std::vector<std::optional<pb::NodeStatus>> PollStatuses(const ReconcilerDeps& deps,
                                                        const LoadedGroup& g);

// StopNode(purge_data) on every node whose status is not "stopped", in parallel; each stopped
// node is marked "stopped". Returns the first error (others keep their progress).
Status StopNodes(const ReconcilerDeps& deps, const LoadedGroup& g);

// Sleeps up to ms, returning early (false) when stop is set.
bool SleepFor(int64_t ms, const std::atomic<bool>& stop);

// Milliseconds of the steady clock (a step's deadlines and intervals).
int64_t SteadyMs();
// "[<group>/<kind>#<id>]": the entity an operation's log lines start with.
std::string OperationTag(const OperationRecord& op);
// The node `id` of the view; nullptr when it has none.
const NodeRecord* FindNode(const GroupView& v, const std::string& id);
// An event about the group / about one node (cache cluster), for the store's transactions.
EventToWrite GroupEvent(const std::string& group_id, std::string message);
EventToWrite NodeEvent(const std::string& node_id, std::string message);

}  // namespace cf::orchestrator
