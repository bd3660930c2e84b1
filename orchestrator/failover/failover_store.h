// FailoverStore: What TestFailover's rate limit and the failover monitor read besides the base
// store.
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, failover_store.cc).
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

class FailoverStore {
 public:
  virtual ~FailoverStore() = default;

  // Operations of `kind` on the group created at or after since_ms whose payload is LIKE
  // payload_like ("%" = any).
  virtual Result<int> CountOperationsSince(const std::string& group_id, OpKind kind,
                                           const std::string& payload_like, int64_t since_ms) = 0;
  // The latest finished_ms of the group's operations (0 when none finished).
  virtual Result<int64_t> LastOperationFinishedMs(const std::string& group_id) = 0;
};

// The FailoverStore of base's database: the implementation provided with Store::Provide, else the
// SQLite one (built on first use).
FailoverStore& FailoverStoreOf(Store& base);

}  // namespace cf::orchestrator
