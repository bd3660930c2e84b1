// Records of a reshard (ModifyReplicationGroupShardConfiguration): the inputs the frontend
// validated (kept as the operation's JSON payload) and the planned slot moves with their
// persisted progress (the `slot_moves` table). Plain structs; JSON only in the .cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/slot_range.h"
#include "orchestrator/store/slot_move_record.h"

namespace cf::orchestrator {

// One node group a scale-out adds.
struct NewNodeGroupSpec {
  std::string node_group_id;               // "0004"
  std::vector<std::string> preferred_azs;  // primary first; may be shorter than the shard
};

// What the request asked for, after validation. Stored as the operation payload so that a
// resumed operation knows the plan inputs without re-deriving them from the (changing) group.
struct ReshardInputs {
  int from_count = 0;                 // node groups before
  int to_count = 0;                   // node groups after
  int replicas_per_node_group = 0;    // replicas of every new node group
  std::vector<NewNodeGroupSpec> add;  // scale-out
  std::vector<std::string> remove;    // scale-in: ids of the node groups to remove
};

std::string ReshardInputsToJson(const ReshardInputs& in);
Result<ReshardInputs> ReshardInputsFromJson(const std::string& json);

// Slots of `planned` not in `done`.
SlotRanges SubtractSlots(const SlotRanges& planned, const SlotRanges& done);

}  // namespace cf::orchestrator
