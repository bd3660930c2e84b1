// Store calls for standalone cache clusters (standalone_cluster.h; schema v5).
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/standalone_cluster.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

template <class F>
Status Exec(SqliteDb& db, const std::string& sql, F&& bind) {
  auto s = db.Prepare(sql);
  if (!s) return s.error();
  bind(*s);
  return s->Run();
}

}  // namespace

Status Store::CompleteRetainPrimary(OperationRecord& op, const std::string& primary_node_id,
                                    const std::string& event_message) {
  std::lock_guard lk(mu_);
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  auto v = LoadGroupLocked(op.group_id);
  if (!v) return v.error();
  const NodeRecord* primary = nullptr;
  for (const auto& n : v->nodes)
    if (n.node_id == primary_node_id) primary = &n;
  if (!primary)
    return MakeError(Errc::kNotFound, "node " + primary_node_id + " of " + op.group_id +
                                          " not found");
  OperationRecord copy = op;
  if (auto st = TransitionLocked(copy, OpState::kSucceeded, "", now); !st) return st;
  const ReplicationGroupRecord& g = v->group;
  if (auto st = Exec(
          *db_,
          "INSERT OR REPLACE INTO standalone_clusters(cluster_id, former_group_id, host_id, port, "
          "az, status, cache_node_type, maxmemory_bytes, engine, engine_version, "
          "parameter_group, preferred_maintenance_window, snapshot_window, "
          "snapshot_retention_limit, security_group_ids, notification_topic_arn, "
          "auto_minor_version_upgrade, create_time_ms, notification_topic_status) "
          "VALUES(?,?,?,?,?,'available',?,?,?,?,?,?,?,?,?,?,?,?,?)",
          [&](SqliteStmt& s) {
            s.Bind(1, primary->node_id)
                .Bind(2, g.id)
                .Bind(3, primary->host_id)
                .Bind(4, int64_t{primary->port})
                .Bind(5, primary->az)
                .Bind(6, g.cache_node_type)
                .Bind(7, static_cast<int64_t>(g.maxmemory_bytes))
                .Bind(8, g.engine)
                .Bind(9, g.engine_version)
                .Bind(10, g.parameter_group)
                .Bind(11, g.preferred_maintenance_window)
                .Bind(12, g.snapshot_window)
                .Bind(13, int64_t{g.snapshot_retention_limit})
                .Bind(14, nlohmann::json(g.security_group_ids).dump())
                .Bind(15, g.notification_topic_arn)
                .Bind(16, int64_t{g.auto_minor_version_upgrade ? 1 : 0})
                .Bind(17, primary->create_time_ms)
                .Bind(18, g.notification_topic_status);
          });
      !st)
    return st;
  for (const char* sql :
       {"DELETE FROM port_allocations WHERE node_id IN "
        "(SELECT node_id FROM nodes WHERE group_id=?)",
        "DELETE FROM nodes WHERE group_id=?", "DELETE FROM node_groups WHERE group_id=?",
        "DELETE FROM tags WHERE group_id=?", "DELETE FROM replication_groups WHERE group_id=?"}) {
    if (auto st = Exec(*db_, sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id); }); !st) return st;
  }
  // The retained redis-server keeps its port: a block without a node, for ever.
  if (auto st = Exec(*db_,
                     "INSERT OR REPLACE INTO port_allocations(host_id, port, node_id, "
                     "blocked_until_ms) VALUES(?,?,NULL,?)",
                     [&](SqliteStmt& s) {
                       s.Bind(1, primary->host_id)
                           .Bind(2, int64_t{primary->port})
                           .Bind(3, std::numeric_limits<int64_t>::max());
                     });
      !st)
    return st;
  if (auto st = AddEventLocked(op.group_id, "replication-group", event_message, now); !st)
    return st;
  if (auto st = AddEventLocked(primary->node_id, "cache-cluster",
                               "Cache cluster " + primary->node_id +
                                   " retained as a standalone cache cluster (replication group " +
                                   op.group_id + " deleted)",
                               now);
      !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Result<std::vector<StandaloneCluster>> Store::ListStandaloneClusters() {
  std::lock_guard lk(mu_);
  auto s = db_->Prepare(
      "SELECT cluster_id, former_group_id, host_id, port, az, status, cache_node_type, "
      "maxmemory_bytes, engine, engine_version, parameter_group, preferred_maintenance_window, "
      "snapshot_window, snapshot_retention_limit, security_group_ids, notification_topic_arn, "
      "auto_minor_version_upgrade, create_time_ms, notification_topic_status FROM standalone_clusters ORDER BY cluster_id");
  if (!s) return s.error();
  std::vector<StandaloneCluster> out;
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    StandaloneCluster c;
    c.cluster_id = s->Text(0);
    c.former_group_id = s->Text(1);
    c.host_id = s->Text(2);
    c.port = static_cast<uint32_t>(s->Int(3));
    c.az = s->Text(4);
    c.status = s->Text(5);
    c.cache_node_type = s->Text(6);
    c.maxmemory_bytes = static_cast<uint64_t>(s->Int(7));
    c.engine = s->Text(8);
    c.engine_version = s->Text(9);
    c.parameter_group = s->Text(10);
    c.preferred_maintenance_window = s->Text(11);
    c.snapshot_window = s->Text(12);
    c.snapshot_retention_limit = static_cast<int>(s->Int(13));
    try {
      c.security_group_ids = nlohmann::json::parse(s->Text(14)).get<std::vector<std::string>>();
    } catch (...) {
    }
    c.notification_topic_arn = s->Text(15);
    c.auto_minor_version_upgrade = s->Int(16) != 0;
    c.create_time_ms = s->Int(17);
    c.notification_topic_status = s->Text(18);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace cf::orchestrator
