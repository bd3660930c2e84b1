// Failover: the operation payloads, the settings, the event texts and the pure
// decisions (which replica to promote, FORCE or TAKEOVER, the TestFailover rate
// limit, which hosts are lost). No I/O: the reconciler (failover_reconciler.h),
// the monitor (failover_monitor.h) and the frontends (failover_frontend.h,
// modify_group_frontend.h) call these.
#pragma once

#include <cstdint>
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

// ---- decisions ----

// A replica candidate as the orchestrator sees it right now.
struct ReplicaCandidate {
  const NodeRecord* node = nullptr;
  bool answered = false;  // GetNodeStatus answered
  bool host_up = false;   // its host heartbeats
  std::string state;      // "running", "exited", ...
  std::string role;       // "slave" expected
  int64_t repl_offset = 0;
};

// The replica to promote: running, answering, on a host that is up, a replica;
// the highest replication offset wins (the most replicated data); ties go to
// the lowest member index. nullptr when none qualifies.
const NodeRecord* ChooseReplica(const std::vector<ReplicaCandidate>& candidates);

// Cluster mode: FORCE needs a majority of the slot-owning primaries to vote.
// `reachable` is the number of primaries (excluding the failed one) that
// answer; `total` all primaries, the failed one included. True when TAKEOVER is
// needed (no majority reachable).
bool NeedsTakeover(int reachable, int total);

// TestFailover rate limit: `recent` = node groups tested in the window (the new
// call not included). True when one more is allowed.
bool TestFailoverAllowed(int recent, int max_per_window);

// Host loss: a host is lost when its last heartbeat is older than
// down_after_ms. A primary on a lost host is failed over once every replica of
// its shard that is on a host that is up reports master_link_up false (the
// replicas agree the primary is gone), and at least one such replica exists.
bool HostLost(const HostRecord& h, int64_t now_ms, int64_t down_after_ms);
bool ReplicasLostPrimary(const std::vector<const NodeRecord*>& replicas_on_up_hosts);

}  // namespace cf::orchestrator
