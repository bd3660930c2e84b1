#include "orchestrator/parameters/parameter_group_applier.h"

#include "common/log.h"
#include "orchestrator/operations/reconciler_context.h"
#include "orchestrator/parameters/parameter_group_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

ParameterApplier::ParameterApplier(Store& store, AgentApi& agents, const ParameterCatalog& catalog,
                                   const OrchestratorConfig& config)
    : store_(store), agents_(agents), catalog_(catalog), config_(config) {}

ParameterApplier::~ParameterApplier() { Stop(); }

void ParameterApplier::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void ParameterApplier::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ParameterApplier::Poke() {
  ++pokes_;
  {
    std::lock_guard lk(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void ParameterApplier::Loop() {
  while (!stop_) {
    RunOnce();
    if (after_pass_ && !stop_) after_pass_();
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(1000), [this] { return poked_ || stop_.load(); });
    poked_ = false;
  }
}

int ParameterApplier::RunOnce() {
  auto log = Logger("params");
  auto tasks = ParameterGroupStoreOf(store_).ListParameterApplyTasks();
  if (!tasks) {
    log->warn("cannot list parameter work: {}", tasks.error().message);
    return 0;
  }
  int done = 0;
  for (const auto& t : *tasks) {
    if (stop_) break;
    auto host = store_.GetHost(t.node.host_id);
    if (!host || !*host) continue;
    pb::ReconfigureNodeRequest req;
    // hold_max_ms follows the group's automatic failover (0 with it), like at launch.
    *req.mutable_spec() = BuildNodeSpec(t.group, t.node, config_.cluster_node_timeout_ms,
                                        config_.failover.hold_max_ms);
    auto family = [&] {
      const ParameterGroup* b = config_.parameter_groups.Find(t.parameter_group);
      if (b) return b->family;
      auto g = store_.GetParameterGroup(t.parameter_group);
      return g && *g ? (*g)->family : std::string();
    }();
    AddParameterConfig(t.config, catalog_, family, req);
    req.set_restart(false);
    if (t.node_generation == 0 && !t.node_pending_reboot) {
      // Just created: launched with the defaults, so a static value other than the default is
      // not running yet.
      const FamilyDef* fam = catalog_.Family(family);
      bool differs = false;
      for (const auto& [k, v] : StaticConfig(t.config, catalog_, family)) {
        const ParameterDef* d = fam ? fam->Find(k) : nullptr;
        if (d && d->default_value != v) differs = true;
      }
      if (differs) {
        if (auto st = ParameterGroupStoreOf(store_).MarkPendingReboot(t.node.node_id); !st) {
          log->warn("[{}] cannot mark pending-reboot: {}", t.node.node_id, st.error().message);
          continue;
        }
        log->info("[{}] runs the default of a static parameter of {}: pending-reboot",
                  t.node.node_id, t.parameter_group);
      }
    }
    auto r = agents_.ReconfigureNode(AgentTarget{(*host)->host_id, (*host)->agent_endpoint}, req,
                                     config_.operations.agent_rpc_timeout_ms);
    if (!r) {
      const std::string& msg = r.error().message;
      (void)ParameterGroupStoreOf(store_).RecordParameterApplyError(t.node.node_id, msg);
      if (last_error_[t.node.node_id] != msg)
        log->warn("[{}] applying parameter group {} (generation {}) failed: {}", t.node.node_id,
                  t.parameter_group, t.generation, msg);
      last_error_[t.node.node_id] = msg;
      continue;
    }
    last_error_.erase(t.node.node_id);
    if (auto st = ParameterGroupStoreOf(store_).MarkParametersApplied(t.node.node_id, t.generation,
                                                                      t.node_generation);
        !st) {
      log->warn("[{}] cannot record parameter generation: {}", t.node.node_id, st.error().message);
      continue;
    }
    log->info("[{}] parameter group {} generation {} applied ({} dynamic parameter(s))",
              t.node.node_id, t.parameter_group, t.generation, req.spec().config_size());
    ++done;
  }
  return done;
}

}  // namespace cf::orchestrator
