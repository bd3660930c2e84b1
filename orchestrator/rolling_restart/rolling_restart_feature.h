// The rolling restart feature as the application registers it: RebootCacheCluster and the
// rolling restart operation (kRollingRestart) that static parameters and EngineVersion
// upgrades also start (the application wires those: AddEngineVersionSet on the modify
// feature's frontend, StartPendingRollingRestarts after each parameter applier pass).
#pragma once

#include "orchestrator/operations/feature_host.h"
#include "orchestrator/rolling_restart/rolling_restart_frontend.h"
#include "orchestrator/rolling_restart/rolling_restart_reconciler.h"

namespace cf::orchestrator {

struct RollingRestartFeature {
  explicit RollingRestartFeature(FeatureHost& host);
  RollingRestartReconciler reconciler;
  RebootFrontend reboot;
};

inline RollingRestartFeature::RollingRestartFeature(FeatureHost& host)
    : reconciler(host.deps, host.config.failover, host.catalog, host.config.parameter_groups),
      reboot(host.store, host.config, host.poke) {
  host.add_handler(OpKind::kRollingRestart, &reconciler);
  reboot.Register(host.dispatcher);
}

}  // namespace cf::orchestrator
