// StandaloneStore: DeleteCacheCluster of a standalone cache cluster (schema v5).
// ListStandaloneClusters and CompleteRetainPrimary, which other features use, are the base store's.
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, standalone_store.cc).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

class StandaloneStore {
 public:
  virtual ~StandaloneStore() = default;

  // DeleteCacheCluster (standalone_delete.cc): kNotFound when no standalone cluster has the id;
  // kFailedPrecondition when the id is a member of a replication group, or the cluster is not
  // `available`; else one transaction sets it `deleting` and writes the event.
  virtual Status BeginDeleteStandalone(const std::string& cluster_id,
                                       const std::string& event_message) = 0;
  // The reaper, once the agent stopped the node: deletes the `deleting` row, frees its port
  // reservation, event; one transaction (nothing when the row is gone).
  virtual Status CompleteDeleteStandalone(const std::string& cluster_id,
                                          const std::string& event_message) = 0;
};

// The StandaloneStore of base's database: the implementation provided with Store::Provide, else the
// SQLite one (built on first use).
StandaloneStore& StandaloneStoreOf(Store& base);

}  // namespace cf::orchestrator
