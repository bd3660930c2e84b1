// DeleteCacheCluster for standalone cache clusters (StandaloneCluster in store/store.h: the primaries a
// DeleteReplicationGroup with RetainPrimaryCluster=true kept).
//
//   DeleteCacheCluster   validates (CacheClusterId required; FinalSnapshotIdentifier refused:
//                        there are no snapshots yet), then one transaction
//                        (StandaloneStore::BeginDeleteStandalone) sets the cluster `deleting` with the
//                        event "Deleting cache cluster X"; the answer is the CacheCluster with
//                        status `deleting`. A member of a replication group ->
//                        InvalidCacheClusterState; unknown -> CacheClusterNotFound (404); a
//                        cluster already `deleting` -> InvalidCacheClusterState.
//   StandaloneReaper     a thread (woken by the frontend, and every second) that finishes every
//                        `deleting` cluster: StopNode(purge_data) on its agent with a deadline
//                        (stop_grace_ms + agent_rpc_timeout_ms), then one transaction
//                        (Store::CompleteDeleteStandalone) deletes the row, frees the port
//                        reservation and writes "Cache cluster X deleted".
//
// Durable: the desired state (`deleting`) is committed before any agent is called, and the
// reaper works from the store, so an orchestrator that crashes mid-way finishes the delete after
// its restart (StopNode of a node the agent no longer has succeeds with existed=false). An agent
// that cannot be reached keeps the cluster `deleting` and is retried every pass.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <thread>

#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/api/api_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::orchestrator {

class Store;

class StandaloneFrontend {
 public:
  StandaloneFrontend(Store& store, const OrchestratorConfig& config,
                     std::function<void()> poke_reaper)
      : store_(store), config_(config), poke_(std::move(poke_reaper)) {}
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> DeleteCacheCluster(const api::ApiRequest& req,
                                                  pugi::xml_node result);

 private:
  Store& store_;
  const OrchestratorConfig& config_;
  std::function<void()> poke_;
};

class StandaloneReaper {
 public:
  StandaloneReaper(Store& store, AgentApi& agents, const OrchestratorConfig& config)
      : store_(store), agents_(agents), config_(config) {}
  ~StandaloneReaper();
  void Start();
  void Stop();
  void Poke();
  // How many times Poke was called (the application's wiring is observable in tests).
  int pokes() const { return pokes_; }
  // One pass over the `deleting` standalone clusters; returns how many were deleted.
  int RunOnce();

 private:
  std::atomic<int> pokes_{0};
  void Loop();
  Store& store_;
  AgentApi& agents_;
  const OrchestratorConfig& config_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<std::string, std::string> last_error_;  // cluster -> last logged error
};

}  // namespace cf::orchestrator
