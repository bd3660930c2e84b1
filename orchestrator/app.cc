#include "orchestrator/app.h"

#include <filesystem>

#include "common/log.h"
#include "orchestrator/api/server/api_server.h"
#include "orchestrator/events/events_frontend.h"
#include "orchestrator/failover/failover_feature.h"
#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/fleet/fleet_service.h"
#include "orchestrator/groups/groups_feature.h"
#include "orchestrator/modify/modify_feature.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/operations/task_pool.h"
#include "orchestrator/parameters/parameters_feature.h"
#include "orchestrator/replicas/replicas_feature.h"
#include "orchestrator/reshard/reshard_frontend.h"
#include "orchestrator/rolling_restart/rolling_restart_feature.h"
#include "orchestrator/store/store.h"
#include "orchestrator/tags/tags_frontend.h"

namespace cf::orchestrator {

App::App(OrchestratorConfig config, ParameterCatalog catalog, std::unique_ptr<AgentApi> agents,
         AppOptions options)
    : config_(std::move(config)),
      catalog_(std::move(catalog)),
      options_(options),
      agents_(std::move(agents)) {}

App::~App() { Stop(); }

Status App::Open() {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(config_.store_path).parent_path(), ec);
  store_ = std::make_unique<Store>();
  if (auto st = store_->Open(config_.store_path); !st)
    return MakeError(st.error().code,
                     "cannot open store " + config_.store_path + ": " + st.error().message);
  cf::Logger("app")->info("store {} (schema version {})", config_.store_path,
                          store_->schema_version());
  fleet_ = std::make_unique<FleetService>(*store_, config_);
  pool_ = std::make_unique<TaskPool>(config_.operations.rpc_threads);
  dispatcher_ = std::make_unique<api::Dispatcher>();
  BuildFeatures();
  return {};
}

void App::BuildFeatures() {
  ReconcilerDeps deps;
  deps.store = store_.get();
  deps.agents = agents_.get();
  deps.pool = pool_.get();
  deps.settings = config_.operations;
  deps.cluster_node_timeout_ms = config_.cluster_node_timeout_ms;
  deps.hold_max_ms = config_.failover.hold_max_ms;
  FeatureHost host{
      *store_, config_, catalog_, *agents_, deps, *dispatcher_,
      [this](int64_t id) { Poke(id); },
      [this](OpKind kind, OperationHandler* h) { registered_[kind] = handlers_[kind] = h; },
      [this](const std::string& path, FeatureHost::GetJson f) { get_json_[path] = std::move(f); },
      [this](std::function<void()> start, std::function<void()> stop) {
        loops_.push_back({std::move(start), std::move(stop)});
      }};
  // One line per feature; the meeting points follow.
  groups_ = std::make_unique<GroupsFeature>(host);
  reshard_ = std::make_unique<ReshardFeature>(host);
  replicas_ = std::make_unique<ReplicasFeature>(host);
  failover_ = std::make_unique<FailoverFeature>(host);
  parameters_ = std::make_unique<ParametersFeature>(host);
  auto user_groups = [this] { return parameters_->UserGroups(); };
  modify_ = std::make_unique<ModifyFeature>(host, user_groups,
                                            [this] { parameters_->applier.Poke(); });
  rolling_restart_ = std::make_unique<RollingRestartFeature>(host);
  events_ = std::make_unique<EventsFrontend>(*store_);
  events_->Register(*dispatcher_);
  tags_ = std::make_unique<TagsFrontend>(*store_, config_);
  tags_->Register(*dispatcher_);

  groups_->frontend.SetUserParameterGroups(user_groups);
  AddEngineVersionSet(modify_->frontend, *store_, config_, catalog_, host.poke);
  // Static parameters: pending-reboot groups get a rolling restart (rolling_restart_frontend.h).
  parameters_->applier.SetAfterPass(
      [this] { StartPendingRollingRestarts(*store_, [this](int64_t id) { Poke(id); }); });
  fleet_->SetNodeExitedListener([this] { failover_->monitor.Wake(); });
}

Status App::Start() {
  if (options_.serve) {
    if (auto st = fleet_->Start(); !st) return st;
    fleet_running_ = true;
  }
  if (auto st = StartRunner(); !st)
    return MakeError(st.error().code, "cannot resume operations: " + st.error().message);
  if (options_.run_loops) {
    for (auto& loop : loops_) loop.start();
    loops_running_ = true;
  }
  if (!options_.serve) return {};
  api::ApiServerOptions opts;
  opts.listen_host = config_.api_listen.host;
  opts.port = config_.api_listen.port;
  opts.threads = config_.api_threads;
  opts.max_clock_skew_s = config_.max_clock_skew_s;
  opts.credentials = config_.credentials;
  opts.health_json = [this] { return HealthJson(*store_, config_); };
  opts.extra_get_json = get_json_;
  server_ = std::make_unique<api::ApiServer>(opts, *dispatcher_);
  if (auto st = server_->Start(); !st)
    return MakeError(st.error().code, "api: " + st.error().message);
  return {};
}

void App::Stop() {
  if (server_) server_->Stop();
  server_.reset();
  if (loops_running_)
    for (auto it = loops_.rbegin(); it != loops_.rend(); ++it) it->stop();
  loops_running_ = false;
  StopRunner();
  if (fleet_running_) fleet_->Stop();
  fleet_running_ = false;
}

Status App::StartRunner() {
  StopRunner();
  auto runner = std::make_unique<OperationRunner>(*store_, config_.operations);
  for (const auto& [kind, h] : handlers_) runner->SetHandler(kind, h);
  std::lock_guard lk(runner_mu_);  // a Poke meanwhile waits for the running runner
  if (auto st = runner->Start(); !st) return st;
  runner_ = std::move(runner);
  return {};
}

void App::StopRunner() {
  std::unique_ptr<OperationRunner> runner;
  {
    std::lock_guard lk(runner_mu_);
    runner = std::move(runner_);
  }
  if (runner) runner->Stop();
}

void App::SetHandler(OpKind kind, OperationHandler* handler) { handlers_[kind] = handler; }

OperationHandler* App::FeatureHandler(OpKind kind) const {
  auto it = registered_.find(kind);
  return it == registered_.end() ? nullptr : it->second;
}

void App::Poke(int64_t op_id) {
  std::lock_guard lk(runner_mu_);
  if (runner_) runner_->Poke(op_id);
}

uint16_t App::api_port() const { return server_ ? server_->port() : 0; }
uint16_t App::fleet_port() const { return fleet_->port(); }

}  // namespace cf::orchestrator
