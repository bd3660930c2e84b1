#include "orchestrator/core/orch_types.h"

#include <chrono>

namespace cf::orchestrator {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

const char* HostStateName(HostState s) { return s == HostState::kUp ? "up" : "down"; }

const char* GroupStatusName(GroupStatus s) {
  switch (s) {
    case GroupStatus::kCreating:
      return "creating";
    case GroupStatus::kAvailable:
      return "available";
    case GroupStatus::kModifying:
      return "modifying";
    case GroupStatus::kDeleting:
      return "deleting";
    case GroupStatus::kCreateFailed:
      return "create-failed";
    case GroupStatus::kSnapshotting:
      return "snapshotting";
  }
  return "unknown";
}

std::optional<GroupStatus> ParseGroupStatus(const std::string& s) {
  for (GroupStatus g :
       {GroupStatus::kCreating, GroupStatus::kAvailable, GroupStatus::kModifying,
        GroupStatus::kDeleting, GroupStatus::kCreateFailed, GroupStatus::kSnapshotting})
    if (s == GroupStatusName(g)) return g;
  return std::nullopt;
}

const char* NodeRoleName(NodeRole r) { return r == NodeRole::kPrimary ? "primary" : "replica"; }

}  // namespace cf::orchestrator
