// App: the orchestrator, built from a config, a parameter catalog and an AgentApi. main.cc
// and the test fixture (testing/fake_fleet.h) build this same object.
//
// It owns, in order of construction: the store (SQLite), the Fleet gRPC service, the RPC task
// pool, the operation runner and every feature (each registers its operation kinds' handlers
// with the runner, its actions with the API dispatcher, its read-only JSON endpoints and its
// background loops: see operations/feature_host.h), then the API server. Where two features
// meet, app.cc wires them:
//   * parameters -> groups, modify: the user parameter groups for validation; a parameter
//     group switch pokes the applier;
//   * parameters -> rolling_restart: after each applier pass, groups pending a reboot get a
//     rolling restart (StartPendingRollingRestarts);
//   * rolling_restart -> modify: EngineVersion is one of ModifyReplicationGroup's sets;
//   * fleet -> failover: a NODE_EXITED heartbeat wakes the failover monitor.
//
// Lifecycle: Open() opens the store and builds everything (no thread runs yet; the dispatcher
// answers); Start() starts the Fleet service, the runner (which resumes every unfinished
// operation), the loops and the API server, each as AppOptions says; Stop() stops them in
// reverse order (never changing an operation's state; the next Start resumes). gRPC and Beast
// stay out of this header.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/catalog/parameter_group_catalog.h"
#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orchestrator_config.h"

namespace cf::api {
class ApiServer;
class Dispatcher;
}  // namespace cf::api

namespace cf::orchestrator {

class AgentApi;
class FleetService;
class OperationHandler;
class OperationRunner;
class Store;
class TaskPool;
class EventsFrontend;
class TagsFrontend;
struct FailoverFeature;
struct GroupsFeature;
struct ModifyFeature;
struct ParametersFeature;
struct ReplicasFeature;
struct ReshardFeature;
struct RollingRestartFeature;

struct AppOptions {
  // Listen: the Fleet gRPC service (config.fleet_listen) and the API server (config.api_listen).
  // Off: the dispatcher is called directly (tests).
  bool serve = true;
  // Run the background loops (failover monitor, parameter applier, standalone reaper,
  // maintenance scheduler) on their threads. Off: tests drive them (ScanOnce, RunOnce).
  bool run_loops = true;
};

class App {
 public:
  App(OrchestratorConfig config, ParameterCatalog catalog, std::unique_ptr<AgentApi> agents,
      AppOptions options = {});
  ~App();  // Stop()
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Opens the store at config.store_path (creating its directory) and builds the runner and
  // every feature.
  Status Open();
  // Starts what AppOptions asks for, then the runner. Fails if a listener cannot bind or the
  // unfinished operations cannot be loaded.
  Status Start();
  // Stops the API server, the loops, the runner and the Fleet service. Idempotent.
  void Stop();

  // The runner alone (tests: a crash of the workers, then a fresh runner that resumes).
  Status StartRunner();
  void StopRunner();
  // Replaces the handler of `kind` from the next StartRunner on (tests wrap it, testing/crash_at.h).
  void SetHandler(OpKind kind, OperationHandler* handler);
  // The handler the feature registered for `kind` (nullptr if none).
  OperationHandler* FeatureHandler(OpKind kind) const;
  // Hands an operation to the running runner (dropped while none runs: Start resumes it).
  void Poke(int64_t op_id);

  const OrchestratorConfig& config() const { return config_; }
  const ParameterCatalog& catalog() const { return catalog_; }
  Store& store() { return *store_; }
  AgentApi& agents() { return *agents_; }
  api::Dispatcher& dispatcher() { return *dispatcher_; }
  GroupsFeature& groups() { return *groups_; }
  ReshardFeature& reshard() { return *reshard_; }
  ReplicasFeature& replicas() { return *replicas_; }
  FailoverFeature& failover() { return *failover_; }
  ParametersFeature& parameters() { return *parameters_; }
  ModifyFeature& modify() { return *modify_; }
  RollingRestartFeature& rolling_restart() { return *rolling_restart_; }
  uint16_t api_port() const;    // after Start with serve (0 once stopped)
  uint16_t fleet_port() const;  // after Start with serve

 private:
  void BuildFeatures();

  const OrchestratorConfig config_;
  const ParameterCatalog catalog_;
  const AppOptions options_;
  std::unique_ptr<AgentApi> agents_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<FleetService> fleet_;
  std::unique_ptr<TaskPool> pool_;
  std::unique_ptr<api::Dispatcher> dispatcher_;
  std::map<OpKind, OperationHandler*> registered_;  // by the features
  std::map<OpKind, OperationHandler*> handlers_;    // what the next runner gets
  std::map<std::string, std::function<std::string(const std::string&)>> get_json_;
  struct Loop {
    std::function<void()> start, stop;
  };
  std::vector<Loop> loops_;
  std::mutex runner_mu_;
  std::unique_ptr<OperationRunner> runner_;  // guarded by runner_mu_ (Poke from any thread)
  std::unique_ptr<GroupsFeature> groups_;
  std::unique_ptr<ReshardFeature> reshard_;
  std::unique_ptr<ReplicasFeature> replicas_;
  std::unique_ptr<FailoverFeature> failover_;
  std::unique_ptr<ParametersFeature> parameters_;
  std::unique_ptr<ModifyFeature> modify_;
  std::unique_ptr<RollingRestartFeature> rolling_restart_;
  std::unique_ptr<EventsFrontend> events_;
  std::unique_ptr<TagsFrontend> tags_;
  std::unique_ptr<api::ApiServer> server_;
  bool loops_running_ = false;
  bool fleet_running_ = false;
};

}  // namespace cf::orchestrator
