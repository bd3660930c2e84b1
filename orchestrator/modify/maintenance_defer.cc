// ModifyGroupFrontend's ApplyImmediately=false path (declared in modify_group_frontend.h):
// recording a deferrable set's request in the group's pending modifications, clearing them
// when an immediate request supersedes them, and the maintenance scheduler's replay.
#include <cctype>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/modify/modify_group_frontend.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Booleans are stored as true/false whatever case they came in (the API accepts any case).
std::string Canonical(const std::string& v) {
  const std::string l = Lower(v);
  return l == "true" || l == "false" ? l : v;
}

}  // namespace

std::optional<api::ApiError> ModifyGroupFrontend::Defer(const ParamSet& set,
                                                        const std::vector<std::string>& names,
                                                        const api::ApiRequest& req,
                                                        const GroupView& g, pugi::xml_node result) {
  SetValidation v = set.validate(req, g);
  if (v.fault) return v.fault;
  std::map<std::string, std::string> values;
  std::vector<std::string> clear;
  std::string list;
  if (v.changes) {
    for (const auto& n : names) {
      auto value = req.params.Get(n);
      if (!value) continue;  // scalar parameters only (see the header)
      values[n] = Canonical(*value);
      list += (list.empty() ? "" : ", ") + n + "=" + values[n];
    }
  } else {
    // The values requested are the current ones: the latest request wins, so whatever was
    // pending for these parameters is dropped.
    clear = names;
  }
  const std::string event = values.empty()
                                ? std::string()
                                : "Modification of replication group " + g.group.id +
                                      " will be applied in the maintenance window " +
                                      g.group.preferred_maintenance_window + " (UTC): " + list;
  auto after = ModifyStoreOf(store_).RecordPendingModifications(g.group.id, values, clear, event);
  if (!after) {
    const Error& e = after.error();
    if (e.code == Errc::kNotFound) return faults::ReplicationGroupNotFound(g.group.id);
    return faults::StoreFailure(e);
  }
  RenderGroupResult(store_, config_, *after, result);
  if (values.empty())
    Logger("api")->info("[{}] {}: the current values; pending values of these parameters dropped",
                        g.group.id, set.name);
  else
    Logger("api")->info("[{}] pending until the maintenance window {}: {}", g.group.id,
                        g.group.preferred_maintenance_window, list);
  if (pending_listener_) pending_listener_();
  return std::nullopt;
}

void ModifyGroupFrontend::Supersede(const std::string& group_id,
                                    const std::vector<std::string>& names) {
  auto removed = ModifyStoreOf(store_).ClearPendingModifications(group_id, names);
  if (!removed) {
    // The change itself is done; a pending value left behind is replayed later and is then
    // either the same value again (no change) or what the user asked for before.
    Logger("api")->warn("[{}] cannot clear pending values superseded by an immediate change: {}",
                        group_id, removed.error().message);
    return;
  }
  if (*removed > 0)
    Logger("api")->info("[{}] {} pending value(s) superseded by an immediate change", group_id,
                        *removed);
}

std::optional<api::ApiError> ModifyGroupFrontend::ReplayPending(
    const std::string& group_id, const std::map<std::string, std::string>& params,
    pugi::xml_node result) {
  std::map<std::string, std::string> p = params;
  p["ReplicationGroupId"] = group_id;
  p["ApplyImmediately"] = "true";
  api::ApiRequest req;
  req.action = "ModifyReplicationGroup";
  req.version = "2015-02-02";
  req.params = api::QueryParams(std::move(p));
  req.request_id = "maintenance-window";
  return Dispatch(req, result, /*replay=*/true);
}

}  // namespace cf::orchestrator
