// The failover feature as the application registers it: TestFailover, automatic failover and
// node recovery (kFailover, kRecoverNode, kModifyFailover) and the failover monitor loop.
#pragma once

#include "orchestrator/failover/failover_frontend.h"
#include "orchestrator/failover/failover_monitor.h"
#include "orchestrator/failover/failover_reconciler.h"
#include "orchestrator/operations/feature_host.h"

namespace cf::orchestrator {

struct FailoverFeature {
  explicit FailoverFeature(FeatureHost& host);
  FailoverReconciler reconciler;
  FailoverFrontend frontend;
  FailoverMonitor monitor;  // loop: starts failovers and recoveries (Wake on NODE_EXITED)
};

inline FailoverFeature::FailoverFeature(FeatureHost& host)
    : reconciler(host.deps, host.config.failover),
      frontend(host.store, host.config, host.poke),
      monitor(host.store, host.config.failover, host.poke) {
  for (OpKind kind : {OpKind::kFailover, OpKind::kRecoverNode, OpKind::kModifyFailover})
    host.add_handler(kind, &reconciler);
  frontend.Register(host.dispatcher);
  host.add_loop([this] { monitor.Start(); }, [this] { monitor.Stop(); });
}

}  // namespace cf::orchestrator
