// The payloads (JSON) of the operations more than one feature records, so that no feature
// includes another's types. No I/O.
//
//   failover      why one runs, its payloads and the event texts (ElastiCache's wording),
//                 written by failover/ (TestFailover, the monitor, recovery), modify/
//                 (PrimaryClusterId switch-over, AutomaticFailoverEnabled / MultiAZEnabled) and
//                 rolling_restart/ (the switch-over before a primary restarts). The pure
//                 decisions of a failover live in failover/failover_types.h.
//   replica plan  what an increase/decrease-replica-count operation does, written by replicas/
//                 (Increase/DecreaseReplicaCount) and groups/ (DeleteReplicationGroup
//                 RetainPrimaryCluster: remove every replica, keep the primary).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator {

// Why a failover operation runs; decides its path through the state machine.
enum class FailoverReason {
  kTest,        // TestFailover: kill-primary -> promote -> repoint -> recover-node
  kAutomatic,   // the primary's process exited (NODE_EXITED): promote -> repoint
                // -> recover-node
  kHostDown,    // the primary's host stopped heartbeating: promote -> repoint
                // (recovery later)
  kSwitchover,  // ModifyReplicationGroup PrimaryClusterId: promote (coordinated)
                // -> repoint
};
const char* FailoverReasonName(FailoverReason r);  // "test", "automatic", "host-down", "switchover"
std::optional<FailoverReason> ParseFailoverReason(const std::string& s);

// The payload (JSON) of a failover operation. new_primary is chosen once and
// persisted before the agent is asked to promote it, so a resumed operation
// promotes the same node.
struct FailoverPayload {
  FailoverReason reason = FailoverReason::kTest;
  std::string node_group_id;
  std::string old_primary;  // cache cluster id
  std::string new_primary;  // "" until chosen (kSwitchover: given by the request)
  std::string method;       // what the agent used ("FORCE", "TAKEOVER", ...), once promoted
  int64_t promoted_ms = 0;
};
std::string FailoverPayloadToJson(const FailoverPayload& p);
Result<FailoverPayload> FailoverPayloadFromJson(const std::string& json);

// The payload of a recover-node operation: restart a held (NODE_EXITED) node,
// in place or as a replica of the shard's current primary.
struct RecoverPayload {
  std::string node_id;
  bool as_replica = true;  // false: in place (automatic failover disabled)
  std::string reason;      // for logs: "exited", "host back", ...
};
std::string RecoverPayloadToJson(const RecoverPayload& p);
Result<RecoverPayload> RecoverPayloadFromJson(const std::string& json);

// The payload of a modify-failover operation (ModifyReplicationGroup
// AutomaticFailoverEnabled / MultiAZEnabled): the values to apply.
struct FailoverSettingPayload {
  std::optional<bool> automatic_failover;
  std::optional<bool> multi_az;
};
std::string FailoverSettingPayloadToJson(const FailoverSettingPayload& p);
Result<FailoverSettingPayload> FailoverSettingPayloadFromJson(const std::string& json);

// ---- events (ElastiCache's wording, elasticache-api.md §4 TestFailover) ----
std::string TestFailoverCalledEvent(const std::string& node_group_id);
std::string FailoverCompletedEvent(const std::string& old_primary, const std::string& new_primary);
// CacheNodeId is always 0001 (one node per cache cluster).
std::string RecoveringEvent();
std::string FinishedRecoveryEvent();
std::string NodeRestartedEvent();

// ---- replica plan ----

// What an increase/decrease-replica-count operation does (also its payload JSON).
struct ReplicaPlan {
  bool increase = true;
  struct NewReplica {
    std::string node_id;
    std::string node_group_id;
    int member_index = 0;
    std::optional<std::string> preferred_az;
  };
  std::vector<NewReplica> add;
  std::vector<std::string> remove;                      // node ids
  // DeleteReplicationGroup RetainPrimaryCluster: this node becomes a standalone cache cluster
  // and the group is deleted once `remove` are stopped.
  std::string retain_primary;
  std::map<std::string, std::pair<int, int>> replicas;  // node group -> (before, after)
  // "0001 1->2, 0002 1->2"
  std::string Summary() const;
};
std::string ReplicaPlanToJson(const ReplicaPlan& p);
Result<ReplicaPlan> ReplicaPlanFromJson(const std::string& json);

// The node of a node group that currently acts as primary: the one the agents report as
// master (among nodes not listed in `ignore`), else the planned primary; nullptr when none.
const NodeRecord* CurrentPrimary(const GroupView& g, const std::string& node_group_id,
                                 const std::vector<std::string>& ignore = {});

}  // namespace cf::orchestrator
