// An in-process fake of the agents: a real Agent gRPC server per host (127.0.0.1:0) backed by
// a shared, simulated "network" of Redis nodes. It is enough to exercise the orchestrator's
// operations end to end without processes:
//   * LaunchNode / StopNode / GetNodeStatus / ListNodes with the agent's idempotency rules
//     (same spec -> status; other port -> FAILED_PRECONDITION "different spec").
//   * Cluster mode: ClusterAddSlots (+ config epoch), ClusterMeet (nodes that met, directly or
//     transitively, know each other: gossip is instant), ClusterReplicate (FAILED_PRECONDITION
//     while the master is unknown), slot owners as each node sees them, cluster_state ok when
//     the node's component covers all slots.
//   * Replication: ReplicaOf; a replica's link comes up after `link_up_after_polls` status
//     polls, so the orchestrator's wait loops are exercised.
//   * Resharding: MoveSlots streams progress while it moves the keys (a count per slot) and the
//     ownership of each slot from the source to the target (already-moved slots are reported
//     done; a slot owned by a third node is FAILED_PRECONDITION; an older attempt of a move is
//     refused); a master that gives away its last slot becomes a replica of the target, with
//     its replicas (cluster-allow-replica-migration). ClusterForget records the forgotten ids
//     (a forgotten node disappears from that node's view; "can't forget my master").
// Failover: KillNode holds a node down (NODE_EXITED; its replicas' links go down),
// RestartNode brings it back (in place or as a replica of replica_of, giving up its slots),
// Failover promotes a replica (takes its master's slots and keys, epoch + 1; a live old master
// and, in cluster mode, the master's other replicas follow it; COORDINATED needs a live master).
// ReconfigureNode: restart=false replaces the spec (static_keys only in the spec), restart=true
// (changed spec or force_restart) gives the process a new pid and runs the whole spec; a
// restarted replica's link is down for a few polls; the engine_version must be installed_version.
// Fault injection: ports that are "in use by another process" (LaunchNode -> RESOURCE_EXHAUSTED),
// an agent that answers UNAVAILABLE to everything, MoveSlots streams that break after N slots
// or pause, and call counters.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cachefleet.pb.h"
#include "common/slot_range.h"

namespace cf::orchestrator::testing {

struct FakeNode {
  std::string node_id;
  std::string host_id;
  std::string address;
  uint32_t port = 0;
  bool cluster_enabled = false;
  uint64_t maxmemory = 0;
  uint64_t used_memory = 0;  // reported as used_memory
  std::string cluster_node_id;
  uint64_t config_epoch = 0;
  SlotRanges slots;
  std::string role = "master";
  std::string master_cluster_node_id;
  std::string master_host;
  uint32_t master_port = 0;
  int polls_since_replicate = 0;
  std::set<std::string> met;          // node ids this node met (either direction)
  std::map<uint32_t, uint64_t> keys;  // slot -> keys held (masters)
  std::set<std::string> forgotten;    // cluster node ids CLUSTER FORGET removed from this node
  bool exited = false;                // failover: killed / held down (NODE_EXITED)
  int64_t repl_offset = 0;            // reported as repl_offset (replica choice)
  // ReconfigureNode: the spec it runs (restart=true: a new pid; restart=false: config only).
  int64_t pid = 1000;
  std::string engine_version;
  std::map<std::string, std::string> config;  // the spec's config
  std::map<std::string, std::string> running;  // what the process runs (static keys: at start)
  bool hold_on_exit = false;  // the spec's (LaunchNode, then every ReconfigureNode)
  uint32_t hold_max_ms = 0;
  uint64_t KeyCount() const;
};

// The simulated network shared by every fake agent of a test.
class FakeNetwork {
 public:
  int link_up_after_polls = 2;

  std::mutex mu;
  std::map<std::string, FakeNode> nodes;  // by node id; guarded by mu
  // MoveSlots bookkeeping (guarded by mu).
  std::map<std::string, int> moving;  // source node id -> running calls
  int running_moves = 0;
  int max_running_moves = 0;                        // most calls running at once, network-wide
  bool source_overlap = false;                      // two calls moved from one source at once
  std::map<std::string, uint64_t> highest_attempt;  // move id -> highest attempt seen
  uint64_t keys_moved_total = 0;
  // Failover (guarded by mu): every Failover call's method, in order.
  std::vector<std::string> failover_methods;
  // ReconfigureNode(restart=true) restarts, in order: "node_id" (guarded by mu).
  std::vector<std::string> restarts;
  // Failover calls in order: "promoted node id" (guarded by mu).
  std::vector<std::string> promotions;
  uint64_t TotalKeys() const;  // keys held by masters

  // Helpers (lock held by caller).
  std::set<std::string> ComponentOf(const std::string& node_id) const;
  FakeNode* FindByAddress(const std::string& address, uint32_t port);
  FakeNode* FindByClusterId(const std::string& id);
  cachefleet::v1::NodeStatus StatusOf(FakeNode& n);  // counts as a poll
  size_t NodesOn(const std::string& host_id) const;
};

class FakeAgent {
 public:
  FakeAgent(std::shared_ptr<FakeNetwork> net, std::string host_id, std::string address);
  ~FakeAgent();

  bool Start();  // listens on 127.0.0.1:0
  void Shutdown();
  std::string endpoint() const;
  const std::string& host_id() const { return host_id_; }

  // Fault injection and counters.
  void SetPortBusy(uint32_t port);
  std::atomic<bool> fail_all{false};
  // MoveSlots: break the stream (UNAVAILABLE) after this many slots of a call, once (-1 = off).
  std::atomic<int> move_fail_after_slots{-1};
  // MoveSlots: after this many slots of a call, wait while move_paused is true (or until the
  // call is cancelled) (-1 = off).
  std::atomic<int> move_pause_after_slots{-1};
  std::atomic<bool> move_paused{false};
  std::atomic<int> move_slot_delay_ms{0};  // sleep after every slot
  // MoveSlots: start every stream with a message of attempt 0 claiming 10^9 keys moved.
  std::atomic<bool> move_send_stale_message{false};
  std::atomic<int> move_calls{0};
  std::atomic<int> forget_calls{0};
  std::atomic<int> kill_calls{0};
  std::atomic<int> restart_calls{0};
  std::atomic<int> failover_calls{0};
  std::atomic<bool> failover_fail{false};  // Failover answers UNAVAILABLE
  std::atomic<int> reconfigure_calls{0};
  // ReconfigureNode refuses an engine_version other than this one ("" = any).
  std::string installed_version;
  // ReconfigureNode refuses this maxmemory_bytes (FAILED_PRECONDITION: CONFIG SET refused; 0 = off).
  std::atomic<uint64_t> refuse_maxmemory{0};
  std::atomic<int> launches{0};
  std::atomic<int> stops{0};
  std::atomic<int> calls{0};

  struct Impl;

 private:
  std::shared_ptr<FakeNetwork> net_;
  std::string host_id_;
  std::string address_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::orchestrator::testing
