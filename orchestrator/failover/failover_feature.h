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

}  // namespace cf::orchestrator
