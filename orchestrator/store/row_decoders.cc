#include "orchestrator/store/row_decoders.h"

#include <nlohmann/json.hpp>

#include "orchestrator/store/sqlite_db.h"

namespace cf::orchestrator {

using nlohmann::json;

std::string ToJsonArray(const std::vector<std::string>& v) { return json(v).dump(); }

std::vector<std::string> FromJsonArray(const std::string& s) {
  auto j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& e : j)
    if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

std::string ToJsonPorts(const std::vector<uint32_t>& v) { return json(v).dump(); }

std::vector<uint32_t> FromJsonPorts(const std::string& s) {
  auto j = json::parse(s, nullptr, /*allow_exceptions=*/false);
  std::vector<uint32_t> out;
  if (!j.is_array()) return out;
  for (const auto& e : j)
    if (e.is_number_unsigned()) out.push_back(e.get<uint32_t>());
  return out;
}

SlotRanges ParseSlotsColumn(const std::string& s) {
  if (s.empty()) return {};
  auto r = ParseSlotRanges(s);
  return r ? *r : SlotRanges{};
}

const char* TopologyName(Topology t) {
  return t == Topology::kClusterModeEnabled ? "cluster-mode-enabled" : "cluster-mode-disabled";
}

HostRecord ReadHost(const SqliteStmt& s) {
  HostRecord h;
  h.host_id = s.Text(0);
  h.address = s.Text(1);
  h.az = s.Text(2);
  h.agent_endpoint = s.Text(3);
  h.port_range_start = static_cast<uint32_t>(s.Int(4));
  h.port_range_end = static_cast<uint32_t>(s.Int(5));
  h.max_nodes = static_cast<uint32_t>(s.Int(6));
  h.redis_versions = FromJsonArray(s.Text(7));
  h.boot_id = s.Text(8);
  h.registered_ms = s.Int(9);
  h.last_heartbeat_ms = s.Int(10);
  h.state = s.Text(11) == "down" ? HostState::kDown : HostState::kUp;
  h.warm_cluster_ports = FromJsonPorts(s.Text(12));
  return h;
}

ReplicationGroupRecord ReadGroup(const SqliteStmt& s) {
  ReplicationGroupRecord g;
  int i = 0;
  g.id = s.Text(i++);
  g.description = s.Text(i++);
  g.status = ParseGroupStatus(s.Text(i++)).value_or(GroupStatus::kCreating);
  g.cluster_enabled = s.Int(i++) != 0;
  g.automatic_failover = s.Int(i++) != 0;
  g.multi_az = s.Int(i++) != 0;
  g.cache_node_type = s.Text(i++);
  g.maxmemory_bytes = static_cast<uint64_t>(s.Int(i++));
  g.engine = s.Text(i++);
  g.engine_version = s.Text(i++);
  g.parameter_group = s.Text(i++);
  g.subnet_group = s.Text(i++);
  g.security_group_ids = FromJsonArray(s.Text(i++));
  g.preferred_maintenance_window = s.Text(i++);
  g.notification_topic_arn = s.Text(i++);
  g.auto_minor_version_upgrade = s.Int(i++) != 0;
  g.snapshot_retention_limit = static_cast<int>(s.Int(i++));
  g.snapshot_window = s.Text(i++);
  g.snapshotting_cluster_id = s.Text(i++);
  g.port = static_cast<int>(s.Int(i++));
  g.network_type = s.Text(i++);
  g.ip_discovery = s.Text(i++);
  g.data_tiering = s.Int(i++) != 0;
  g.transit_encryption = s.Int(i++) != 0;
  g.at_rest_encryption = s.Int(i++) != 0;
  g.create_time_ms = s.Int(i++);
  g.updated_ms = s.Int(i++);
  g.notification_topic_status = s.Text(i++);
  return g;
}

NodeRecord ReadNode(const SqliteStmt& s) {
  NodeRecord n;
  int i = 0;
  n.node_id = s.Text(i++);
  n.group_id = s.Text(i++);
  n.node_group_id = s.Text(i++);
  n.member_index = static_cast<int>(s.Int(i++));
  n.host_id = s.Text(i++);
  n.port = static_cast<uint32_t>(s.Int(i++));
  n.az = s.Text(i++);
  n.desired_role = s.Text(i++) == "replica" ? NodeRole::kReplica : NodeRole::kPrimary;
  n.status = s.Text(i++);
  n.cluster_node_id = s.Text(i++);
  n.create_time_ms = s.Int(i++);
  ObservedNode& o = n.observed;
  o.known = s.Int(i++) != 0;
  o.state = s.Text(i++);
  o.role = s.Text(i++);
  o.cluster_node_id = s.Text(i++);
  o.master_host = s.Text(i++);
  o.master_port = static_cast<uint32_t>(s.Int(i++));
  o.master_cluster_node_id = s.Text(i++);
  o.master_link_up = s.Int(i++) != 0;
  o.slots = ParseSlotsColumn(s.Text(i++));
  o.cluster_state = s.Text(i++);
  o.cluster_known_nodes = static_cast<uint32_t>(s.Int(i++));
  o.has_open_slots = s.Int(i++) != 0;
  o.repl_offset = s.Int(i++);
  o.used_memory = static_cast<uint64_t>(s.Int(i++));
  o.keys = static_cast<uint64_t>(s.Int(i++));
  o.restarts = static_cast<uint32_t>(s.Int(i++));
  o.redis_version = s.Text(i++);
  o.last_error = s.Text(i++);
  o.observed_ms = s.Int(i++);
  return n;
}

OperationRecord ReadOp(const SqliteStmt& s) {
  OperationRecord op;
  int i = 0;
  op.id = s.Int(i++);
  op.group_id = s.Text(i++);
  op.kind = ParseOpKind(s.Text(i++)).value_or(OpKind::kCreateGroup);
  op.topology = s.Text(i++) == "cluster-mode-enabled" ? Topology::kClusterModeEnabled
                                                      : Topology::kClusterModeDisabled;
  op.state = ParseOpState(s.Text(i++)).value_or(OpState::kFailed);
  op.step = s.Text(i++);
  op.attempt = s.Int(i++);
  op.retries = s.Int(i++);
  op.last_error = s.Text(i++);
  op.created_ms = s.Int(i++);
  op.updated_ms = s.Int(i++);
  op.deadline_ms = s.Int(i++);
  op.finished_ms = s.Int(i++);
  op.payload = s.Text(i++);
  op.progress_milli = s.Int(i++);
  return op;
}

}  // namespace cf::orchestrator
