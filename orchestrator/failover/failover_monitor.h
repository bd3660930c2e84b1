// FailoverMonitor: decides, from what the agents report (the store's observed
// columns and the hosts' heartbeats), when a failover or a node recovery must
// start, and starts it as a durable operation (failover_reconciler.h). It never
// talks to agents itself.
//
// Every failover.monitor_interval_ms, and at once when a heartbeat reports a
// NODE_EXITED node (Wake(), called by the Fleet service), for every `available`
// group without an unfinished operation, per node group:
//   * the desired primary is observed NODE_EXITED on a host that is up (the
//   agent heartbeats at
//     once when a held node exits; no wait for Redis Cluster's node timeout):
//       automatic failover enabled and a replica runs -> failover (reason
//       automatic); otherwise -> recover-node in place ("Cache node 0001
//       restarted").
//   * the desired primary's host is lost (no heartbeat for
//   failover.host_down_after_ms) and
//     every replica of the shard on a host that is up reports master_link_up
//     false -> failover (reason host-down). Without automatic failover nothing
//     is promoted.
//   * a desired replica is observed NODE_EXITED on a host that is up (a
//   recovered host
//     re-registered with its held nodes, or a replica process died) ->
//     recover-node as a replica of the current primary, so an old primary never
//     comes back as a second primary; cluster mode disabled: a desired replica
//     observed running as a master while the desired primary runs ->
//     recover-node (demoted with REPLICAOF).
// Only observations newer than the group's last finished operation count (a
// report taken before a failover finished must not start another one). At most
// one operation per group per pass; the store's one-unfinished-operation rule
// makes a race with an API call harmless.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "orchestrator/failover/failover_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

class FailoverMonitor {
 public:
  // poke(op_id) hands a new operation to the runner.
  FailoverMonitor(Store& store, FailoverSettings settings, std::function<void(int64_t)> poke);
  ~FailoverMonitor();  // Stop()

  void Start();
  void Stop();
  // Scan as soon as possible (a node exited).
  void Wake();
  // One pass (tests): returns the ids of the operations it started.
  std::vector<int64_t> ScanOnce();

 private:
  Store& store_;
  const FailoverSettings fo_;
  std::function<void(int64_t)> poke_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace cf::orchestrator
