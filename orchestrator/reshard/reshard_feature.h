// The reshard feature as the application registers it: ModifyReplicationGroupShardConfiguration
// (kReshardScaleOut, kReshardScaleIn) and GET /cachefleet/operations (live progress).
#pragma once

#include "orchestrator/operations/feature_host.h"
#include "orchestrator/reshard/reshard_frontend.h"
#include "orchestrator/reshard/reshard_progress.h"
#include "orchestrator/reshard/reshard_reconciler.h"

namespace cf::orchestrator {

struct ReshardFeature {
  explicit ReshardFeature(FeatureHost& host);
  ReshardLiveBoard board;  // the running moves' progress, between reconciler and frontend
  ReshardReconciler reconciler;
  ReshardFrontend frontend;
};

}  // namespace cf::orchestrator
