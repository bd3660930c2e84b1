// The parameter applier: brings every node of every replication group that uses a
// user-created cache parameter group to the group's current generation.
//
// Durable by construction: the desired state (the group's values and generation) and each
// node's applied generation live in the store, written in the same transaction as the API
// change, so the work list (Store::ListParameterApplyTasks) survives any crash and a restarted
// orchestrator simply continues. Each pass calls ReconfigureNode(restart=false) with the node's
// spec (BuildNodeSpec) plus the group's dynamic parameters (CONFIG SET on the node; the agent
// persists them so later restarts keep them), then records the generation. Generations are
// unique across parameter groups (each change takes the highest + 1) and a node is due when
// its generation differs from its group's, so a replication group that switches parameter
// group is brought up to the new one too. The call is
// idempotent, so a crash between the call and the record only repeats it. Static
// (requires-reboot) parameters are not sent: their nodes show pending-reboot.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "orchestrator/agent_client.h"
#include "orchestrator/orchestrator_config.h"
#include "orchestrator/parameter_group_catalog.h"

namespace cf::orchestrator {

class Store;

// Pure: the config map sent to the agent (dynamic parameters only; empty values quoted).
std::map<std::string, std::string> DynamicConfig(const std::map<std::string, std::string>& values,
                                                 const ParameterCatalog& catalog,
                                                 const std::string& family);

class ParameterApplier {
 public:
  ParameterApplier(Store& store, AgentApi& agents, const ParameterCatalog& catalog,
                   const OrchestratorConfig& config);
  ~ParameterApplier();
  void Start();
  void Stop();
  void Poke();
  // One pass over the work list; returns how many nodes were brought up to date.
  int RunOnce();

 private:
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
};

}  // namespace cf::orchestrator
