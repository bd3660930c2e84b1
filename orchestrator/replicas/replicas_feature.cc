#include "orchestrator/replicas/replicas_feature.h"

namespace cf::orchestrator {

ReplicasFeature::ReplicasFeature(FeatureHost& host)
    : reconciler(host.deps), frontend(host.store, host.config, host.poke) {
  host.add_handler(OpKind::kIncreaseReplicas, &reconciler);
  host.add_handler(OpKind::kDecreaseReplicas, &reconciler);
  frontend.Register(host.dispatcher);
}

}  // namespace cf::orchestrator
