// RollingRestartStore: What the rolling restart reads besides the base store.
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, rolling_restart_store.cc).
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

class RollingRestartStore {
 public:
  virtual ~RollingRestartStore() = default;

  // Groups that are `available` with no unfinished operation and have available nodes that are
  // pending-reboot: group id -> those nodes.
  virtual Result<std::map<std::string, std::vector<std::string>>> GroupsPendingReboot() = 0;
};

// The RollingRestartStore of base's database: the implementation provided with Store::Provide, else
// the SQLite one (built on first use).
RollingRestartStore& RollingRestartStoreOf(Store& base);

}  // namespace cf::orchestrator
