#include "orchestrator/store/store_txn.h"

#include "orchestrator/store/row_decoders.h"
#include "orchestrator/store/sqlite_db.h"

namespace cf::orchestrator {

Result<int64_t> InsertOp(SqliteDb& db, const OperationRecord& op) {
  auto st = db.Prepare(
      "INSERT INTO operations(group_id, kind, topology, state, step, attempt, retries, "
      "last_error, created_ms, updated_ms, deadline_ms, finished_ms, payload) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st) return st.error();
  st->Bind(1, op.group_id)
      .Bind(2, OpKindName(op.kind))
      .Bind(3, TopologyName(op.topology))
      .Bind(4, OpStateName(op.state))
      .Bind(5, op.step)
      .Bind(6, op.attempt)
      .Bind(7, op.retries)
      .Bind(8, op.last_error)
      .Bind(9, op.created_ms)
      .Bind(10, op.updated_ms)
      .Bind(11, op.deadline_ms)
      .Bind(12, op.finished_ms)
      .Bind(13, op.payload.empty() ? std::string("{}") : op.payload);
  if (auto r = st->Run(); !r) {
    if (r.error().code == Errc::kAlreadyExists)
      return MakeError(Errc::kFailedPrecondition,
                       "another operation is already running on " + op.group_id);
    return r.error();
  }
  return db.LastInsertRowId();
}

Result<FleetSnapshot> ReadFleetLocked(SqliteDb& db) {
  FleetSnapshot snap;
  auto s = db.Prepare(std::string("SELECT ") + kHostColumns + " FROM hosts ORDER BY host_id");
  if (!s) return s.error();
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    snap.hosts.push_back(ReadHost(*s));
  }
  const int64_t now = NowMs();
  for (const auto& h : snap.hosts) {
    std::vector<uint32_t> used;
    auto p = db.Prepare(
        "SELECT port FROM port_allocations WHERE host_id=? AND "
        "(node_id IS NOT NULL OR blocked_until_ms > ?)");
    if (!p) return p.error();
    p->Bind(1, h.host_id).Bind(2, now);
    while (true) {
      auto row = p->Step();
      if (!row) return row.error();
      if (!*row) break;
      used.push_back(static_cast<uint32_t>(p->Int(0)));
    }
    auto c = db.Prepare("SELECT COUNT(*) FROM nodes WHERE host_id=?");
    if (!c) return c.error();
    c->Bind(1, h.host_id);
    auto row = c->Step();
    if (!row) return row.error();
    snap.used_ports.push_back(std::move(used));
    snap.node_counts.push_back(static_cast<uint32_t>(c->Int(0)));
  }
  return snap;
}

Status InsertNodeLocked(SqliteDb& db, const std::string& group_id, const NodeRecord& n) {
  if (auto st = db.Run(
          "INSERT INTO nodes(node_id, group_id, node_group_id, member_index, host_id, port, az, "
          "desired_role, status, cluster_node_id, create_time_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
          [&](SqliteStmt& s) {
            s.Bind(1, n.node_id)
                .Bind(2, group_id)
                .Bind(3, n.node_group_id)
                .Bind(4, int64_t{n.member_index})
                .Bind(5, n.host_id)
                .Bind(6, int64_t{n.port})
                .Bind(7, n.az)
                .Bind(8, NodeRoleName(n.desired_role))
                .Bind(9, n.status)
                .Bind(10, n.cluster_node_id)
                .Bind(11, n.create_time_ms);
          });
      !st) {
    if (st.error().code == Errc::kAlreadyExists)
      return MakeError(Errc::kFailedPrecondition,
                       "Cache cluster id " + n.node_id +
                           " (a member of the new group) is already in use by another "
                           "replication group.");
    return st.error();
  }
  if (auto st = db.Run("DELETE FROM port_allocations WHERE host_id=? AND port=? AND "
                       "node_id IS NULL",
                       [&](SqliteStmt& s) { s.Bind(1, n.host_id).Bind(2, int64_t{n.port}); });
      !st)
    return st.error();
  if (auto st = db.Run(
          "INSERT INTO port_allocations(host_id, port, node_id) VALUES(?,?,?)",
          [&](SqliteStmt& s) { s.Bind(1, n.host_id).Bind(2, int64_t{n.port}).Bind(3, n.node_id); });
      !st)
    return MakeError(Errc::kInternal, "port " + std::to_string(n.port) + " on " + n.host_id +
                                          " is already allocated: " + st.error().message);
  return {};
}

Result<GroupView> LoadGroupLocked(SqliteDb& db, const std::string& group_id) {
  GroupView v;
  {
    auto s = db.Prepare(std::string("SELECT ") + kGroupColumns +
                        " FROM replication_groups WHERE group_id=?");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) return MakeError(Errc::kNotFound, "ReplicationGroup " + group_id + " not found.");
    v.group = ReadGroup(*s);
  }
  {
    auto s = db.Prepare(
        "SELECT node_group_id, slots, status FROM node_groups WHERE group_id=? "
        "ORDER BY node_group_id");
    if (!s) return s.error();
    s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      NodeGroupRecord ng;
      ng.group_id = group_id;
      ng.node_group_id = s->Text(0);
      ng.slots = ParseSlotsColumn(s->Text(1));
      ng.status = s->Text(2);
      v.node_groups.push_back(std::move(ng));
    }
  }
  {
    auto s = db.Prepare(std::string("SELECT ") + kNodeColumns +
                        " FROM nodes WHERE group_id=? ORDER BY node_id");
    if (!s) return s.error();
    s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      v.nodes.push_back(ReadNode(*s));
    }
  }
  {
    auto s = db.Prepare("SELECT key, value FROM tags WHERE group_id=? ORDER BY position");
    if (!s) return s.error();
    s->Bind(1, group_id);
    while (true) {
      auto row = s->Step();
      if (!row) return row.error();
      if (!*row) break;
      v.tags.push_back(Tag{s->Text(0), s->Text(1)});
    }
  }
  {
    auto s = db.Prepare(
        "SELECT progress_milli FROM operations WHERE group_id=? AND "
        "kind IN ('reshard-scale-out','reshard-scale-in') AND "
        "state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row) v.resharding_progress = static_cast<double>(s->Int(0)) / 1000.0;
  }
  {
    // A running modify-failover operation (failover_store.cc): enabling / disabling.
    auto s = db.Prepare(
        "SELECT json_extract(payload, '$.automatic_failover') FROM operations WHERE group_id=? "
        "AND kind='modify-failover' AND state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row && !s->IsNull(0)) v.automatic_failover_pending = s->Int(0) != 0;
  }
  if (auto st = LoadPendingLocked(db, group_id, v.group.pending_modifications); !st)
    return st.error();
  return v;
}

Result<std::optional<GroupView>> FindGroupLocked(SqliteDb& db, const std::string& group_id) {
  auto v = LoadGroupLocked(db, group_id);
  if (!v) {
    if (v.error().code == Errc::kNotFound) return std::optional<GroupView>();
    return v.error();
  }
  return std::optional<GroupView>(std::move(*v));
}

Result<GroupView> LoadIdleAvailableGroupLocked(SqliteDb& db, const std::string& group_id) {
  auto v = LoadGroupLocked(db, group_id);
  if (!v) return v.error();
  if (v->group.status != GroupStatus::kAvailable)
    return MakeError(Errc::kFailedPrecondition, "Replication group " + group_id +
                                                    " is not in available state (it is " +
                                                    GroupStatusName(v->group.status) + ").");
  {
    auto s = db.Prepare(
        "SELECT op_id FROM operations WHERE group_id=? AND state NOT IN ('succeeded','failed')");
    if (!s) return s.error();
    s->Bind(1, group_id);
    auto row = s->Step();
    if (!row) return row.error();
    if (*row)
      return MakeError(Errc::kFailedPrecondition,
                       "Replication group " + group_id + " has an operation in progress.");
  }
  return v;
}

Status TransitionLocked(SqliteDb& db, OperationRecord& op, OpState to, const std::string& step,
                        int64_t now) {
  if (auto st = CheckTransition(op.kind, op.topology, op.state, to); !st) return st;
  auto s = db.Prepare(
      "UPDATE operations SET state=?, step=?, updated_ms=?, finished_ms=? "
      "WHERE op_id=? AND attempt=? AND state=?");
  if (!s) return s.error();
  s->Bind(1, OpStateName(to))
      .Bind(2, step)
      .Bind(3, now)
      .Bind(4, IsTerminal(to) ? now : int64_t{0})
      .Bind(5, op.id)
      .Bind(6, op.attempt)
      .Bind(7, OpStateName(op.state));
  if (auto st = s->Run(); !st) return st;
  if (s->Changes() == 0)
    return MakeError(Errc::kFailedPrecondition, "operation " + std::to_string(op.id) + " attempt " +
                                                    std::to_string(op.attempt) + " is stale");
  op.state = to;
  op.step = step;
  op.updated_ms = now;
  if (IsTerminal(to)) op.finished_ms = now;
  return {};
}

Status AddEventLocked(SqliteDb& db, const std::string& source_id, const std::string& source_type,
                      const std::string& message, int64_t date_ms) {
  return db.Run("INSERT INTO events(source_id, source_type, message, date_ms) VALUES(?,?,?,?)",
                [&](SqliteStmt& s) {
                  s.Bind(1, source_id).Bind(2, source_type).Bind(3, message).Bind(4, date_ms);
                });
}

Status ApplyFailoverChangeLocked(SqliteDb& db, const std::string& group_id, const FailoverChange& c,
                                 int64_t now) {
  if (c.new_primary) {
    const auto& [node_group, node_id] = *c.new_primary;
    if (auto st = db.Run(
            "UPDATE nodes SET desired_role=CASE WHEN node_id=? THEN "
            "'primary' ELSE "
            "'replica' END WHERE group_id=? AND node_group_id=?",
            [&](SqliteStmt& s) { s.Bind(1, node_id).Bind(2, group_id).Bind(3, node_group); });
        !st)
      return st;
  }
  for (const auto& [node_id, status] : c.node_status) {
    if (auto st =
            db.Run("UPDATE nodes SET status=? WHERE node_id=? AND group_id=?",
                   [&](SqliteStmt& s) { s.Bind(1, status).Bind(2, node_id).Bind(3, group_id); });
        !st)
      return st;
  }
  if (c.group_status) {
    if (auto st = db.Run(
            "UPDATE replication_groups SET status=?, updated_ms=? WHERE "
            "group_id=?",
            [&](SqliteStmt& s) { s.Bind(1, *c.group_status).Bind(2, now).Bind(3, group_id); });
        !st)
      return st;
  }
  if (c.automatic_failover) {
    if (auto st = db.Run("UPDATE replication_groups SET automatic_failover=? "
                         "WHERE group_id=?",
                         [&](SqliteStmt& s) {
                           s.Bind(1, int64_t{*c.automatic_failover ? 1 : 0}).Bind(2, group_id);
                         });
        !st)
      return st;
  }
  if (c.multi_az) {
    if (auto st = db.Run(
            "UPDATE replication_groups SET multi_az=? WHERE group_id=?",
            [&](SqliteStmt& s) { s.Bind(1, int64_t{*c.multi_az ? 1 : 0}).Bind(2, group_id); });
        !st)
      return st;
  }
  for (const auto& [node_id, applied] : c.params_applied) {
    const auto& [pg, generation] = applied;
    if (auto st = db.Run("UPDATE nodes SET param_generation=?, param_last_error='', "
                         "param_pending_reboot=CASE WHEN (SELECT generation FROM "
                         "cache_parameter_groups WHERE name=lower(?))=? THEN 0 ELSE "
                         "param_pending_reboot END WHERE node_id=? AND group_id=?",
                         [&](SqliteStmt& s) {
                           s.Bind(1, generation)
                               .Bind(2, pg)
                               .Bind(3, generation)
                               .Bind(4, node_id)
                               .Bind(5, group_id);
                         });
        !st)
      return st;
  }
  if (c.engine_version) {
    if (auto st = db.Run("UPDATE replication_groups SET engine_version=? WHERE group_id=?",
                         [&](SqliteStmt& s) { s.Bind(1, *c.engine_version).Bind(2, group_id); });
        !st)
      return st;
  }
  if (c.node_type) {
    if (auto st = db.Run(
            "UPDATE replication_groups SET cache_node_type=?, maxmemory_bytes=?, updated_ms=? "
            "WHERE group_id=?",
            [&](SqliteStmt& s) {
              s.Bind(1, c.node_type->first)
                  .Bind(2, static_cast<int64_t>(c.node_type->second))
                  .Bind(3, now)
                  .Bind(4, group_id);
            });
        !st)
      return st;
  }
  for (const auto& e : c.events)
    if (auto st = AddEventLocked(db, e.source_id, e.source_type, e.message, now); !st) return st;
  return {};
}

Status LoadPendingLocked(SqliteDb& db, const std::string& group_id,
                         std::map<std::string, std::string>& out) {
  out.clear();
  auto s = db.Prepare("SELECT name, value FROM pending_modifications WHERE group_id=?");
  if (!s) return s.error();
  s->Bind(1, group_id);
  while (true) {
    auto row = s->Step();
    if (!row) return row.error();
    if (!*row) break;
    out[s->Text(0)] = s->Text(1);
  }
  return {};
}

Result<std::optional<UserParameterGroup>> LoadParameterGroupLocked(SqliteDb& db,
                                                                   const std::string& name) {
  auto s = db.Prepare(
      "SELECT name, family, description, generation, create_time_ms FROM cache_parameter_groups "
      "WHERE name=?");
  if (!s) return s.error();
  s->Bind(1, name);
  auto row = s->Step();
  if (!row) return row.error();
  if (!*row) return std::optional<UserParameterGroup>{};
  UserParameterGroup g;
  g.name = s->Text(0);
  g.family = s->Text(1);
  g.description = s->Text(2);
  g.generation = s->Int(3);
  g.create_time_ms = s->Int(4);
  auto v = db.Prepare("SELECT name, value, source FROM cache_parameter_values WHERE group_name=?");
  if (!v) return v.error();
  v->Bind(1, name);
  while (true) {
    auto r = v->Step();
    if (!r) return r.error();
    if (!*r) break;
    (v->Text(2) == "user" ? g.values : g.reset)[v->Text(0)] = v->Text(1);
  }
  return std::optional<UserParameterGroup>(std::move(g));
}

}  // namespace cf::orchestrator
