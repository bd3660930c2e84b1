#include "orchestrator/failover/failover_feature.h"

namespace cf::orchestrator {

FailoverFeature::FailoverFeature(FeatureHost& host)
    : reconciler(host.deps, host.config.failover),
      frontend(host.store, host.config, host.poke),
      monitor(host.store, host.config.failover, host.poke) {
  for (OpKind kind : {OpKind::kFailover, OpKind::kRecoverNode, OpKind::kModifyFailover})
    host.add_handler(kind, &reconciler);
  frontend.Register(host.dispatcher);
  host.add_loop([this] { monitor.Start(); }, [this] { monitor.Stop(); });
}

}  // namespace cf::orchestrator
