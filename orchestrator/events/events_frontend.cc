#include "orchestrator/events/events_frontend.h"

#include <algorithm>

#include "common/log.h"
#include "orchestrator/api/xml_util.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/events/event_query_store.h"

namespace cf::orchestrator {
namespace {

using api::InvalidParameterCombination;
using api::InvalidParameterValue;

constexpr char kMarkerPrefix[] = "cfe1.";
constexpr int64_t kMinuteMs = 60 * 1000;

settings::Checked<std::optional<int64_t>> ParseTime(const api::QueryParams& params,
                                                    const std::string& name) {
  auto raw = params.Get(name);
  if (!raw) return std::optional<int64_t>{};
  auto ms = api::ParseTimestampMs(*raw);
  if (!ms)
    return InvalidParameterValue(
        "The parameter " + name + " is not a valid ISO-8601 UTC " +
        "timestamp (YYYY-MM-DDTHH:MM:SS[.fraction]Z): " + api::SanitizeXmlText(*raw) + ".");
  return std::optional<int64_t>(*ms);
}

}  // namespace

const std::vector<std::string>& EventSourceTypes() {
  static const std::vector<std::string> k = {"cache-cluster",
                                             "cache-parameter-group",
                                             "cache-security-group",
                                             "cache-subnet-group",
                                             "replication-group",
                                             "serverless-cache",
                                             "serverless-cache-snapshot",
                                             "user",
                                             "user-group"};
  return k;
}

std::string EncodeEventMarker(int64_t date_ms, int64_t event_id) {
  return settings::EncodeMarker(kMarkerPrefix,
                                std::to_string(date_ms) + ":" + std::to_string(event_id));
}

std::optional<std::pair<int64_t, int64_t>> DecodeEventMarker(const std::string& marker) {
  auto payload = settings::DecodeMarker(kMarkerPrefix, marker);
  if (!payload) return std::nullopt;
  auto colon = payload->find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= payload->size()) return std::nullopt;
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 18 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string a = payload->substr(0, colon), b = payload->substr(colon + 1);
  if (!digits(a) || !digits(b)) return std::nullopt;
  return std::make_pair(std::stoll(a), std::stoll(b));
}

settings::Checked<EventQuery> ValidateDescribeEvents(const api::QueryParams& params,
                                                     int64_t now_ms) {
  static const settings::KnownParams known = {
      {"SourceIdentifier", false}, {"SourceType", false}, {"StartTime", false}, {"EndTime", false},
      {"Duration", false},         {"MaxRecords", false}, {"Marker", false}};
  if (auto e = settings::RejectUnknown(params, known)) return *e;
  EventQuery q;
  if (auto id = params.Get("SourceIdentifier")) {
    if (id->empty() || id->size() > 255)
      return InvalidParameterValue("The parameter SourceIdentifier must be 1 to 255 characters.");
    q.source_id = settings::Lower(*id);
  }
  if (auto type = params.Get("SourceType")) {
    const auto& types = EventSourceTypes();
    if (std::find(types.begin(), types.end(), *type) == types.end()) {
      std::string allowed;
      for (const auto& t : types) allowed += (allowed.empty() ? "" : ", ") + t;
      return InvalidParameterValue("Invalid value for SourceType: " + api::SanitizeXmlText(*type) +
                                   ". Valid values: " + allowed + ".");
    }
    q.source_type = *type;
  }
  std::optional<int64_t> start, end, duration;
  {
    auto v = ParseTime(params, "StartTime");
    if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
    start = std::get<std::optional<int64_t>>(v);
  }
  {
    auto v = ParseTime(params, "EndTime");
    if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
    end = std::get<std::optional<int64_t>>(v);
  }
  {
    auto v = params.GetInt("Duration");
    if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
    duration = std::get<std::optional<int64_t>>(v);
    if (duration && (*duration < 0 || *duration > kEventRetentionMs / kMinuteMs))
      return InvalidParameterValue("The parameter Duration must be between 0 and " +
                                   std::to_string(kEventRetentionMs / kMinuteMs) +
                                   " minutes (14 days).");
  }
  if (start && end && duration)
    return InvalidParameterCombination(
        "Duration cannot be combined with both StartTime and EndTime.");
  if (start && end) {
    q.start_ms = *start;
    q.end_ms = *end;
  } else if (start) {
    q.start_ms = *start;
    q.end_ms = duration ? *start + *duration * kMinuteMs : now_ms;
  } else if (end) {
    q.end_ms = *end;
    q.start_ms = *end - duration.value_or(60) * kMinuteMs;
  } else {
    q.end_ms = now_ms;
    q.start_ms = now_ms - duration.value_or(60) * kMinuteMs;
  }
  if (q.start_ms > q.end_ms)
    return InvalidParameterValue("The parameter StartTime must be before EndTime.");
  // Inclusive end: a time with no fraction covers its whole millisecond already.
  {
    auto v = settings::ParseMaxRecords(params);
    if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
    q.limit = std::get<int>(v);
  }
  if (auto marker = params.Get("Marker"); marker && !marker->empty()) {
    auto before = DecodeEventMarker(*marker);
    if (!before)
      return InvalidParameterValue("Invalid Marker: " + api::SanitizeXmlText(*marker) + ".");
    q.before = *before;
  }
  return q;
}

void RenderEvents(const std::vector<EventRecord>& events, const std::optional<std::string>& marker,
                  pugi::xml_node result) {
  if (marker) api::AppendText(result, "Marker", *marker);
  pugi::xml_node list = result.append_child("Events");
  for (const auto& e : events) {
    pugi::xml_node ev = list.append_child("Event");
    api::AppendText(ev, "SourceIdentifier", e.source_id);
    api::AppendText(ev, "SourceType", e.source_type);
    api::AppendText(ev, "Message", api::SanitizeXmlText(e.message));
    api::AppendTimestamp(ev, "Date", e.date_ms);
  }
}

void EventsFrontend::Register(api::Dispatcher& d) {
  d.Register("DescribeEvents",
             [this](const api::ApiRequest& r, pugi::xml_node n) { return DescribeEvents(r, n); });
}

std::optional<api::ApiError> EventsFrontend::DescribeEvents(const api::ApiRequest& req,
                                                            pugi::xml_node result) {
  const int64_t now = NowMs();
  auto v = ValidateDescribeEvents(req.params, now);
  if (auto* e = std::get_if<api::ApiError>(&v)) return *e;
  EventQuery q = std::get<EventQuery>(v);
  const int page = q.limit;
  q.limit = page + 1;
  auto events = EventQueryStoreOf(store_).QueryEvents(q, now - kEventRetentionMs);
  if (!events) {
    return faults::StoreFailure(events.error());
  }
  std::optional<std::string> marker;
  if (static_cast<int>(events->size()) > page) {
    events->resize(static_cast<size_t>(page));
    marker = EncodeEventMarker(events->back().date_ms, events->back().id);
  }
  RenderEvents(*events, marker, result);
  return std::nullopt;
}

}  // namespace cf::orchestrator
