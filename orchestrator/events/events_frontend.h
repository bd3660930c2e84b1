// DescribeEvents: validation (pure), XML rendering and the action handler.
//
// Window: StartTime/EndTime (ISO-8601 UTC, 0-9 fraction digits, `Z`) and Duration (minutes).
//   both times -> [StartTime, EndTime] (Duration too -> InvalidParameterCombination);
//   StartTime only -> [StartTime, StartTime + Duration] with Duration, else [StartTime, now];
//   EndTime only -> [EndTime - Duration (default 60), EndTime];
//   neither -> the last Duration (default 60) minutes.
// Events are listed newest first (date, then id); events older than 14 days are deleted.
// The Marker is opaque ("cfe1." + hex of "<date_ms>:<event_id>" of the last event returned).
#pragma once

#include <cstdint>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "orchestrator/api/api_types.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/core/orch_types.h"
#include "orchestrator/events/event_query_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {

inline constexpr int64_t kEventRetentionMs = 14LL * 24 * 3600 * 1000;

// The SourceType values of the current model.
const std::vector<std::string>& EventSourceTypes();

// Pure: parameters + the current time -> the query (limit = MaxRecords) or the fault.
settings::Checked<EventQuery> ValidateDescribeEvents(const api::QueryParams& params,
                                                     int64_t now_ms);

std::string EncodeEventMarker(int64_t date_ms, int64_t event_id);
std::optional<std::pair<int64_t, int64_t>> DecodeEventMarker(const std::string& marker);

// <Marker> (only when more) then <Events><Event>...</Event></Events>.
void RenderEvents(const std::vector<EventRecord>& events, const std::optional<std::string>& marker,
                  pugi::xml_node result);

class EventsFrontend {
 public:
  explicit EventsFrontend(Store& store) : store_(store) {}
  void Register(api::Dispatcher& dispatcher);
  std::optional<api::ApiError> DescribeEvents(const api::ApiRequest& req, pugi::xml_node result);

 private:
  Store& store_;
};

}  // namespace cf::orchestrator
