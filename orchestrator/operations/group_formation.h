// Formation steps shared by the operations that bring nodes into a cluster: the create
// (create_group_reconciler.h) and the scale-out of a reshard (reshard_reconciler.h). Each acts
// through the agents on a given subset of a group's nodes, in parallel, and is idempotent
// (the agent RPCs are: LaunchNode of a running node returns its status, MEET of a known peer
// and REPLICATE of the current master are no-ops).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "orchestrator/fleet/formation_checks.h"
#include "orchestrator/operations/reconciler_context.h"

namespace cf::orchestrator {

// Up to this many nodes every pair of nodes meets directly; above it, a chain of MEETs.
inline constexpr size_t kFullMeshMaxNodes = 32;

// Collects the first error of parallel tasks and how many failed. Thread-safe.
class ErrorCollector {
 public:
  void Add(const Error& e);
  // OK when nothing failed; else "<what>: N of total failed; first: ...".
  Status Result(size_t total, const std::string& what);

 private:
  std::mutex mu_;
  std::optional<Error> first_;  // guarded by mu_
  size_t count_ = 0;            // guarded by mu_
};

// The cluster node id of a node: recorded at launch, else as last observed.
std::string ClusterIdOf(const NodeRecord& n);
// The node planned as primary of a node group (nullptr when none).
const NodeRecord* PlannedPrimary(const GroupView& v, const std::string& node_group_id);

// Probes for the formation checks: every node of g.view.nodes with its status (statuses is
// parallel to g.view.nodes) and its planned primary.
std::vector<NodeProbe> BuildProbes(const LoadedGroup& g,
                                   const std::vector<std::optional<pb::NodeStatus>>& statuses);

// LaunchNode on each node in parallel. A port taken by a foreign process (RESOURCE_EXHAUSTED)
// is blocked and the node moves to the next free port of its host (persisted); a node left by
// an earlier attempt with another spec is stopped and launched again. CME: each node's cluster
// node id is recorded.
Status LaunchNodesParallel(const ReconcilerDeps& deps, const LoadedGroup& g,
                           const std::vector<NodeRecord>& nodes);

// CLUSTER MEET for each (from, to) pair, in parallel.
Status MeetPairs(const ReconcilerDeps& deps, const LoadedGroup& g,
                 const std::vector<std::pair<const NodeRecord*, const NodeRecord*>>& pairs);

// Joining new nodes (`is_new`) to a running cluster (reshard scale-out, IncreaseReplicaCount).
using NewNodeFilter = std::function<bool(const NodeRecord&)>;

// The first node of the group that is not new: the peer stragglers meet; nullptr if none.
const NodeRecord* FirstEstablishedNode(const std::vector<NodeRecord>& nodes,
                                       const NewNodeFilter& is_new);

// The MEETs that join the new nodes: up to kFullMeshMaxNodes nodes every new node meets every
// established node and every earlier new node; larger groups meet the first established node.
std::vector<std::pair<const NodeRecord*, const NodeRecord*>> NewNodeMeetPairs(
    const std::vector<NodeRecord>& nodes, const NewNodeFilter& is_new);

// Self-healing while waiting for membership: every new node that still knows fewer than all
// nodes meets `anchor` again (idempotent; errors ignored, the next poll retries).
void RemeetStragglers(const ReconcilerDeps& deps, const LoadedGroup& g,
                      const std::vector<std::optional<pb::NodeStatus>>& statuses,
                      const NewNodeFilter& is_new, const NodeRecord& anchor);

// CLUSTER MEET of the new nodes (NewNodeMeetPairs), in parallel.
Status MeetNewNodes(const ReconcilerDeps& deps, const LoadedGroup& g, const NewNodeFilter& is_new);

// The wait of a formation step: polls g every poll_interval_ms until check(probes) returns ""
// (then OK), for at most step_wait_timeout_ms (then kTimeout timeout_message(why)).
// on_wait(why) hears every new reason; after_poll(statuses, now), when set, runs after every
// poll that was not yet good enough. kUnavailable "stopping" when stop is set.
struct FormationWait {
  std::function<std::string(const std::vector<NodeProbe>&)> check;
  std::function<void(const std::string&)> on_wait;
  std::function<std::string(const std::string&)> timeout_message;
  std::function<void(const std::vector<std::optional<pb::NodeStatus>>&, int64_t)> after_poll;
};
Status AwaitFormation(const ReconcilerDeps& deps, const LoadedGroup& g, const FormationWait& w,
                      const std::atomic<bool>& stop);

// Reports of a wait on the operation: every new reason becomes its step "<step_text>: <why>"
// and, when `log` is set, a debug line.
struct WaitReport {
  OperationRecord* op = nullptr;
  std::string step_text;
  std::function<void(const std::string&)> log;
};

// Waits (AwaitFormation) until every node of g knows all the others (CheckMembership); the
// timeout says "<timeout_text> within N ms: <why>". Every kRemeetEveryMs the `is_new` nodes
// that still miss peers meet the first node that is not new again (RemeetStragglers).
inline constexpr int64_t kRemeetEveryMs = 1000;
Status AwaitClusterMembership(const ReconcilerDeps& deps, const LoadedGroup& g,
                              const NewNodeFilter& is_new, const WaitReport& report,
                              const std::string& timeout_text, const std::atomic<bool>& stop);

// Waits (AwaitFormation) until g is healthy: CheckClusterHealthy (cluster mode) or
// CheckReplicationHealthy; step "waiting: <why>"; the timeout says "<timeout_text> within N
// ms<timeout_suffix>: <why>".
Status AwaitGroupHealthy(const ReconcilerDeps& deps, const LoadedGroup& g, bool cluster_mode,
                         const WaitReport& report, const std::string& timeout_text,
                         const std::string& timeout_suffix, const std::atomic<bool>& stop);

// CLUSTER FORGET of the `forgotten` nodes (by their recorded cluster ids; none recorded:
// nothing to do) on every node of `on`, in parallel.
Status ForgetNodes(const ReconcilerDeps& deps, const LoadedGroup& g,
                   const std::vector<NodeRecord>& on, const std::vector<NodeRecord>& forgotten);

// ClusterReplicate (CME) / ReplicaOf (CMD) of each replica in `replicas` to its node group's
// planned primary, in parallel; CME retries quickly while the master is not known yet (until
// step_wait_timeout_ms).
Status ReplicateToPlannedPrimaries(const ReconcilerDeps& deps, const LoadedGroup& g,
                                   const std::vector<NodeRecord>& replicas,
                                   const std::atomic<bool>& stop);

}  // namespace cf::orchestrator
