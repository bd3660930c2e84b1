#include "orchestrator/modify/modify_settings.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "orchestrator/core/faults.h"
#include "orchestrator/core/maintenance_window.h"
#include "orchestrator/modify/modify_store.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/placement/fleet_placement.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

template <class T, class V>
std::optional<ApiError> Take(V&& v, T& out) {
  if (auto* e = std::get_if<ApiError>(&v)) return *e;
  out = std::move(std::get<0>(v));
  return std::nullopt;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<ApiError> Modify(Store& store, const OrchestratorConfig& config,
                               const api::ApiRequest& req, const GroupView& g,
                               pugi::xml_node result) {
  const api::QueryParams& p = req.params;
  GroupSettingsUpdate u;
  std::vector<std::string> changed;
  if (auto d = p.Get("ReplicationGroupDescription")) {
    if (d->size() > 255)
      return api::InvalidParameterValue(
          "ReplicationGroupDescription must be at most 255 characters.");
    u.description = *d;
    changed.push_back("ReplicationGroupDescription");
  }
  if (auto s = p.Get("SnapshottingClusterId")) {
    if (g.group.cluster_enabled)
      return api::InvalidParameterValue(
          "SnapshottingClusterId cannot be set for a replication group with cluster mode "
          "enabled.");
    const std::string id = Lower(*s);
    bool member = false;
    for (const auto& n : g.nodes) member = member || n.node_id == id;
    if (!member) return faults::CacheClusterNotFound(id);
    u.snapshotting_cluster_id = id;
    changed.push_back("SnapshottingClusterId");
  }
  std::optional<int64_t> limit;
  if (auto e = Take(p.GetInt("SnapshotRetentionLimit"), limit)) return *e;
  if (limit) {
    if (*limit < 0)
      return api::InvalidParameterValue("SnapshotRetentionLimit must not be negative.");
    if (*limit > 0)
      return api::InvalidParameterValue(
          "SnapshotRetentionLimit > 0 (automatic snapshots) is not supported by cachefleet yet.");
    u.snapshot_retention_limit = 0;
    changed.push_back("SnapshotRetentionLimit");
  }
  if (auto w = p.Get("SnapshotWindow")) {
    if (!IsValidSnapshotWindow(*w))
      return api::InvalidParameterValue("Invalid SnapshotWindow " + *w +
                                        ": the format is hh24:mi-hh24:mi (UTC).");
    u.snapshot_window = *w;
    changed.push_back("SnapshotWindow");
  }
  if (auto w = p.Get("PreferredMaintenanceWindow")) {
    auto parsed = ParseMaintenanceWindow(*w);
    if (!parsed)
      return api::InvalidParameterValue(
          "Invalid PreferredMaintenanceWindow " + *w +
          ": the format is ddd:hh24:mi-ddd:hh24:mi (UTC) and the window is at least 60 "
          "minutes.");
    u.preferred_maintenance_window = *parsed;
    changed.push_back("PreferredMaintenanceWindow");
  }
  if (auto a = p.Get("NotificationTopicArn")) {
    if (!a->empty() && a->rfind("arn:", 0) != 0)
      return api::InvalidParameterValue("Invalid NotificationTopicArn " + *a + ".");
    u.notification_topic_arn = *a;
    changed.push_back("NotificationTopicArn");
  }
  if (auto s = p.Get("NotificationTopicStatus")) {
    if (*s != "active" && *s != "inactive")
      return api::InvalidParameterValue("NotificationTopicStatus must be active or inactive.");
    u.notification_topic_status = *s;
    changed.push_back("NotificationTopicStatus");
  }
  std::optional<std::vector<std::string>> sgs;
  if (auto e = Take(p.GetListChecked("SecurityGroupIds", "SecurityGroupId"), sgs)) return *e;
  if (sgs) {
    u.security_group_ids = *sgs;
    changed.push_back("SecurityGroupIds");
  }
  std::optional<bool> amvu;
  if (auto e = Take(p.GetBool("AutoMinorVersionUpgrade"), amvu)) return *e;
  if (amvu) {
    u.auto_minor_version_upgrade = *amvu;
    changed.push_back("AutoMinorVersionUpgrade");
  }
  std::string list;
  for (const auto& c : changed) list += (list.empty() ? "" : ", ") + c;
  auto after = ModifyStoreOf(store).UpdateGroupSettings(
      g.group.id, u, "Modified replication group " + g.group.id + ": " + list);
  if (!after) return faults::GroupChangeFault(after.error(), g.group.id);
  RenderGroupResult(store, config, *after, result);
  Logger("api")->info("[{}] settings modified: {}", g.group.id, list);
  return std::nullopt;
}

}  // namespace

void AddSettingsParameterSet(ModifyGroupFrontend& frontend, Store& store,
                             const OrchestratorConfig& config) {
  frontend.AddParameterSet(
      "settings",
      {"ReplicationGroupDescription", "SnapshottingClusterId", "SnapshotRetentionLimit",
       "SnapshotWindow", "PreferredMaintenanceWindow", "NotificationTopicArn",
       "NotificationTopicStatus", "SecurityGroupIds", "AutoMinorVersionUpgrade"},
      [&store, &config](const api::ApiRequest& r, const GroupView& g, pugi::xml_node out) {
        return Modify(store, config, r, g, out);
      });
}

}  // namespace cf::orchestrator
