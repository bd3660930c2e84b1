#include "orchestrator/rolling_restart/rolling_restart_feature.h"

namespace cf::orchestrator {

RollingRestartFeature::RollingRestartFeature(FeatureHost& host)
    : reconciler(host.deps, host.config.failover, host.catalog, host.config.parameter_groups),
      reboot(host.store, host.config, host.poke) {
  host.add_handler(OpKind::kRollingRestart, &reconciler);
  reboot.Register(host.dispatcher);
}

}  // namespace cf::orchestrator
