#include "orchestrator/operations/operation_payloads.h"

#include <algorithm>
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

std::string ReplicaPlan::Summary() const {
  std::string s;
  for (const auto& [ng, c] : replicas)
    s += (s.empty() ? "" : ", ") + ng + " " + std::to_string(c.first) + "->" +
         std::to_string(c.second);
  return s;
}

std::string ReplicaPlanToJson(const ReplicaPlan& p) {
  nlohmann::json j;
  j["increase"] = p.increase;
  j["add"] = nlohmann::json::array();
  for (const auto& a : p.add) {
    nlohmann::json e{{"node_id", a.node_id},
                     {"node_group_id", a.node_group_id},
                     {"member_index", a.member_index}};
    if (a.preferred_az) e["preferred_az"] = *a.preferred_az;
    j["add"].push_back(e);
  }
  j["remove"] = p.remove;
  if (!p.retain_primary.empty()) j["retain_primary"] = p.retain_primary;
  j["replicas"] = nlohmann::json::object();
  for (const auto& [ng, c] : p.replicas) j["replicas"][ng] = {c.first, c.second};
  return j.dump();
}

Result<ReplicaPlan> ReplicaPlanFromJson(const std::string& s) {
  try {
    auto j = nlohmann::json::parse(s);
    ReplicaPlan p;
    p.increase = j.at("increase").get<bool>();
    for (const auto& e : j.at("add")) {
      ReplicaPlan::NewReplica a;
      a.node_id = e.at("node_id").get<std::string>();
      a.node_group_id = e.at("node_group_id").get<std::string>();
      a.member_index = e.at("member_index").get<int>();
      if (e.contains("preferred_az")) a.preferred_az = e["preferred_az"].get<std::string>();
      p.add.push_back(std::move(a));
    }
    p.remove = j.at("remove").get<std::vector<std::string>>();
    if (j.contains("retain_primary")) p.retain_primary = j["retain_primary"].get<std::string>();
    for (const auto& [ng, c] : j.at("replicas").items())
      p.replicas[ng] = {c.at(0).get<int>(), c.at(1).get<int>()};
    return p;
  } catch (const std::exception& e) {
    return MakeError(Errc::kInvalidArgument, std::string("bad replica plan payload: ") + e.what());
  }
}

const NodeRecord* CurrentPrimary(const GroupView& g, const std::string& ng,
                                 const std::vector<std::string>& ignore) {
  const NodeRecord* planned = nullptr;
  const NodeRecord* observed = nullptr;
  int masters = 0;
  for (const auto& n : g.nodes) {
    if (n.node_group_id != ng) continue;
    if (std::find(ignore.begin(), ignore.end(), n.node_id) != ignore.end()) continue;
    if (n.desired_role == NodeRole::kPrimary && !planned) planned = &n;
    if (n.observed.known && n.observed.role == "master") {
      ++masters;
      observed = &n;
    }
  }
  if (masters == 1) return observed;
  return planned;
}

}  // namespace cf::orchestrator
