// The failover primitives and settings of NodeSupervisor (semantics: the comments in
// proto/cachefleet.proto; how the agent does them: agent/README.md): KillNode, RestartNode,
// Failover, ReconfigureNode.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "agent/nodes/node_supervisor.h"
#include "agent/nodes/supervisor_impl.h"
#include "agent/redis/node_admin.h"
#include "agent/redis/node_failover.h"
#include "agent/redis/redis_conn.h"
#include "cachefleet.pb.h"

namespace cf::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

}  // namespace

Status NodeSupervisor::KillNode(const std::string& node_id, cachefleet::v1::NodeStatus* out) {
  Impl& m = *impl_;
  auto np = m.registry.Find(node_id);
  if (!np || IsWarmNodeId(node_id)) {
    return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  }
  ManagedNode& n = *np;
  std::unique_lock op(n.op_mu);
  int64_t pid = 0;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != node_id) {
      return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
    }
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, "node " + node_id + " is stopping");
    if (n.launching) {
      return MakeError(Errc::kFailedPrecondition, "node " + node_id + " is being launched; retry");
    }
    n.killed = true;
    if (n.exited) {
      // Already down (held, or crashed waiting for its restart): hold it, no restart.
      if (n.state != RunState::kExited) n.last_error = "killed (KillNode) while " + std::string(RunStateName(n.state));
      m.HoldLocked(np);
    } else {
      pid = n.pid;
    }
  }
  if (pid > 0) {
    SignalGroup(pid, SIGKILL);
    if (!m.procs.WaitExited(np, milliseconds(opts_.kill_wait_ms))) {
      return MakeError(Errc::kTimeout, "node " + node_id + ": pid " + std::to_string(pid) +
                                           " did not exit after SIGKILL");
    }
    std::lock_guard lk(n.mu);
    if (!n.held) {  // adopted nodes: WaitExited saw the pid gone
      n.last_error = "pid " + std::to_string(pid) + " killed by KillNode";
      m.HoldLocked(np);
    }
    m.log->info("[{}] pid {} killed (KillNode); held", node_id, pid);
  }
  n.admin_conn.reset();
  op.unlock();
  m.FillStatus(np, out);
  return {};
}

Status NodeSupervisor::RestartNode(const std::string& node_id, const PeerRef& replica_of,
                                   uint32_t ready_timeout_ms, cachefleet::v1::NodeStatus* out) {
  Impl& m = *impl_;
  auto np = m.registry.Find(node_id);
  if (!np || IsWarmNodeId(node_id)) {
    return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
  }
  ManagedNode& n = *np;
  uint32_t timeout_ms = ready_timeout_ms ? ready_timeout_ms : opts_.ready_timeout_ms;
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  std::unique_lock op(n.op_mu);
  NodeSpec spec;
  bool spawned = false;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != node_id) {
      return MakeError(Errc::kNotFound, "no node '" + node_id + "' on this host");
    }
    spec = n.spec;
    const std::string what = "RestartNode " + node_id + ": ";
    if (!replica_of.empty()) {
      if (spec.cluster_enabled && replica_of.cluster_node_id.empty()) {
        return MakeError(Errc::kInvalidArgument, what + "replica_of.cluster_node_id is required in cluster mode");
      }
      if (!spec.cluster_enabled &&
          (NormalizeIp(replica_of.ip).empty() || replica_of.port == 0 || replica_of.port > 65535)) {
        return MakeError(Errc::kInvalidArgument, what + "replica_of needs an IP and a port");
      }
      if (!spec.cluster_enabled && replica_of.port == spec.port &&
          NormalizeIp(replica_of.ip) == NormalizeIp(opts_.advertised_address)) {
        return MakeError(Errc::kInvalidArgument, what + "a node cannot replicate itself");
      }
    }
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, what + "the node is stopping");
    if (n.launching) return MakeError(Errc::kFailedPrecondition, what + "the node is being launched");
    if (n.exited) {
      // Held, or crashed and waiting for its backoff restart: start it now.
      if (!spec.cluster_enabled && !replica_of.empty()) {
        n.replica_of = {NormalizeIp(replica_of.ip), replica_of.port};
      }
      RunState before = n.state;
      n.hold_timer.reset();
      n.state = RunState::kStarting;
      if (auto s = m.SpawnLocked(np); !s.ok()) {
        if (before == RunState::kExited) {
          m.HoldLocked(np);
        } else {
          n.state = before;
        }
        return MakeError(s.error().code, what + s.error().message);
      }
      n.awaiting_ready = true;
      n.last_error.clear();
      spawned = true;
      m.log->info("[{}] restarted as pid {} (RestartNode{})", node_id, n.pid,
                  replica_of.empty() ? ", in place"
                                     : ", replica of " + (spec.cluster_enabled
                                                              ? replica_of.cluster_node_id
                                                              : replica_of.ip + ":" +
                                                                    std::to_string(replica_of.port)));
    }
  }
  if (spawned) m.monitor_cv.notify_all();
  if (auto s = m.WaitRunning(n, deadline, timeout_ms); !s.ok()) return s;
  if (!replica_of.empty()) {
    RedisConn& c = m.AdminConn(n);
    Status s;
    if (spec.cluster_enabled) {
      s = FollowClusterMaster(c, spec, replica_of.cluster_node_id, deadline,
                              opts_.ready_poll_interval_ms);
    } else if (ArmDeadline(c, deadline)) {
      // Spawned: redis.conf already says replicaof (a no-op here); running: repoint it.
      s = AdminReplicaOf(c, spec, NormalizeIp(replica_of.ip), replica_of.port);
      if (s.ok()) {
        std::lock_guard lk(n.mu);
        n.replica_of = {NormalizeIp(replica_of.ip), replica_of.port};
        m.PersistLocked(n, false);
      }
    } else {
      s = MakeError(Errc::kTimeout, "RestartNode " + node_id + ": deadline passed");
    }
    c.SetCommandTimeout(opts_.redis_command_timeout_ms);
    if (!s.ok()) return s;
  }
  op.unlock();
  m.FillStatus(np, out);
  return {};
}

Status NodeSupervisor::Impl::WaitRunning(ManagedNode& n, Clock::time_point deadline,
                                         uint32_t timeout_ms) {
  Impl& m = *this;
  std::unique_lock lk(n.mu);
  while (true) {
    if (n.removed) return MakeError(Errc::kFailedPrecondition, "node " + n.spec.node_id + " was stopped");
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, "node " + n.spec.node_id + " is stopping");
    if (n.state == RunState::kRunning && !n.exited) return {};
    if (n.exited && !n.awaiting_ready &&
        (n.state == RunState::kExited || n.state == RunState::kCrashed)) {
      std::string why = n.last_error;
      std::string dir = n.dir;
      lk.unlock();
      return MakeError(Errc::kInternal, "redis-server for " + n.spec.node_id + " " + why +
                                            " before answering PING: " + ExitReason(dir));
    }
    if (m.shutting_down) return MakeError(Errc::kUnavailable, "agent is shutting down");
    if (Clock::now() >= deadline) {
      return MakeError(Errc::kTimeout, "node " + n.spec.node_id + " is " + RunStateName(n.state) +
                                           " after " + std::to_string(timeout_ms) + " ms" +
                                           (n.last_error.empty() ? "" : ": " + n.last_error));
    }
    n.cv.wait_for(lk, milliseconds(m.opts.ready_poll_interval_ms));
  }
}

Status NodeSupervisor::Failover(const std::string& node_id, PromoteMode mode, uint32_t timeout_ms,
                                uint32_t force_timeout_ms, cachefleet::v1::NodeStatus* out,
                                std::string* method, uint32_t* elapsed_ms) {
  auto t0 = Clock::now();
  PromoteOptions o;
  o.mode = mode;
  o.deadline = t0 + milliseconds(timeout_ms ? timeout_ms : 5000);
  o.force_timeout_ms = force_timeout_ms ? force_timeout_ms : 1000;
  o.poll_ms = opts_.ready_poll_interval_ms;
  o.self_ip = opts_.advertised_address;
  o.connect_timeout_ms = opts_.redis_connect_timeout_ms;
  std::string used;
  auto s = WithNode(node_id, [&](const NodeSpec& spec, RedisConn& c) -> Status {
    auto r = PromoteReplica(c, spec, o);
    c.SetCommandTimeout(opts_.redis_command_timeout_ms);
    if (!r.ok()) return r.error();
    used = *r;
    return {};
  });
  if (!s.ok()) return s;
  *method = used;
  *elapsed_ms = static_cast<uint32_t>(
      std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count());
  impl_->log->info("[{}] promoted to primary by {} in {} ms", node_id, used, *elapsed_ms);
  return GetNodeStatus(node_id, out);  // also records the new role (cluster mode off)
}

void NodeSupervisor::Impl::CommitSpec(ManagedNode& n, const NodeSpec& to) {
  std::lock_guard lk(n.mu);
  {
    std::lock_guard rlk(registry.mu);
    n.spec = to;
  }
  if (n.pending_node_timeout_ms) n.pending_node_timeout_ms = SpecNodeTimeoutMs(to);
  if (auto s = WriteFileAtomic(n.dir + "/redis.conf",
                               RenderRedisConf(to, n.dir, opts.advertised_address, n.replica_of));
      !s.ok()) {
    log->warn("[{}] {}", to.node_id, s.error().message);
  }
  PersistLocked(n, false);
}

Status NodeSupervisor::ReconfigureNode(const NodeSpec& spec, bool restart,
                                       uint32_t ready_timeout_ms,
                                       cachefleet::v1::NodeStatus* out, bool force_restart,
                                       const std::set<std::string>& static_keys) {
  Impl& m = *impl_;
  if (auto s = m.ValidateRunnable(spec); !s.ok()) return s;
  const std::string& id = spec.node_id;
  const std::string what = "ReconfigureNode " + id + ": ";
  auto np = m.registry.Find(id);
  if (!np) return MakeError(Errc::kNotFound, "no node '" + id + "' on this host");
  ManagedNode& n = *np;
  uint32_t timeout_ms = ready_timeout_ms ? ready_timeout_ms : opts_.ready_timeout_ms;
  auto deadline = Clock::now() + milliseconds(timeout_ms);
  std::unique_lock op(n.op_mu);
  NodeSpec old;
  RunState state;
  bool exited;
  {
    std::lock_guard lk(n.mu);
    if (n.removed || n.spec.node_id != id) return MakeError(Errc::kNotFound, "no node '" + id + "' on this host");
    if (n.stop_requested) return MakeError(Errc::kFailedPrecondition, what + "the node is stopping");
    if (n.launching) return MakeError(Errc::kFailedPrecondition, what + "the node is being launched");
    old = n.spec;
    state = n.state;
    exited = n.exited;
  }
  if (spec.port != old.port) return MakeError(Errc::kInvalidArgument, what + "port cannot change");
  if (spec.group_id != old.group_id) return MakeError(Errc::kInvalidArgument, what + "group_id cannot change");
  if (spec.cluster_enabled != old.cluster_enabled) {
    return MakeError(Errc::kInvalidArgument, what + "cluster_enabled cannot change");
  }
  Status s;
  if (spec == old && !(restart && force_restart)) {
    // Nothing to do.
  } else if (exited) {
    // No process (held or crashed): the next start uses the new spec.
    m.CommitSpec(n, spec);
    m.log->info("[{}] spec replaced while the node is down", id);
  } else if (state != RunState::kRunning) {
    return MakeError(Errc::kUnavailable, what + "the node is " + RunStateName(state) + "; retry");
  } else if (!restart) {
    s = m.ReconfigureLive(n, old, spec, deadline, static_keys);
  } else {
    s = m.ReconfigureRestart(np, old, spec, deadline, timeout_ms);
  }
  if (!s.ok()) return s;
  op.unlock();
  m.FillStatus(np, out);
  return {};
}

Status NodeSupervisor::Impl::ReconfigureLive(ManagedNode& n, const NodeSpec& old,
                                             const NodeSpec& spec, Clock::time_point deadline,
                                             const std::set<std::string>& static_keys) {
  const std::string& id = spec.node_id;
  const std::string what = "ReconfigureNode " + id + ": ";
  RedisConn& c = AdminConn(n);
  // Static keys only go to the spec (the next start takes them); the rest is CONFIG SET.
  auto runtime_part = [&](NodeSpec s) {
    for (const auto& k : static_keys) s.config.erase(k);
    return s;
  };
  auto news = RuntimeConfigSettings(runtime_part(spec));
  if (!news.ok()) return MakeError(Errc::kFailedPrecondition, what + news.error().message + " (use restart=true)");
  std::map<std::string, std::string> oldm;
  if (auto olds = RuntimeConfigSettings(runtime_part(old)); olds.ok()) oldm.insert(olds->begin(), olds->end());
  std::map<std::string, std::string> newm(news->begin(), news->end());
  for (const auto& [k, v] : old.config) {
    if (!newm.count(k) && !static_keys.count(k)) {
      return MakeError(Errc::kFailedPrecondition,
                       what + "config '" + k + "' is removed; its default is not known at runtime: "
                              "send the default value, or use restart=true");
    }
  }
  std::vector<std::string> argv = {"CONFIG", "SET"};
  std::string keys;
  for (const auto& [k, v] : newm) {
    auto it = oldm.find(k);
    if (it != oldm.end() && it->second == v) continue;
    argv.push_back(k);
    argv.push_back(v);
    keys += (keys.empty() ? "" : ", ") + k;
  }
  if (argv.size() > 2) {
    // One CONFIG SET with every pair: Redis 7 applies all of them or none (it reverts the
    // ones already applied when a later one fails).
    ArmDeadline(c, deadline, opts.redis_command_timeout_ms);
    auto r = c.Command(argv);
    c.SetCommandTimeout(opts.redis_command_timeout_ms);
    if (!r.ok()) {
      Error e = r.error();
      if (e.code == Errc::kFailedPrecondition) e.code = Errc::kInvalidArgument;  // Redis refused
      return MakeError(e.code, what + "CONFIG SET " + keys + " refused; nothing changed: " + e.message);
    }
    log->info("[{}] CONFIG SET {}", id, keys);
  }
  CommitSpec(n, spec);
  return {};
}

Status NodeSupervisor::Impl::ReconfigureRestart(const std::shared_ptr<ManagedNode>& np,
                                                const NodeSpec& old, const NodeSpec& spec,
                                                Clock::time_point deadline,
                                                uint32_t timeout_ms) {
  ManagedNode& n = *np;
  const std::string& id = spec.node_id;
  const std::string what = "ReconfigureNode " + id + ": ";
  // restart = true: keep the data through an RDB snapshot (persistence is off by default), stop,
  // start with the new spec (same directory, so nodes.conf and the snapshot are kept).
  const std::string rdb = n.dir + "/dump.rdb";
  bool own_snapshot = !spec.config.count("save") && !spec.config.count("dbfilename") &&
                      !spec.config.count("appendonly") && !old.config.count("save") &&
                      !old.config.count("dbfilename") && !old.config.count("appendonly");
  RedisConn& c = AdminConn(n);
  c.SetCommandTimeout(std::max(timeout_ms, opts.redis_command_timeout_ms));
  auto saved = c.Command({"SAVE"});
  c.SetCommandTimeout(opts.redis_command_timeout_ms);
  if (!saved.ok()) {
    return MakeError(saved.error().code, what + "SAVE before the restart failed; nothing changed: " +
                                             saved.error().message);
  }
  {
    std::lock_guard lk(n.mu);
    n.expected_exit = true;
  }
  if (auto s = procs.Terminate(np, opts.stop_grace_ms); !s.ok()) {
    std::lock_guard lk(n.mu);
    n.expected_exit = false;
    return s;
  }
  n.admin_conn.reset();
  // Starts the process from `to`; an exit before it answers PING is reported, not restarted.
  auto start = [&](const NodeSpec& to) -> Status {
    CommitSpec(n, to);
    {
      std::lock_guard lk(n.mu);
      n.state = RunState::kStarting;
      n.trial_start = true;
      if (auto s = SpawnLocked(np); !s.ok()) {
        n.trial_start = false;
        UnexpectedExitLocked(np, "restart with the new spec failed: " + s.error().message);
        return MakeError(s.error().code, what + n.last_error);
      }
      n.awaiting_ready = true;
    }
    monitor_cv.notify_all();
    auto s = WaitRunning(n, deadline, timeout_ms);
    std::lock_guard lk(n.mu);
    n.trial_start = false;
    if (!s.ok() && n.exited && n.state == RunState::kCrashed && !n.stop_requested && !n.removed) {
      return s;  // exited before ready: the caller decides (roll back)
    }
    if (!s.ok() && n.exited && !n.stop_requested && !n.removed) {
      UnexpectedExitLocked(np, n.last_error);
    }
    return s;
  };
  log->info("[{}] restarting with the new spec (ReconfigureNode)", id);
  auto s = start(spec);
  if (!s.ok() && s.error().code == Errc::kInternal) {
    // Redis refused the new spec (e.g. a bad static parameter): back to the old one, so the
    // node does not crash-loop on a spec nobody can run; nothing changes.
    log->warn("[{}] new spec refused ({}); restarting with the previous spec", id, s.error().message);
    auto back = start(old);
    if (!back.ok()) {
      std::lock_guard lk(n.mu);
      if (n.exited && n.state == RunState::kCrashed) UnexpectedExitLocked(np, n.last_error);
    }
    if (own_snapshot) {
      std::error_code ec;
      fs::remove(rdb, ec);
    }
    return MakeError(Errc::kInvalidArgument,
                     what + "redis-server refused the new spec; " +
                         (back.ok() ? "restarted with the previous spec" : "the previous spec failed too: " + back.error().message) +
                         ": " + s.error().message);
  }
  if (own_snapshot) {
    std::error_code ec;
    fs::remove(rdb, ec);  // loaded; a later crash restart must not resurrect this snapshot
  }
  if (!s.ok()) return s;
  return {};
}

}  // namespace cf::agent
