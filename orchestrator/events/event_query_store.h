// EventQueryStore: DescribeEvents. Events are written by the base store, together with the change
// they report.
//
// An abstract interface: the seam a second backend (etcd) implements with the same semantics.
// Each call is one atomic, domain-level change (one SQLite transaction under the database's
// mutex in the SQLite implementation, event_query_store.cc).
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

// A DescribeEvents query (event_query_store.cc). Times are inclusive epoch ms; empty strings match
// every source id / type; before_* (from the Marker) keep events strictly older than
// (before_date_ms, before_event_id) in (date, id) order.
struct EventQuery {
  std::string source_id;
  std::string source_type;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::optional<std::pair<int64_t, int64_t>> before;  // (date_ms, event_id)
  int limit = 100;
};

class EventQueryStore {
 public:
  virtual ~EventQueryStore() = default;

  // DescribeEvents (event_query_store.cc): first deletes events dated before prune_before_ms (the
  // 14-day retention), then returns the events matching q, newest first, at most q.limit.
  virtual Result<std::vector<EventRecord>> QueryEvents(const EventQuery& q,
                                                       int64_t prune_before_ms) = 0;
};

// The EventQueryStore of base's database: the implementation provided with Store::Provide, else the
// SQLite one (built on first use).
EventQueryStore& EventQueryStoreOf(Store& base);

}  // namespace cf::orchestrator
