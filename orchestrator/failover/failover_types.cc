#include "orchestrator/failover/failover_types.h"

#include <nlohmann/json.hpp>

namespace cf::orchestrator {

using nlohmann::json;

const char* FailoverReasonName(FailoverReason r) {
  switch (r) {
    case FailoverReason::kTest:
      return "test";
    case FailoverReason::kAutomatic:
      return "automatic";
    case FailoverReason::kHostDown:
      return "host-down";
    case FailoverReason::kSwitchover:
      return "switchover";
  }
  return "unknown";
}

std::optional<FailoverReason> ParseFailoverReason(const std::string& s) {
  for (auto r : {FailoverReason::kTest, FailoverReason::kAutomatic, FailoverReason::kHostDown,
                 FailoverReason::kSwitchover})
    if (s == FailoverReasonName(r)) return r;
  return std::nullopt;
}

namespace {

Result<json> Parse(const std::string& text, const char* what) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return MakeError(Errc::kInvalidArgument, std::string("bad ") + what + " payload");
  return j;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string FailoverPayloadToJson(const FailoverPayload& p) {
  json j;
  j["reason"] = FailoverReasonName(p.reason);
  j["node_group"] = p.node_group_id;
  j["old_primary"] = p.old_primary;
  j["new_primary"] = p.new_primary;
  j["method"] = p.method;
  j["promoted_ms"] = p.promoted_ms;
  return j.dump();
}

Result<FailoverPayload> FailoverPayloadFromJson(const std::string& text) {
  auto j = Parse(text, "failover");
  if (!j) return j.error();
  FailoverPayload p;
  auto r = ParseFailoverReason(Str(*j, "reason"));
  if (!r) return MakeError(Errc::kInvalidArgument, "failover payload: unknown reason");
  p.reason = *r;
  p.node_group_id = Str(*j, "node_group");
  p.old_primary = Str(*j, "old_primary");
  p.new_primary = Str(*j, "new_primary");
  p.method = Str(*j, "method");
  if (j->contains("promoted_ms") && (*j)["promoted_ms"].is_number_integer())
    p.promoted_ms = (*j)["promoted_ms"].get<int64_t>();
  return p;
}

std::string RecoverPayloadToJson(const RecoverPayload& p) {
  return json{{"node", p.node_id}, {"as_replica", p.as_replica}, {"reason", p.reason}}.dump();
}

Result<RecoverPayload> RecoverPayloadFromJson(const std::string& text) {
  auto j = Parse(text, "recover-node");
  if (!j) return j.error();
  RecoverPayload p;
  p.node_id = Str(*j, "node");
  p.as_replica = !j->contains("as_replica") || (*j)["as_replica"].is_boolean() == false ||
                 (*j)["as_replica"].get<bool>();
  p.reason = Str(*j, "reason");
  if (p.node_id.empty()) return MakeError(Errc::kInvalidArgument, "recover-node payload: no node");
  return p;
}

std::string FailoverSettingPayloadToJson(const FailoverSettingPayload& p) {
  json j = json::object();
  if (p.automatic_failover) j["automatic_failover"] = *p.automatic_failover;
  if (p.multi_az) j["multi_az"] = *p.multi_az;
  return j.dump();
}

Result<FailoverSettingPayload> FailoverSettingPayloadFromJson(const std::string& text) {
  auto j = Parse(text, "modify-failover");
  if (!j) return j.error();
  FailoverSettingPayload p;
  if (j->contains("automatic_failover") && (*j)["automatic_failover"].is_boolean())
    p.automatic_failover = (*j)["automatic_failover"].get<bool>();
  if (j->contains("multi_az") && (*j)["multi_az"].is_boolean())
    p.multi_az = (*j)["multi_az"].get<bool>();
  return p;
}

std::string TestFailoverCalledEvent(const std::string& node_group_id) {
  return "Test Failover API called for node group " + node_group_id;
}

std::string FailoverCompletedEvent(const std::string& old_primary, const std::string& new_primary) {
  return "Failover from primary node " + old_primary + " to replica node " + new_primary +
         " completed";
}

std::string RecoveringEvent() { return "Recovering cache nodes 0001"; }
std::string FinishedRecoveryEvent() { return "Finished recovery for cache nodes 0001"; }
std::string NodeRestartedEvent() { return "Cache node 0001 restarted"; }

const NodeRecord* ChooseReplica(const std::vector<ReplicaCandidate>& candidates) {
  const ReplicaCandidate* best = nullptr;
  for (const auto& c : candidates) {
    if (!c.node || !c.answered || !c.host_up || c.state != "running" || c.role != "slave") continue;
    if (!best || c.repl_offset > best->repl_offset ||
        (c.repl_offset == best->repl_offset && c.node->member_index < best->node->member_index))
      best = &c;
  }
  return best ? best->node : nullptr;
}

bool NeedsTakeover(int reachable, int total) { return reachable < total / 2 + 1; }

bool TestFailoverAllowed(int recent, int max_per_window) { return recent < max_per_window; }

bool HostLost(const HostRecord& h, int64_t now_ms, int64_t down_after_ms) {
  return now_ms - h.last_heartbeat_ms > down_after_ms;
}

bool ReplicasLostPrimary(const std::vector<const NodeRecord*>& replicas_on_up_hosts) {
  if (replicas_on_up_hosts.empty()) return false;
  for (const NodeRecord* r : replicas_on_up_hosts) {
    if (!r->observed.known) return false;
    if (r->observed.state == "running" && r->observed.master_link_up) return false;
  }
  return true;
}

}  // namespace cf::orchestrator
