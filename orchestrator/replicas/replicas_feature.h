// The replicas feature as the application registers it: Increase/DecreaseReplicaCount
// (kIncreaseReplicas, kDecreaseReplicas).
#pragma once

#include "orchestrator/operations/feature_host.h"
#include "orchestrator/replicas/replica_count_frontend.h"
#include "orchestrator/replicas/replica_count_reconciler.h"

namespace cf::orchestrator {

struct ReplicasFeature {
  explicit ReplicasFeature(FeatureHost& host);
  ReplicaCountReconciler reconciler;
  ReplicaCountFrontend frontend;
};

inline ReplicasFeature::ReplicasFeature(FeatureHost& host)
    : reconciler(host.deps), frontend(host.store, host.config, host.poke) {
  host.add_handler(OpKind::kIncreaseReplicas, &reconciler);
  host.add_handler(OpKind::kDecreaseReplicas, &reconciler);
  frontend.Register(host.dispatcher);
}

}  // namespace cf::orchestrator
