// cachefleet-orchestrator --config <file.yaml>
//
// Wires config -> store -> fleet server (gRPC) -> operation runner (resumes unfinished
// operations) -> API dispatcher with the action handlers -> API server, prints
// "cachefleet-orchestrator serving api on <host:port> fleet on <host:port>" once both listen,
// and stops gracefully on SIGINT/SIGTERM (a second signal, or 15 s, forces the exit).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/log.h"
#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/api/server/api_server.h"
#include "orchestrator/groups/create_group_reconciler.h"
#include "orchestrator/groups/delete_group_reconciler.h"
#include "orchestrator/failover/failover_frontend.h"
#include "orchestrator/failover/failover_monitor.h"
#include "orchestrator/failover/failover_reconciler.h"
#include "orchestrator/modify/maintenance_scheduler.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/modify_settings.h"
#include "orchestrator/replicas/replica_count_frontend.h"
#include "orchestrator/replicas/replica_count_reconciler.h"
#include "orchestrator/events/events_frontend.h"
#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/modify/modify_node_type.h"
#include "orchestrator/modify/node_type_reconciler.h"
#include "orchestrator/modify/modify_parameter_group.h"
#include "orchestrator/parameters/parameter_group_applier.h"
#include "orchestrator/parameters/parameter_group_frontend.h"
#include "orchestrator/tags/tags_frontend.h"
#include "orchestrator/fleet/fleet_service.h"
#include "orchestrator/operations/operation_runner.h"
#include "orchestrator/core/orchestrator_config.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/reshard/reshard_frontend.h"
#include "orchestrator/reshard/reshard_progress.h"
#include "orchestrator/reshard/reshard_reconciler.h"
#include "orchestrator/groups/standalone_delete.h"
#include "orchestrator/rolling_restart/rolling_restart_frontend.h"
#include "orchestrator/rolling_restart/rolling_restart_reconciler.h"
#include "orchestrator/store/store.h"
#include "orchestrator/operations/task_pool.h"

namespace {

constexpr int kForcedExitAfterS = 15;

void Usage() { std::fprintf(stderr, "usage: cachefleet-orchestrator --config <file.yaml>\n"); }

}  // namespace

int main(int argc, char** argv) {
  using namespace cf::orchestrator;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--config" || a == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      Usage();
      return 2;
    }
  }
  if (config_path.empty()) {
    Usage();
    return 2;
  }

  // Block the stop signals in every thread; main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto cfg = LoadOrchestratorConfig(config_path);
  if (!cfg) {
    std::fprintf(stderr, "cachefleet-orchestrator: %s\n", cfg.error().message.c_str());
    return 2;
  }
  cf::SetLogLevel(cfg->log_level);
  auto log = cf::Logger("main");

  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(cfg->store_path).parent_path(), ec);
  Store store;
  if (auto st = store.Open(cfg->store_path); !st) {
    log->critical("cannot open store {}: {}", cfg->store_path, st.error().message);
    return 1;
  }
  log->info("store {} (schema version {})", cfg->store_path, store.schema_version());

  FleetService fleet(store, *cfg);
  if (auto st = fleet.Start(); !st) {
    log->critical("{}", st.error().message);
    return 1;
  }

  auto agents = MakeGrpcAgentApi();
  TaskPool pool(cfg->operations.rpc_threads);
  ReconcilerDeps deps;
  deps.store = &store;
  deps.agents = agents.get();
  deps.pool = &pool;
  deps.settings = cfg->operations;
  deps.cluster_node_timeout_ms = cfg->cluster_node_timeout_ms;
  deps.hold_max_ms = cfg->failover.hold_max_ms;
  CreateGroupReconciler create_reconciler(deps);
  DeleteGroupReconciler delete_reconciler(deps);
  ReshardLiveBoard reshard_board;
  ReshardReconciler reshard_reconciler(deps, &reshard_board);
  OperationRunner runner(store, cfg->operations);
  runner.SetHandler(OpKind::kCreateGroup, &create_reconciler);
  runner.SetHandler(OpKind::kDeleteGroup, &delete_reconciler);
  runner.SetHandler(OpKind::kReshardScaleOut, &reshard_reconciler);
  runner.SetHandler(OpKind::kReshardScaleIn, &reshard_reconciler);
  ReplicaCountReconciler replica_reconciler(deps);
  runner.SetHandler(OpKind::kIncreaseReplicas, &replica_reconciler);
  runner.SetHandler(OpKind::kDecreaseReplicas, &replica_reconciler);
  FailoverReconciler failover_reconciler(deps, cfg->failover);
  runner.SetHandler(OpKind::kFailover, &failover_reconciler);
  runner.SetHandler(OpKind::kRecoverNode, &failover_reconciler);
  runner.SetHandler(OpKind::kModifyFailover, &failover_reconciler);
  auto param_catalog = LoadParameterCatalogForConfig(config_path);
  if (!param_catalog) {
    log->critical("{}", param_catalog.error().message);
    return 1;
  }
  RollingRestartReconciler rolling_reconciler(deps, cfg->failover, *param_catalog,
                                              cfg->parameter_groups);
  runner.SetHandler(OpKind::kRollingRestart, &rolling_reconciler);
  NodeTypeReconciler node_type_reconciler(deps, *param_catalog);
  runner.SetHandler(OpKind::kModifyNodeType, &node_type_reconciler);
  if (auto st = runner.Start(); !st) {
    log->critical("cannot resume operations: {}", st.error().message);
    return 1;
  }
  FailoverMonitor failover_monitor(store, cfg->failover,
                                   [&runner](int64_t id) { runner.Poke(id); });
  fleet.SetNodeExitedListener([&failover_monitor] { failover_monitor.Wake(); });
  failover_monitor.Start();

  cf::api::Dispatcher dispatcher;
  ReplicationGroupFrontend frontend(store, *cfg, [&runner](int64_t id) { runner.Poke(id); });
  frontend.Register(dispatcher);
  ReshardFrontend reshard_frontend(
      store, *cfg, [&runner](int64_t id) { runner.Poke(id); }, &reshard_board);
  reshard_frontend.Register(dispatcher);
  ReplicaCountFrontend replica_frontend(store, *cfg, [&runner](int64_t id) { runner.Poke(id); });
  replica_frontend.Register(dispatcher);
  EventsFrontend events_frontend(store);
  events_frontend.Register(dispatcher);
  ParameterApplier param_applier(store, *agents, *param_catalog, *cfg);
  // Static parameters: pending-reboot groups get a rolling restart (rolling_restart_frontend.h).
  param_applier.SetAfterPass(
      [&store, &runner] { StartPendingRollingRestarts(store, [&runner](int64_t id) { runner.Poke(id); }); });
  param_applier.Start();
  ParameterGroupFrontend param_frontend(store, *cfg, *param_catalog,
                                        [&param_applier] { param_applier.Poke(); });
  param_frontend.Register(dispatcher);
  frontend.SetUserParameterGroups([&store, &param_catalog] {
    return ParameterGroupFrontend::UserGroupsForValidation(store, *param_catalog);
  });
  CacheClusterFrontend cluster_frontend(store, *cfg);
  cluster_frontend.Register(dispatcher);
  StandaloneReaper standalone_reaper(store, *agents, *cfg);
  standalone_reaper.Start();
  StandaloneFrontend standalone_frontend(store, *cfg,
                                         [&standalone_reaper] { standalone_reaper.Poke(); });
  standalone_frontend.Register(dispatcher);
  RebootFrontend reboot_frontend(store, *cfg, [&runner](int64_t id) { runner.Poke(id); });
  reboot_frontend.Register(dispatcher);
  TagsFrontend tags_frontend(store, *cfg);
  tags_frontend.Register(dispatcher);

  FailoverFrontend failover_frontend(store, *cfg, [&runner](int64_t id) { runner.Poke(id); });
  failover_frontend.Register(dispatcher);
  ModifyGroupFrontend modify_frontend(store, *cfg, [&runner](int64_t id) { runner.Poke(id); });
  AddSettingsParameterSet(modify_frontend, store, *cfg);
  AddParameterGroupSet(
      modify_frontend, store, *cfg, *param_catalog,
      [&store, &param_catalog] {
        return ParameterGroupFrontend::UserGroupsForValidation(store, *param_catalog);
      },
      [&param_applier] { param_applier.Poke(); });
  AddNodeTypeSet(modify_frontend, store, *cfg);
  AddEngineVersionSet(modify_frontend, store, *cfg, *param_catalog,
                      [&runner](int64_t id) { runner.Poke(id); });
  modify_frontend.Register(dispatcher);
  // ApplyImmediately=false: replayed in each group's maintenance window.
  MaintenanceScheduler maintenance(
      store, cfg->maintenance,
      [&modify_frontend](const std::string& group_id,
                         const std::map<std::string, std::string>& params) {
        pugi::xml_document doc;
        return modify_frontend.ReplayPending(group_id, params,
                                             doc.append_child("ModifyReplicationGroupResult"));
      });
  modify_frontend.SetPendingListener([&maintenance] { maintenance.Poke(); });
  maintenance.Start();

  cf::api::ApiServerOptions opts;
  opts.listen_host = cfg->api_listen.host;
  opts.port = cfg->api_listen.port;
  opts.threads = cfg->api_threads;
  opts.max_clock_skew_s = cfg->max_clock_skew_s;
  opts.credentials = cfg->credentials;
  const OrchestratorConfig& config = *cfg;
  opts.health_json = [&store, &config] { return HealthJson(store, config); };
  opts.extra_get_json[kOperationsPath] = [&reshard_frontend](const std::string& query) {
    return reshard_frontend.OperationsJson(query);
  };
  opts.extra_get_json[kMaintenancePath] = [&maintenance](const std::string&) {
    return maintenance.StatusJson();
  };
  cf::api::ApiServer server(opts, dispatcher);
  if (auto st = server.Start(); !st) {
    log->critical("api: {}", st.error().message);
    return 1;
  }

  std::printf("cachefleet-orchestrator serving api on %s:%u fleet on %s:%u\n",
              cfg->api_listen.host.c_str(), static_cast<unsigned>(server.port()),
              cfg->fleet_listen.host.c_str(), static_cast<unsigned>(fleet.port()));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log->info("{} received: stopping (a second signal forces the exit)", strsignal(sig));
  std::thread([stop_signals]() mutable {
    // Forced stop: a second signal or the deadline.
    struct timespec ts {
      kForcedExitAfterS, 0
    };
    int s = sigtimedwait(&stop_signals, nullptr, &ts);
    std::fprintf(stderr, "cachefleet-orchestrator: forced exit (%s)\n",
                 s > 0 ? "second signal" : "stop deadline");
    _exit(1);
  }).detach();

  server.Stop();
  maintenance.Stop();
  failover_monitor.Stop();
  standalone_reaper.Stop();
  runner.Stop();
  fleet.Stop();
  log->info("stopped");
  return 0;
}
