// The parameter applier: brings every node of every replication group that uses a
// user-created cache parameter group to the group's current generation.
//
// Durable by construction: the desired state (the group's values and generation) and each
// node's applied generation live in the store, written in the same transaction as the API
// change, so the work list (ParameterGroupStore::ListParameterApplyTasks) survives any crash and a restarted
// orchestrator simply continues. Each pass calls ReconfigureNode(restart=false) with the node's
// spec (BuildNodeSpec) plus the group's dynamic parameters (CONFIG SET on the node; the agent
// persists them so later restarts keep them), then records the generation. Generations are
// unique across parameter groups (each change takes the highest + 1) and a node is due when
// its generation differs from its group's, so a replication group that switches parameter
// group is brought up to the new one too. The call is
// idempotent, so a crash between the call and the record only repeats it. Static
// (requires-reboot) parameters are sent as `static_keys`: the agent writes them to the node's
// spec without CONFIG SET, the nodes show pending-reboot, and the rolling restart
// (rolling_restart_reconciler.h) makes them run them. Nodes of a group whose rolling restart is
// running are left to it (it restarts each node with the latest values). A node that never ran
// the group's values (generation 0: just created) while the group sets a static value other than
// the default becomes pending-reboot too. After each pass `after_pass` (if set) runs: app.cc
// starts the rolling restarts of pending-reboot groups there.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/operations/node_params.h"

namespace cf::orchestrator {

class Store;

class ParameterApplier {
 public:
  ParameterApplier(Store& store, AgentApi& agents, const ParameterCatalog& catalog,
                   const OrchestratorConfig& config);
  ~ParameterApplier();
  void Start();
  void Stop();
  void Poke();
  // How many times Poke was called (the application's wiring is observable in tests).
  int pokes() const { return pokes_; }
  // One pass over the work list; returns how many nodes were brought up to date.
  int RunOnce();
  // Runs after every pass of the loop (before Start).
  void SetAfterPass(std::function<void()> f) { after_pass_ = std::move(f); }

 private:
  std::atomic<int> pokes_{0};
  void Loop();
  Store& store_;
  AgentApi& agents_;
  const ParameterCatalog& catalog_;
  const OrchestratorConfig& config_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<std::string, std::string> last_error_;  // node -> last logged error
  std::function<void()> after_pass_;
};

}  // namespace cf::orchestrator
