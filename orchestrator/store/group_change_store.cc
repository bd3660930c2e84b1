// Store: the changes of a group made together with an operation (declared in store.h): an
// operation with a FailoverChange (failover, rolling restart, replicas), the shard topology
// changes shared by reshard and the replica-count changes (BeginReshard, CompleteReshard), and
// the standalone cache clusters a RetainPrimaryCluster delete keeps (schema v5). Each call is
// one transaction.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"
#include "orchestrator/store/store.h"
#include "orchestrator/store/store_txn.h"

namespace cf::orchestrator {
Result<std::pair<GroupView, int64_t>> Store::BeginGroupOperation(
    const std::string& group_id, OperationRecord op,
    const std::function<Status(const GroupView&)>& check, const FailoverChange& change) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadGroupLocked(*db_, group_id);
  if (!v) return v.error();
  if (check)
    if (auto st = check(*v); !st) return st.error();
  const int64_t now = op.created_ms ? op.created_ms : NowMs();
  {
    auto s = db_->Prepare(
        "INSERT INTO operations(group_id, kind, topology, "
        "state, step, attempt, retries, "
        "last_error, created_ms, updated_ms, deadline_ms, "
        "finished_ms, payload) "
        "VALUES(?,?,?,?,?,0,0,'',?,?,?,0,?)");
    if (!s) return s.error();
    s->Bind(1, group_id)
        .Bind(2, OpKindName(op.kind))
        .Bind(3, TopologyName(op.topology))
        .Bind(4, OpStateName(op.state))
        .Bind(5, op.step)
        .Bind(6, now)
        .Bind(7, now)
        .Bind(8, op.deadline_ms)
        .Bind(9, op.payload.empty() ? std::string("{}") : op.payload);
    if (auto st = s->Run(); !st) {
      if (st.error().code == Errc::kAlreadyExists)
        return MakeError(Errc::kFailedPrecondition,
                         "Replication group " + group_id + " has an operation in progress.");
      return st.error();
    }
  }
  const int64_t op_id = db_->LastInsertRowId();
  if (auto st = ApplyFailoverChangeLocked(*db_, group_id, change, now); !st) return st.error();
  auto after = LoadGroupLocked(*db_, group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::make_pair(std::move(*after), op_id);
}

Status Store::TransitionWithChange(OperationRecord& op, OpState to, const std::string& step,
                                   const FailoverChange& change) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(*db_, copy, to, step, now); !st) return st;
  if (change.payload) {
    if (auto st = db_->Run("UPDATE operations SET payload=? WHERE op_id=?",
                           [&](SqliteStmt& s) { s.Bind(1, *change.payload).Bind(2, op.id); });
        !st)
      return st;
    copy.payload = *change.payload;
  }
  if (auto st = ApplyFailoverChangeLocked(*db_, op.group_id, change, now); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::SetOperationPayload(OperationRecord& op, const std::string& payload) {
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "UPDATE operations SET payload=?, updated_ms=? WHERE "
      "op_id=? AND attempt=? AND state=?");
  if (!s) return s.error();
  const int64_t now = NowMs();
  s->Bind(1, payload)
      .Bind(2, now)
      .Bind(3, op.id)
      .Bind(4, op.attempt)
      .Bind(5, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  op.payload = payload;
  op.updated_ms = now;
  return {};
}

Status Store::UpdateOperationWithChange(OperationRecord& op, const std::string& step,
                                        const std::string& payload, const FailoverChange& change) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  auto s = db_->Prepare(
      "UPDATE operations SET payload=?, step=?, updated_ms=? WHERE op_id=? AND attempt=? AND "
      "state=?");
  if (!s) return s.error();
  s->Bind(1, payload)
      .Bind(2, step)
      .Bind(3, now)
      .Bind(4, op.id)
      .Bind(5, op.attempt)
      .Bind(6, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition,
                     "operation " + std::to_string(op.id) + " attempt is stale");
  if (auto st = ApplyFailoverChangeLocked(*db_, op.group_id, change, now); !st) return st;
  if (auto st = txn.Commit(); !st) return st;
  op.payload = payload;
  op.step = step;
  op.updated_ms = now;
  return {};
}

// ---------------------------------------------------------------------------------------------
// resharding

Result<std::pair<GroupView, int64_t>> Store::BeginReshard(
    NewReshard r,
    const std::function<Status(const FleetSnapshot&, std::vector<NodeRecord>&)>& place) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status().error();
  auto v = LoadIdleAvailableGroupLocked(*db_, r.group_id);
  if (!v) return v.error();
  if (!r.new_nodes.empty()) {
    auto snap = ReadFleetLocked(*db_);
    if (!snap) return snap.error();
    if (auto st = place(*snap, r.new_nodes); !st) return st.error();
  }
  const int64_t now = r.operation.created_ms;
  for (const auto& ng : r.new_node_groups) {
    if (auto st = db_->Run("INSERT INTO node_groups(group_id, node_group_id, slots, status) "
                           "VALUES(?,?,?,?)",
                           [&](SqliteStmt& s) {
                             s.Bind(1, r.group_id)
                                 .Bind(2, ng.node_group_id)
                                 .Bind(3, FormatSlotRanges(ng.slots))
                                 .Bind(4, ng.status);
                           });
        !st) {
      if (st.error().code == Errc::kAlreadyExists)
        return MakeError(Errc::kInvalidArgument,
                         "NodeGroupId " + ng.node_group_id + " already exists.");
      return st.error();
    }
  }
  for (const auto& n : r.new_nodes)
    if (auto st = InsertNodeLocked(*db_, r.group_id, n); !st) return st.error();
  for (const auto& id : r.removed_node_groups) {
    for (const char* sql :
         {"UPDATE node_groups SET status='deleting' WHERE group_id=? AND node_group_id=?",
          "UPDATE nodes SET status='deleting' WHERE group_id=? AND node_group_id=?"}) {
      if (auto st = db_->Run(sql, [&](SqliteStmt& s) { s.Bind(1, r.group_id).Bind(2, id); }); !st)
        return st.error();
    }
  }
  for (const auto& id : r.removed_nodes) {
    if (auto st = db_->Run("UPDATE nodes SET status='deleting' WHERE group_id=? AND node_id=?",
                           [&](SqliteStmt& s) { s.Bind(1, r.group_id).Bind(2, id); });
        !st)
      return st.error();
  }
  if (auto st = db_->Run("UPDATE replication_groups SET status='modifying', updated_ms=? "
                         "WHERE group_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, now).Bind(2, r.group_id); });
      !st)
    return st.error();
  r.operation.group_id = r.group_id;
  auto op_id = InsertOp(*db_, r.operation);
  if (!op_id) return op_id.error();
  if (auto st = AddEventLocked(*db_, r.group_id, "replication-group", r.event_message, now); !st)
    return st.error();
  auto after = LoadGroupLocked(*db_, r.group_id);
  if (!after) return after.error();
  if (auto st = txn.Commit(); !st) return st.error();
  return std::make_pair(std::move(*after), *op_id);
}

Status Store::CompleteReshard(OperationRecord& op, const ReshardCompletion& c) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  OperationRecord copy = op;
  if (auto st = TransitionLocked(*db_, copy, OpState::kSucceeded, "", now); !st) return st;
  if (auto st = db_->Run("UPDATE operations SET progress_milli=100000 WHERE op_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, op.id); });
      !st)
    return st;
  copy.progress_milli = 100000;
  for (const auto& id : c.removed_nodes) {
    for (const char* sql : {"DELETE FROM port_allocations WHERE node_id=?",
                            "DELETE FROM nodes WHERE group_id=? AND node_id=?"}) {
      const bool two = std::string(sql).find("group_id") != std::string::npos;
      if (auto st = db_->Run(sql,
                             [&](SqliteStmt& s) {
                               if (two)
                                 s.Bind(1, op.group_id).Bind(2, id);
                               else
                                 s.Bind(1, id);
                             });
          !st)
        return st;
    }
  }
  for (const auto& id : c.removed_node_groups) {
    for (const char* sql : {"DELETE FROM port_allocations WHERE node_id IN "
                            "(SELECT node_id FROM nodes WHERE group_id=? AND node_group_id=?)",
                            "DELETE FROM nodes WHERE group_id=? AND node_group_id=?",
                            "DELETE FROM node_groups WHERE group_id=? AND node_group_id=?"}) {
      if (auto st = db_->Run(sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id).Bind(2, id); }); !st)
        return st;
    }
  }
  for (const auto& [ng, ranges] : c.slots) {
    if (auto st = db_->Run("UPDATE node_groups SET slots=?, status='available' "
                           "WHERE group_id=? AND node_group_id=?",
                           [&](SqliteStmt& s) {
                             s.Bind(1, FormatSlotRanges(NormalizeSlotRanges(ranges)))
                                 .Bind(2, op.group_id)
                                 .Bind(3, ng);
                           });
        !st)
      return st;
  }
  for (const char* sql : {"UPDATE node_groups SET status='available' WHERE group_id=?",
                          "UPDATE nodes SET status='available' WHERE group_id=?"}) {
    if (auto st = db_->Run(sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id); }); !st) return st;
  }
  if (auto st = db_->Run("UPDATE replication_groups SET status='available', updated_ms=? "
                         "WHERE group_id=? AND status='modifying'",
                         [&](SqliteStmt& s) { s.Bind(1, now).Bind(2, op.group_id); });
      !st)
    return st;
  if (auto st = AddEventLocked(*db_, op.group_id, "replication-group", c.event_message, now); !st)
    return st;
  if (auto st = txn.Commit(); !st) return st;
  op = copy;
  return {};
}

Status Store::CompleteRetainPrimary(OperationRecord& op, const std::string& primary_node_id,
                                    const std::string& event_message) {
  std::lock_guard lk(db_->mu());
  SqliteTxn txn(*db_);
  if (!txn.begin_status()) return txn.begin_status();
  const int64_t now = NowMs();
  auto v = LoadGroupLocked(*db_, op.group_id);
  if (!v) return v.error();
  const NodeRecord* primary = nullptr;
  for (const auto& n : v->nodes)
    if (n.node_id == primary_node_id) primary = &n;
  if (!primary)
    return MakeError(Errc::kNotFound,
                     "node " + primary_node_id + " of " + op.group_id + " not found");
  OperationRecord copy = op;
  if (auto st = TransitionLocked(*db_, copy, OpState::kSucceeded, "", now); !st) return st;
  const ReplicationGroupRecord& g = v->group;
  if (auto st = db_->Run(
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
                .Bind(14, ToJsonArray(g.security_group_ids))
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
    if (auto st = db_->Run(sql, [&](SqliteStmt& s) { s.Bind(1, op.group_id); }); !st) return st;
  }
  // The retained redis-server keeps its port: a block without a node, for ever.
  if (auto st = db_->Run("INSERT OR REPLACE INTO port_allocations(host_id, port, node_id, "
                         "blocked_until_ms) VALUES(?,?,NULL,?)",
                         [&](SqliteStmt& s) {
                           s.Bind(1, primary->host_id)
                               .Bind(2, int64_t{primary->port})
                               .Bind(3, std::numeric_limits<int64_t>::max());
                         });
      !st)
    return st;
  if (auto st = AddEventLocked(*db_, op.group_id, "replication-group", event_message, now); !st)
    return st;
  if (auto st = AddEventLocked(*db_, primary->node_id, "cache-cluster",
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
  std::lock_guard lk(db_->mu());
  auto s = db_->Prepare(
      "SELECT cluster_id, former_group_id, host_id, port, az, status, cache_node_type, "
      "maxmemory_bytes, engine, engine_version, parameter_group, preferred_maintenance_window, "
      "snapshot_window, snapshot_retention_limit, security_group_ids, notification_topic_arn, "
      "auto_minor_version_upgrade, create_time_ms, notification_topic_status FROM "
      "standalone_clusters ORDER BY cluster_id");
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
