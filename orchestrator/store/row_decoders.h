// Row decoders and encoders: the one place that knows each table's column order and how a
// record's fields are stored (JSON arrays, slot ranges, enum names). Used by store/ and the
// features' *_store.cc files, under the store lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/core/operation_types.h"
#include "orchestrator/core/orch_types.h"

namespace cf::orchestrator {

class SqliteStmt;

// The SELECT column lists the Read* decoders below expect, in order.
inline constexpr char kHostColumns[] =
    "host_id, address, az, agent_endpoint, port_range_start, port_range_end, max_nodes, "
    "redis_versions, boot_id, registered_ms, last_heartbeat_ms, state, warm_cluster_ports";
inline constexpr char kGroupColumns[] =
    "group_id, description, status, cluster_enabled, automatic_failover, multi_az, "
    "cache_node_type, maxmemory_bytes, engine, engine_version, parameter_group, subnet_group, "
    "security_group_ids, preferred_maintenance_window, notification_topic_arn, "
    "auto_minor_version_upgrade, snapshot_retention_limit, snapshot_window, "
    "snapshotting_cluster_id, port, network_type, ip_discovery, data_tiering, "
    "transit_encryption, at_rest_encryption, create_time_ms, updated_ms, notification_topic_status";
inline constexpr char kNodeColumns[] =
    "node_id, group_id, node_group_id, member_index, host_id, port, az, desired_role, status, "
    "cluster_node_id, create_time_ms, obs_known, obs_state, obs_role, obs_cluster_node_id, "
    "obs_master_host, obs_master_port, obs_master_cluster_node_id, obs_master_link_up, "
    "obs_slots, obs_cluster_state, obs_known_nodes, obs_has_open_slots, obs_repl_offset, "
    "obs_used_memory, obs_keys, obs_restarts, obs_redis_version, obs_last_error, obs_ms";
inline constexpr char kOpColumns[] =
    "op_id, group_id, kind, topology, state, step, attempt, retries, last_error, created_ms, "
    "updated_ms, deadline_ms, finished_ms, payload, progress_milli";

std::string ToJsonArray(const std::vector<std::string>& v);
std::vector<std::string> FromJsonArray(const std::string& s);
std::string ToJsonPorts(const std::vector<uint32_t>& v);
std::vector<uint32_t> FromJsonPorts(const std::string& s);
// A slots column ("" = none; an unparsable value reads as none).
SlotRanges ParseSlotsColumn(const std::string& s);
const char* TopologyName(Topology t);  // "cluster-mode-enabled" / "cluster-mode-disabled"

HostRecord ReadHost(const SqliteStmt& s);               // kHostColumns
ReplicationGroupRecord ReadGroup(const SqliteStmt& s);  // kGroupColumns
NodeRecord ReadNode(const SqliteStmt& s);               // kNodeColumns
OperationRecord ReadOp(const SqliteStmt& s);            // kOpColumns

}  // namespace cf::orchestrator
