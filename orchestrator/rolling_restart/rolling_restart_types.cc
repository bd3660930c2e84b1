#include "orchestrator/rolling_restart/rolling_restart_types.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace cf::orchestrator {

using nlohmann::json;

const char* RestartReasonName(RestartReason r) {
  switch (r) {
    case RestartReason::kParameters:
      return "parameters";
    case RestartReason::kReboot:
      return "reboot";
    case RestartReason::kEngineVersion:
      return "engine-version";
  }
  return "unknown";
}

std::string RollingRestartPayloadToJson(const RollingRestartPayload& p) {
  json j;
  j["reason"] = RestartReasonName(p.reason);
  j["engine_version"] = p.engine_version;
  j["parameter_group"] = p.parameter_group;
  j["nodes"] = p.nodes;
  json prog = json::object();
  for (const auto& [id, np] : p.progress)
    prog[id] = json{{"phase", np.phase}, {"pid_before", np.pid_before},
                    {"generation", np.generation}};
  j["progress"] = prog;
  j["switch_to"] = p.switch_to;
  j["switched"] = p.switched;
  return j.dump();
}

Result<RollingRestartPayload> RollingRestartPayloadFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("reason") || !j["reason"].is_string() ||
      !j.contains("nodes") || !j["nodes"].is_array())
    return MakeError(Errc::kInvalidArgument, "bad rolling-restart payload");
  RollingRestartPayload p;
  const std::string reason = j["reason"].get<std::string>();
  bool known = false;
  for (auto r : {RestartReason::kParameters, RestartReason::kReboot, RestartReason::kEngineVersion})
    if (reason == RestartReasonName(r)) {
      p.reason = r;
      known = true;
    }
  if (!known) return MakeError(Errc::kInvalidArgument, "bad rolling-restart reason " + reason);
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  p.engine_version = str("engine_version");
  p.parameter_group = str("parameter_group");
  for (const auto& n : j["nodes"])
    if (n.is_string()) p.nodes.push_back(n.get<std::string>());
  if (j.contains("progress") && j["progress"].is_object())
    for (const auto& [id, v] : j["progress"].items()) {
      NodeRestartProgress np;
      if (v.contains("phase") && v["phase"].is_string()) np.phase = v["phase"].get<std::string>();
      if (v.contains("pid_before") && v["pid_before"].is_number_integer())
        np.pid_before = v["pid_before"].get<int64_t>();
      if (v.contains("generation") && v["generation"].is_number_integer())
        np.generation = v["generation"].get<int64_t>();
      p.progress[id] = np;
    }
  if (j.contains("switch_to") && j["switch_to"].is_object())
    for (const auto& [ng, v] : j["switch_to"].items())
      if (v.is_string()) p.switch_to[ng] = v.get<std::string>();
  if (j.contains("switched") && j["switched"].is_object())
    for (const auto& [ng, v] : j["switched"].items())
      if (v.is_boolean()) p.switched[ng] = v.get<bool>();
  return p;
}

namespace {

std::string PhaseOf(const RollingRestartPayload& p, const std::string& id) {
  auto it = p.progress.find(id);
  return it == p.progress.end() ? std::string() : it->second.phase;
}

}  // namespace

RestartAction NextRestartAction(const GroupView& v, const RollingRestartPayload& p) {
  const std::set<std::string> targets(p.nodes.begin(), p.nodes.end());
  for (const auto& ng : v.node_groups) {
    std::vector<const NodeRecord*> members;
    for (const auto& n : v.nodes)
      if (n.node_group_id == ng.node_group_id) members.push_back(&n);
    std::sort(members.begin(), members.end(), [](const NodeRecord* a, const NodeRecord* b) {
      return a->member_index != b->member_index ? a->member_index < b->member_index
                                                : a->node_id < b->node_id;
    });
    const NodeRecord* primary = nullptr;
    std::vector<const NodeRecord*> todo;
    for (const NodeRecord* n : members) {
      if (n->desired_role == NodeRole::kPrimary && !primary) primary = n;
      if (targets.count(n->node_id) && PhaseOf(p, n->node_id) != "done") todo.push_back(n);
    }
    if (todo.empty()) continue;
    RestartAction a;
    a.node_group_id = ng.node_group_id;
    // A node already on its way is finished first (a resumed operation).
    for (const NodeRecord* n : todo) {
      const std::string ph = PhaseOf(p, n->node_id);
      if (ph == "restarting" || ph == "restarted") {
        a.kind = ph == "restarting" ? RestartAction::kRestart : RestartAction::kAwait;
        a.node_id = n->node_id;
        a.in_place_primary = n == primary;
        return a;
      }
    }
    // A switch-over that was started is finished before anything else of the node group.
    if (auto it = p.switch_to.find(ng.node_group_id);
        it != p.switch_to.end() && !p.switched.count(ng.node_group_id) && primary &&
        primary->node_id != it->second) {
      a.kind = RestartAction::kSwitchOver;
      a.node_id = primary->node_id;
      a.candidates = {it->second};
      return a;
    }
    for (const NodeRecord* n : todo) {
      if (n == primary) continue;
      a.kind = RestartAction::kRestart;  // replicas first
      a.node_id = n->node_id;
      return a;
    }
    // Only the primary is left.
    std::vector<std::string> done_replicas, other_replicas;
    for (const NodeRecord* n : members) {
      if (n == primary) continue;
      (PhaseOf(p, n->node_id) == "done" ? done_replicas : other_replicas).push_back(n->node_id);
    }
    if (primary && done_replicas.empty() && other_replicas.empty()) {
      a.kind = RestartAction::kRestart;
      a.node_id = primary->node_id;
      a.in_place_primary = true;
      return a;
    }
    a.kind = RestartAction::kSwitchOver;
    a.node_id = primary ? primary->node_id : todo.front()->node_id;
    a.candidates = done_replicas;
    a.candidates.insert(a.candidates.end(), other_replicas.begin(), other_replicas.end());
    return a;
  }
  return RestartAction{};
}

int RestartedCount(const RollingRestartPayload& p) {
  int n = 0;
  for (const auto& id : p.nodes) n += PhaseOf(p, id) == "done" ? 1 : 0;
  return n;
}

std::string RollingRestartStartedEvent(const std::string& group_id,
                                       const RollingRestartPayload& p) {
  const std::string count = std::to_string(p.nodes.size()) + " cache node" +
                            (p.nodes.size() == 1 ? "" : "s");
  switch (p.reason) {
    case RestartReason::kParameters:
      return "Rolling restart of replication group " + group_id +
             " started to apply the static parameters of cache parameter group " +
             p.parameter_group + " (" + count + ", replicas first)";
    case RestartReason::kReboot:
      return "Rebooting cache node 0001 of cache cluster " +
             (p.nodes.empty() ? std::string() : p.nodes.front()) + " in replication group " +
             group_id;
    case RestartReason::kEngineVersion:
      return "Upgrading replication group " + group_id + " to engine version " +
             p.engine_version + " by a rolling restart (" + count + ", replicas first)";
  }
  return "";
}

std::string RollingRestartFinishedEvent(const std::string& group_id,
                                        const RollingRestartPayload& p) {
  switch (p.reason) {
    case RestartReason::kParameters:
      return "Finished rolling restart of replication group " + group_id +
             ": static parameters of cache parameter group " + p.parameter_group + " applied";
    case RestartReason::kReboot:
      return "Finished rebooting cache node 0001 of cache cluster " +
             (p.nodes.empty() ? std::string() : p.nodes.front());
    case RestartReason::kEngineVersion:
      return "Replication group " + group_id + " upgraded to engine version " + p.engine_version;
  }
  return "";
}

std::string CacheNodeRebootingEvent() { return "Rebooting cache node 0001"; }
std::string CacheNodeRestartedEvent() { return "Cache node 0001 restarted"; }

}  // namespace cf::orchestrator
