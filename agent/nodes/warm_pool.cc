#include "agent/nodes/warm_pool.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "agent/nodes/node_process.h"
#include "agent/redis/redis_text.h"
#include "cachefleet.pb.h"

namespace cf::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A warm node that fails this many restarts in a row (and is not running) is replaced.
constexpr uint32_t kWarmMaxRestarts = 3;
constexpr auto kWarmPortCooldown = std::chrono::seconds(10);

}  // namespace

WarmPool::WarmPool(const SupervisorOptions& opts, NodeRegistry& registry, NodeProcesses& procs,
                   WarmPoolHost& host, const std::atomic<bool>& shutting_down)
    : opts_(opts),
      registry_(registry),
      procs_(procs),
      host_(host),
      shutting_down_(shutting_down),
      log_(cf::Logger("node")) {}

void WarmPool::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void WarmPool::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WarmPool::Kick(bool after_claim) {
  {
    std::lock_guard lk(mu_);
    kick_ = true;
    if (after_claim) last_claim_ = Clock::now();
  }
  cv_.notify_all();
}

NodeSpec WarmPool::WarmSpec(uint32_t port) const {
  NodeSpec s;
  s.node_id = WarmNodeId(port);
  s.port = port;
  s.cluster_enabled = true;
  s.engine_version = opts_.installed_version;
  return s;
}

std::vector<uint32_t> WarmPool::ReadyPorts() {
  std::vector<std::shared_ptr<ManagedNode>> warm;
  {
    std::lock_guard lk(registry_.mu);
    for (auto& [id, np] : registry_.nodes) {
      if (IsWarmNodeId(id) && !np->reserved) warm.push_back(np);
    }
  }
  std::vector<uint32_t> ports;
  auto now = Clock::now();
  for (auto& np : warm) {
    std::lock_guard lk(np->mu);
    if (!IsWarmNodeId(np->spec.node_id) || np->removed || np->stop_requested || np->exited ||
        np->state != RunState::kRunning ||
        now - np->process_started_at < milliseconds(opts_.warm_min_age_ms)) {
      continue;
    }
    ports.push_back(np->spec.port);
  }
  std::sort(ports.begin(), ports.end());
  return ports;
}

Status WarmPool::RetireLocked(const std::shared_ptr<ManagedNode>& np, const std::string& why) {
  ManagedNode& n = *np;
  std::string id, dir;
  {
    std::lock_guard lk(n.mu);
    n.stop_requested = true;  // no restarts; a pending restart timer becomes a no-op
    if (n.state != RunState::kStopped) n.state = RunState::kStopping;
    n.cv.notify_all();
    id = n.spec.node_id;
    dir = n.dir;
  }
  if (auto s = procs_.Terminate(np, opts_.stop_grace_ms); !s.ok()) return s;
  registry_.Forget(np);
  n.admin_conn.reset();
  {
    std::lock_guard slk(n.status_mu);
    n.status_conn.reset();
  }
  {
    std::lock_guard lk(n.mu);
    n.state = RunState::kStopped;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) log_->warn("[{}] remove {}: {}", id, dir, ec.message());
  log_->info("[{}] retired: {}", id, why);
  return {};
}

std::string WarmPool::CheckPristine(ManagedNode& n, const NodeSpec& spec, int64_t pid) {
  auto r = host_.AdminConn(n).Pipeline({{"INFO", "server"}, {"DBSIZE"}, {"CLUSTER", "INFO"}});
  if (!r.ok()) return "not answering: " + r.error().message;
  for (const auto& reply : *r) {
    if (!reply.ok()) return reply.error().message;
  }
  InfoMap info = ParseInfo((*r)[0]->str());
  int64_t answered = InfoInt(info, "process_id", -1);
  if (answered != pid) return "port answered by pid " + std::to_string(answered);
  std::string version = InfoString(info, "redis_version");
  if (!EngineVersionMatches(version, spec.engine_version)) {
    return "it runs redis " + version + ", the spec wants " + spec.engine_version;
  }
  if ((*r)[1]->integer() != 0) return "it holds " + std::to_string((*r)[1]->integer()) + " keys";
  InfoMap cluster = ParseInfo((*r)[2]->str());
  int64_t known = InfoInt(cluster, "cluster_known_nodes", -1);
  int64_t slots = InfoInt(cluster, "cluster_slots_assigned", -1);
  if (known != 1 || slots != 0) {
    return "not pristine: knows " + std::to_string(known) + " node(s), " + std::to_string(slots) +
           " slot(s) assigned";
  }
  return {};
}

std::string WarmPool::ApplyRuntimeConfig(ManagedNode& n, const NodeSpec& spec,
                                         uint32_t* pending_node_timeout_ms) {
  *pending_node_timeout_ms = 0;
  auto settings = RuntimeConfigSettings(spec);
  if (!settings.ok()) return settings.error().message;
  std::vector<std::string> argv = {"CONFIG", "SET"};
  for (const auto& [k, v] : *settings) {
    argv.push_back(k);
    uint32_t spec_timeout = SpecNodeTimeoutMs(spec);
    if (k == "cluster-node-timeout" && opts_.warm_formation_node_timeout_ms > 0 &&
        opts_.warm_formation_node_timeout_ms < spec_timeout) {
      argv.push_back(std::to_string(opts_.warm_formation_node_timeout_ms));
      *pending_node_timeout_ms = spec_timeout;
    } else {
      argv.push_back(v);
    }
  }
  // One CONFIG SET with every pair is atomic in Redis 7: all applied or none.
  auto r = n.admin_conn->Command(argv);
  if (!r.ok()) return "CONFIG SET failed: " + r.error().message;
  return {};
}

Status WarmPool::Claim(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
                       Clock::time_point deadline, cachefleet::v1::NodeStatus* out, bool* cold) {
  ManagedNode& n = *np;
  *cold = false;
  auto t0 = Clock::now();
  std::unique_lock op(n.op_mu);
  std::string warm_id, why;  // `why` set: retire the warm node and cold-start the id
  int64_t pid = 0;
  {
    std::unique_lock lk(n.mu);
    if (n.removed) {
      *cold = true;
      return {};
    }
    warm_id = n.spec.node_id;
    // A warm node that is still starting (just spawned or restarted) is worth waiting for.
    while (!n.stop_requested && !n.exited && n.state == RunState::kStarting && !shutting_down_ &&
           Clock::now() < deadline) {
      n.cv.wait_for(lk, milliseconds(opts_.ready_poll_interval_ms));
    }
    if (shutting_down_) return MakeError(Errc::kUnavailable, "agent is shutting down");
    if (n.stop_requested) {
      why = "it is being stopped";
    } else if (n.exited || n.state != RunState::kRunning) {
      why = std::string("it is ") + RunStateName(n.state) +
            (n.last_error.empty() ? "" : " (" + n.last_error + ")");
    } else if (!spec.cluster_enabled) {
      why = "the spec has cluster mode off";
    } else {
      n.launching = true;  // from here an exit fails the claim instead of restarting the node
    }
    pid = n.pid;
  }
  const std::string new_dir = host_.NodeDir(spec.node_id);
  std::error_code ec;
  if (why.empty() && fs::exists(new_dir, ec)) {
    why = new_dir + " exists (the data of a node stopped without purge)";
  }
  if (why.empty()) why = CheckPristine(n, spec, pid);
  // Rename before anything changes in the process: a crash of the agent from here on leaves
  // nodes/<id> with a node.json naming the warm node, which the next agent discards; before
  // it, the warm node is untouched. n.dir changes under n.mu + registry_.mu (+ op_mu held).
  auto alive_locked = [&] {
    return !n.exited && !n.removed && !n.stop_requested && n.pid == pid;
  };
  if (why.empty()) {
    std::lock_guard lk(n.mu);
    if (!alive_locked()) {
      why = "it exited or was stopped during the claim";
    } else if (fs::rename(n.dir, new_dir, ec); ec) {
      why = "rename " + n.dir + ": " + ec.message();
    } else {
      std::lock_guard rlk(registry_.mu);
      n.dir = new_dir;
    }
  }
  uint32_t pending_node_timeout_ms = 0;
  if (why.empty()) why = ApplyRuntimeConfig(n, spec, &pending_node_timeout_ms);
  if (why.empty()) {
    // Commit. n.mu, then registry_.mu inside it (the only nesting; see the header).
    std::lock_guard lk(n.mu);
    if (!alive_locked()) {
      why = "it exited or was stopped during the claim";
    } else {
      CommitClaimLocked(np, spec, new_dir, pending_node_timeout_ms);
    }
  }
  if (!why.empty()) {
    log_->info("[{}] warm node {} on port {} not claimed ({}); cold start", spec.node_id, warm_id,
              spec.port, why);
    if (auto s = RetireLocked(np, "replaced by a cold start of " + spec.node_id); !s.ok()) {
      return s;
    }
    *cold = true;
    return {};
  }
  // redis' cwd is the directory inode, so it followed the rename.
  std::error_code cwd_ec;
  if (!fs::equivalent("/proc/" + std::to_string(pid) + "/cwd", new_dir, cwd_ec)) {
    log_->error("[{}] pid {} does not run in {} after the rename ({})", spec.node_id, pid, new_dir,
               cwd_ec ? cwd_ec.message() : "other directory");
  }
  log_->info("[{}] claimed warm node {} (pid {}, port {}) in {} ms", spec.node_id, warm_id, pid,
            spec.port, std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count());
  op.unlock();
  host_.FillStatus(np, out, 0);
  return {};
}

void WarmPool::CommitClaimLocked(const std::shared_ptr<ManagedNode>& np, const NodeSpec& spec,
                                 const std::string& new_dir, uint32_t pending_node_timeout_ms) {
  ManagedNode& n = *np;
  {
    std::lock_guard rlk(registry_.mu);
    auto it = registry_.nodes.find(n.spec.node_id);
    if (it != registry_.nodes.end() && it->second == np) registry_.nodes.erase(it);
    n.spec = spec;
    registry_.nodes[spec.node_id] = np;
  }
  n.launching = false;
  n.restarts = 0;
  n.backoff_ms = 0;
  n.ping_failures = 0;
  n.last_error.clear();
  n.pending_node_timeout_ms = pending_node_timeout_ms;
  n.pending_node_timeout_until = Clock::now() + milliseconds(opts_.warm_formation_window_ms);
  n.next_node_timeout_check = Clock::now();
  // Same directives a restart will render; the process already has them (CONFIG SET).
  if (auto s = WriteFileAtomic(new_dir + "/redis.conf",
                               RenderRedisConf(spec, new_dir, opts_.advertised_address));
      !s.ok()) {
    log_->warn("[{}] {}", spec.node_id, s.error().message);
  }
  host_.PersistLocked(n, false);
}

void WarmPool::Loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    kick_ = false;
    lk.unlock();
    try {
      Reconcile();
    } catch (const std::exception& e) {
      log_->error("warm pool: {}", e.what());
    }
    lk.lock();
    auto wait = milliseconds(opts_.warm_pool_interval_ms);
    auto refill_at = last_claim_ + milliseconds(opts_.warm_pool_refill_delay_ms);
    auto now = Clock::now();
    if (refill_at > now) {
      auto until_refill = std::chrono::duration_cast<milliseconds>(refill_at - now);
      wait = std::min(wait, until_refill + milliseconds(1));
    }
    cv_.wait_for(lk, wait, [this] { return stop_ || kick_; });
  }
}

void WarmPool::Reconcile() {
  if (shutting_down_) return;
  std::vector<std::shared_ptr<ManagedNode>> warm;
  std::set<uint32_t> used_ports;
  size_t real = 0;
  {
    std::lock_guard lk(registry_.mu);
    for (auto& [id, np] : registry_.nodes) {
      used_ports.insert(np->spec.port);
      if (!IsWarmNodeId(id)) {
        ++real;
      } else if (!np->reserved) {
        warm.push_back(np);
      }
    }
  }
  size_t target = opts_.warm_pool_cluster_nodes;
  if (opts_.max_nodes > 0) {
    target = std::min<size_t>(target, opts_.max_nodes > real ? opts_.max_nodes - real : 0);
  }

  // Retire warm nodes outside the range or failing, then the excess (lowest ports first: the
  // orchestrator allocates from the low end).
  std::vector<std::pair<uint32_t, std::shared_ptr<ManagedNode>>> keep;
  for (auto& np : warm) {
    std::string why;
    uint32_t port;
    {
      std::lock_guard lk(np->mu);
      if (np->stop_requested || np->removed) continue;  // being stopped by someone else
      port = np->spec.port;
      if (port < opts_.port_range_start || port > opts_.port_range_end) {
        why = "port outside the range";
      } else if (np->restarts >= kWarmMaxRestarts && np->state != RunState::kRunning) {
        why = "keeps failing: " + np->last_error;
      }
    }
    if (!why.empty()) {
      RetireWarm(np, why);
    } else {
      keep.emplace_back(port, np);
    }
  }
  std::sort(keep.begin(), keep.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t excess = keep.size() > target ? keep.size() - target : 0;
  for (size_t i = 0; i < excess; ++i) {
    RetireWarm(keep[i].second, "the pool wants " + std::to_string(target) + " node(s)");
  }
  if (keep.size() >= target) return;
  {
    std::lock_guard lk(mu_);
    if (Clock::now() < last_claim_ + milliseconds(opts_.warm_pool_refill_delay_ms)) return;
  }
  size_t missing = target - keep.size();
  auto now = Clock::now();
  for (uint32_t port = opts_.port_range_end; missing > 0 && port >= opts_.port_range_start; --port) {
    if (shutting_down_) return;
    if (used_ports.count(port)) continue;
    if (auto cd = port_cooldown_.find(port); cd != port_cooldown_.end()) {
      if (now < cd->second) continue;
      port_cooldown_.erase(cd);
    }
    if (!PortFree(opts_.advertised_address, port) ||
        !PortFree(opts_.advertised_address, port + 10000)) {
      log_->debug("warm pool: port {} or {} is busy", port, port + 10000);
      continue;
    }
    if (SpawnWarm(port)) {
      --missing;
    } else {
      port_cooldown_[port] = Clock::now() + kWarmPortCooldown;
    }
  }
  if (missing > 0 && warnings_++ % 20 == 0) {
    log_->warn("warm pool: {} node(s) short of {}; no free port pair in {}-{}", missing, target,
              opts_.port_range_start, opts_.port_range_end);
  }
}

bool WarmPool::SpawnWarm(uint32_t port) {
  NodeSpec spec = WarmSpec(port);
  const std::string dir = host_.NodeDir(spec.node_id);
  auto np = std::make_shared<ManagedNode>(spec, dir);
  np->launching = true;
  {
    std::lock_guard lk(registry_.mu);
    if (shutting_down_ || registry_.nodes.count(spec.node_id)) return false;
    for (const auto& [id, other] : registry_.nodes) {
      if (other->spec.port == port) return false;
    }
    registry_.nodes[spec.node_id] = np;
  }
  // Leftovers of an earlier warm node on this port go: a pool node starts pristine.
  std::error_code ec;
  fs::remove_all(dir, ec);
  cachefleet::v1::NodeStatus status;
  auto s = host_.LaunchFresh(np, Clock::now() + milliseconds(opts_.ready_timeout_ms),
                       opts_.ready_timeout_ms, &status);
  if (!s.ok()) {
    if (!shutting_down_) {
      log_->warn("warm pool: cannot start a node on port {}: {}", port, s.error().message);
    }
    return false;
  }
  log_->info("[{}] warm pool node ready: pid {} port {}", spec.node_id, status.pid(), port);
  return true;
}

bool WarmPool::RetireWarm(const std::shared_ptr<ManagedNode>& np, const std::string& why) {
  {
    std::lock_guard lk(registry_.mu);
    auto it = registry_.nodes.find(np->spec.node_id);
    if (np->reserved || it == registry_.nodes.end() || it->second != np) return false;
    np->reserved = true;  // a LaunchNode on this port waits for the retire, then cold-starts
  }
  Status s;
  {
    std::lock_guard op(np->op_mu);
    s = RetireLocked(np, why);
  }
  {
    std::lock_guard lk(registry_.mu);
    np->reserved = false;
  }
  registry_.cv.notify_all();
  if (!s.ok()) log_->error("warm pool: retire failed: {}", s.error().message);
  return s.ok();
}
}  // namespace cf::agent
