// Rolling restart: the operation's payload (per-node progress), the pure choice of the next
// action, and the event texts (rolling_restart_reconciler.h carries it out).
//
// Order, per node group in id order: the replicas to restart first (member order), one at a
// time, each until it is back and its replication link is up; then, when the primary is to be
// restarted too and the node group has a replica, a switch-over (coordinated failover) to a
// replica — one already restarted first — after which the old primary is a replica and is
// restarted like the others. A node group without a replica restarts its primary in place
// (brief unavailability, as on ElastiCache).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator {

enum class RestartReason {
  kParameters,     // static parameters (pending-reboot nodes)
  kReboot,         // RebootCacheCluster
  kEngineVersion,  // ModifyReplicationGroup EngineVersion
};
const char* RestartReasonName(RestartReason r);  // "parameters" / "reboot" / "engine-version"

// One node's progress: "" (not started) -> "restarting" (pid_before recorded before the agent
// is asked, so a resumed operation can tell whether the restart happened: a different pid)
// -> "restarted" (the agent answered) -> "done" (back, link up, recorded).
struct NodeRestartProgress {
  std::string phase;
  int64_t pid_before = 0;
  int64_t generation = 0;  // the parameter group's generation when the restart was recorded
};

struct RollingRestartPayload {
  RestartReason reason = RestartReason::kParameters;
  std::string engine_version;      // kEngineVersion: the version the nodes get
  std::string parameter_group;     // kParameters: for the events
  std::vector<std::string> nodes;  // the nodes to restart
  std::map<std::string, NodeRestartProgress> progress;
  // Switch-overs: node group -> the replica chosen (persisted before the agent is asked) and
  // whether the promotion is recorded.
  std::map<std::string, std::string> switch_to;
  std::map<std::string, bool> switched;
};

std::string RollingRestartPayloadToJson(const RollingRestartPayload& p);
Result<RollingRestartPayload> RollingRestartPayloadFromJson(const std::string& json);

struct RestartAction {
  enum Kind { kRestart, kAwait, kSwitchOver, kDone } kind = kDone;
  std::string node_id;        // kRestart / kAwait: the node; kSwitchOver: the old primary
  std::string node_group_id;  // every kind but kDone
  // kSwitchOver: replicas to promote, best first (already restarted ones first, then by
  // member order); the reconciler takes the first that runs with its link up.
  std::vector<std::string> candidates;
  bool in_place_primary = false;  // kRestart of a primary (no replica): restarted in place
};

// Pure: what to do next, from the group (desired roles are the current ones: a switch-over
// commits the new primary) and the progress so far.
RestartAction NextRestartAction(const GroupView& v, const RollingRestartPayload& p);

// Number of nodes done, for the progress figure.
int RestartedCount(const RollingRestartPayload& p);

// Event texts.
std::string RollingRestartStartedEvent(const std::string& group_id, const RollingRestartPayload& p);
std::string RollingRestartFinishedEvent(const std::string& group_id,
                                        const RollingRestartPayload& p);
std::string CacheNodeRebootingEvent();  // on the cache cluster, when its restart starts
std::string CacheNodeRestartedEvent();  // on the cache cluster, once it is back

}  // namespace cf::orchestrator
