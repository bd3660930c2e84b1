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

inline GroupsFeature::GroupsFeature(FeatureHost& host)
    : create(host.deps),
      remove(host.deps),
      frontend(host.store, host.config, host.poke),
      clusters(host.store, host.config),
      reaper(host.store, host.agents, host.config),
      standalone(host.store, host.config, [this] { reaper.Poke(); }) {
  host.add_handler(OpKind::kCreateGroup, &create);
  host.add_handler(OpKind::kDeleteGroup, &remove);
  frontend.Register(host.dispatcher);
  clusters.Register(host.dispatcher);
  standalone.Register(host.dispatcher);
  host.add_loop([this] { reaper.Start(); }, [this] { reaper.Stop(); });
}

}  // namespace cf::orchestrator
