#include "orchestrator/modify/modify_node_type.h"

#include <nlohmann/json.hpp>

#include "orchestrator/core/faults.h"
#include "orchestrator/operations/group_result.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

// The validation (also the deferred path's, ApplyImmediately=false): the type, the group's
// state and every node's used memory as last observed. Writes nothing. nt = nullptr: nothing
// to change.
std::variant<ApiError, const NodeType*> Check(const OrchestratorConfig& config,
                                              const api::ApiRequest& req, const GroupView& v) {
  const std::string type = req.params.Get("CacheNodeType").value_or("");
  const NodeType* nt = config.node_types.Find(type);
  if (!nt)
    return api::InvalidParameterValue("Invalid CacheNodeType " + type +
                                      ": not a node type of this fleet (configs/node_types.yaml).");
  if (v.group.cache_node_type == nt->name && v.group.maxmemory_bytes == nt->memory_bytes)
    return static_cast<const NodeType*>(nullptr);
  if (v.group.status != GroupStatus::kAvailable)
    return faults::InvalidReplicationGroupState("Replication group " + v.group.id +
                                                " is not in available state (it is " +
                                                GroupStatusName(v.group.status) + ").");
  for (const auto& n : v.nodes) {
    const uint64_t used = n.observed.known ? n.observed.used_memory : 0;
    if (used > nt->memory_bytes)
      return api::InvalidParameterValue("Cannot scale replication group " + v.group.id + " to " +
                                        nt->name + " (" + std::to_string(nt->memory_bytes) +
                                        " bytes of memory): cache cluster " + n.node_id +
                                        " holds " + std::to_string(used) + " bytes.");
  }
  return nt;
}

std::optional<ApiError> Modify(ModifyGroupFrontend& frontend, Store& store,
                               const OrchestratorConfig& config, const api::ApiRequest& req,
                               const GroupView& v, pugi::xml_node result) {
  auto checked = Check(config, req, v);
  if (auto* e = std::get_if<ApiError>(&checked)) return *e;
  const NodeType* nt = std::get<const NodeType*>(checked);
  if (!nt) {
    RenderGroupResult(store, config, v, result);
    return std::nullopt;
  }
  NodeTypePayload p;
  p.from_type = v.group.cache_node_type;
  p.from_maxmemory = v.group.maxmemory_bytes;
  p.to_type = nt->name;
  p.to_maxmemory = nt->memory_bytes;
  OperationRecord op = NewPendingOperation(
      OpKind::kModifyNodeType,
      v.group.cluster_enabled ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled,
      NowMs());
  op.deadline_ms = op.created_ms + config.operations.node_type_timeout_ms;
  op.payload = NodeTypePayloadToJson(p);
  FailoverChange change;
  change.group_status = "modifying";
  change.node_type = std::make_pair(p.to_type, p.to_maxmemory);
  change.events.push_back(
      {v.group.id, "replication-group", NodeTypeStartedEvent(v.group.id, p)});
  return frontend.BeginOperation(v, op, change, result);
}

}  // namespace

void AddNodeTypeSet(ModifyGroupFrontend& frontend, Store& store, const OrchestratorConfig& config) {
  frontend.AddDeferrableParameterSet(
      "node-type", {"CacheNodeType"},
      [&config](const api::ApiRequest& r, const GroupView& g) {
        auto checked = Check(config, r, g);
        if (auto* e = std::get_if<ApiError>(&checked))
          return ModifyGroupFrontend::SetValidation{*e, false};
        return ModifyGroupFrontend::SetValidation{std::nullopt,
                                                  std::get<const NodeType*>(checked) != nullptr};
      },
      [&frontend, &store, &config](const api::ApiRequest& r, const GroupView& g,
                                   pugi::xml_node out) {
        return Modify(frontend, store, config, r, g, out);
      });
}

// ---- the payload and the event texts ---------------------------------------------------------

std::string NodeTypePayloadToJson(const NodeTypePayload& p) {
  nlohmann::json j = {{"from_type", p.from_type},
                      {"from_maxmemory", p.from_maxmemory},
                      {"to_type", p.to_type},
                      {"to_maxmemory", p.to_maxmemory}};
  if (!p.error.empty()) j["error"] = p.error;
  return j.dump();
}

Result<NodeTypePayload> NodeTypePayloadFromJson(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("to_type") || !j.contains("from_type"))
    return MakeError(Errc::kInternal, "modify-node-type: bad payload " + json);
  NodeTypePayload p;
  try {
    p.from_type = j.at("from_type").get<std::string>();
    p.from_maxmemory = j.value("from_maxmemory", uint64_t{0});
    p.to_type = j.at("to_type").get<std::string>();
    p.to_maxmemory = j.value("to_maxmemory", uint64_t{0});
    p.error = j.value("error", std::string());
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Errc::kInternal, std::string("modify-node-type: bad payload: ") + e.what());
  }
  return p;
}

std::string NodeTypeStartedEvent(const std::string& group_id, const NodeTypePayload& p) {
  return "Scaling replication group " + group_id + " from " + p.from_type + " to " + p.to_type;
}

std::string NodeTypeScaledEvent(const std::string& group_id, const NodeTypePayload& p,
                                size_t nodes) {
  return "Replication group " + group_id + " scaled from " + p.from_type + " to " + p.to_type +
         " (maxmemory " + std::to_string(p.to_maxmemory) + " bytes on " + std::to_string(nodes) +
         " node(s))";
}

std::string NodeTypeFailedEvent(const std::string& group_id, const NodeTypePayload& p) {
  return "Failed to scale replication group " + group_id + " to " + p.to_type + " (" + p.error +
         "); it keeps " + p.from_type;
}

}  // namespace cf::orchestrator
