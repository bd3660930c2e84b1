#include "orchestrator/reshard/reshard_types.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace cf::orchestrator {

const char* SlotMoveStatusName(SlotMoveStatus s) {
  switch (s) {
    case SlotMoveStatus::kPending:
      return "pending";
    case SlotMoveStatus::kRunning:
      return "running";
    case SlotMoveStatus::kRetrying:
      return "retrying";
    case SlotMoveStatus::kDone:
      return "done";
  }
  return "unknown";
}

std::optional<SlotMoveStatus> ParseSlotMoveStatus(const std::string& s) {
  for (SlotMoveStatus m : {SlotMoveStatus::kPending, SlotMoveStatus::kRunning,
                           SlotMoveStatus::kRetrying, SlotMoveStatus::kDone})
    if (s == SlotMoveStatusName(m)) return m;
  return std::nullopt;
}

using nlohmann::json;

std::string ReshardInputsToJson(const ReshardInputs& in) {
  json j;
  j["from_count"] = in.from_count;
  j["to_count"] = in.to_count;
  j["replicas_per_node_group"] = in.replicas_per_node_group;
  j["add"] = json::array();
  for (const auto& a : in.add)
    j["add"].push_back({{"node_group_id", a.node_group_id}, {"preferred_azs", a.preferred_azs}});
  j["remove"] = in.remove;
  return j.dump();
}

Result<ReshardInputs> ReshardInputsFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return MakeError(Errc::kInvalidArgument, "reshard payload is not JSON");
  ReshardInputs in;
  auto int_of = [&](const char* k) -> std::optional<int> {
    if (!j.contains(k) || !j[k].is_number_integer()) return std::nullopt;
    return j[k].get<int>();
  };
  auto from = int_of("from_count");
  auto to = int_of("to_count");
  auto replicas = int_of("replicas_per_node_group");
  if (!from || !to || !replicas)
    return MakeError(Errc::kInvalidArgument, "reshard payload lacks the node group counts");
  in.from_count = *from;
  in.to_count = *to;
  in.replicas_per_node_group = *replicas;
  if (j.contains("add") && j["add"].is_array()) {
    for (const auto& a : j["add"]) {
      if (!a.is_object() || !a.contains("node_group_id") || !a["node_group_id"].is_string())
        return MakeError(Errc::kInvalidArgument, "reshard payload: bad add entry");
      NewNodeGroupSpec s;
      s.node_group_id = a["node_group_id"].get<std::string>();
      if (a.contains("preferred_azs") && a["preferred_azs"].is_array())
        for (const auto& z : a["preferred_azs"])
          if (z.is_string()) s.preferred_azs.push_back(z.get<std::string>());
      in.add.push_back(std::move(s));
    }
  }
  if (j.contains("remove") && j["remove"].is_array())
    for (const auto& r : j["remove"])
      if (r.is_string()) in.remove.push_back(r.get<std::string>());
  return in;
}

SlotRanges SubtractSlots(const SlotRanges& planned, const SlotRanges& done) {
  const auto d = ExpandSlots(done);
  const std::set<uint32_t> done_set(d.begin(), d.end());
  std::vector<uint32_t> left;
  for (uint32_t s : ExpandSlots(planned))
    if (!done_set.count(s)) left.push_back(s);
  return RangesFromSlots(std::move(left));
}

}  // namespace cf::orchestrator
