// The groups feature as the application registers it: Create/Describe/DeleteReplicationGroup
// (kCreateGroup, kDeleteGroup), DescribeCacheClusters, DeleteCacheCluster and its reaper loop.
#pragma once

#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/groups/create_group_reconciler.h"
#include "orchestrator/groups/delete_group_reconciler.h"
#include "orchestrator/groups/replication_group_frontend.h"
#include "orchestrator/groups/standalone_delete.h"
#include "orchestrator/operations/feature_host.h"

namespace cf::orchestrator {

struct GroupsFeature {
  explicit GroupsFeature(FeatureHost& host);
  CreateGroupReconciler create;
  DeleteGroupReconciler remove;
  ReplicationGroupFrontend frontend;
  CacheClusterFrontend clusters;
  StandaloneReaper reaper;  // loop: stops the redis-server of a deleted standalone cluster
  StandaloneFrontend standalone;
};

}  // namespace cf::orchestrator
