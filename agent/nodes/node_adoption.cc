#include "agent/nodes/node_adoption.h"

#include <signal.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "agent/nodes/node_process.h"

namespace cf::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

}  // namespace

NodeAdopter::NodeAdopter(const SupervisorOptions& opts, NodeRegistry& registry,
                         NodeProcesses& procs, AdoptionHost& host)
    : opts_(opts), registry_(registry), procs_(procs), host_(host), log_(cf::Logger("node")) {}

void NodeAdopter::AdoptAll(const std::string& nodes_dir) {
  std::error_code ec;
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(nodes_dir, ec)) {
    if (e.is_directory()) dirs.push_back(e.path().string());
  }
  for (const auto& d : dirs) Adopt(d);
}

void NodeAdopter::Adopt(const std::string& dir) {
  std::string id = fs::path(dir).filename().string();
  if (!IsValidNodeId(id)) {
    log_->warn("[{}] ignoring directory with an invalid node id: {}", id, dir);
    return;
  }
  auto text = ReadWholeFile(dir + "/node.json");
  if (!text.ok()) {
    log_->warn("[{}] no node.json in {}; ignoring the directory", id, dir);
    return;
  }
  auto rec = NodeRecordFromJson(*text);
  if (!rec.ok()) {
    log_->warn("[{}] {}; ignoring the directory", id, rec.error().message);
    return;
  }
  if (rec->spec.node_id != id) {
    if (IsWarmNodeId(rec->spec.node_id) && !IsWarmNodeId(id)) {
      DiscardInterruptedClaim(*rec, dir);
      return;
    }
    log_->warn("[{}] node.json names node '{}'; ignoring the directory", id, rec->spec.node_id);
    return;
  }
  if (IsWarmNodeId(id) &&
      (rec->stopped || rec->pid <= 0 || !LooksLikeNodeProcess(rec->pid, rec->spec.port, dir))) {
    // A dead warm node is not worth a restart: purge it, the pool starts a fresh one.
    std::error_code ec;
    fs::remove_all(dir, ec);
    log_->info("[{}] warm pool node not running (pid {}); purged", id, rec->pid);
    return;
  }
  if (rec->stopped) {
    log_->info("[{}] stopped node kept on disk (not started)", id);
    return;
  }
  auto np = std::make_shared<ManagedNode>(rec->spec, dir);
  ManagedNode& n = *np;
  {
    std::lock_guard lk(registry_.mu);
    registry_.nodes[id] = np;
  }
  std::lock_guard lk(n.mu);
  n.restarts = rec->restarts;
  n.replica_of = rec->replica_of;
  if (rec->held) {
    // Held by the previous agent (hold_on_exit exit or KillNode): still held.
    n.exited = true;
    n.pid = 0;
    n.killed = rec->killed;
    n.last_error = "held since the previous agent (" + std::string(n.killed ? "KillNode" : "exit") +
                   "); waiting for RestartNode";
    host_.HoldLocked(np, rec->exited_at_ms > 0 ? rec->exited_at_ms : WallMs());
    log_->info("[{}] held (NODE_EXITED) as the previous agent left it", id);
    return;
  }
  if (rec->pid > 0 && LooksLikeNodeProcess(rec->pid, rec->spec.port, dir)) {
    AdoptRunningLocked(np, rec->pid);
    return;
  }
  if (rec->pid > 0 && rec->spec.hold_on_exit) {
    // Died while the agent was away; the orchestrator decides (it may have failed over).
    n.exited = true;
    n.pid = 0;
    n.last_error = "pid " + std::to_string(rec->pid) +
                   " was gone when the agent started; held (hold_on_exit)";
    host_.HoldLocked(np, 0);
    log_->warn("[{}] {}", id, n.last_error);
    return;
  }
  if (rec->pid > 0) {
    // The process died while the agent was away: that is an unexpected exit.
    ++n.restarts;
    n.state = RunState::kCrashed;
    n.last_error = "pid " + std::to_string(rec->pid) + " was gone when the agent started";
    log_->warn("[{}] {}; restarting", id, n.last_error);
  } else {
    n.state = RunState::kStarting;  // stopped cleanly by the previous agent on its exit
    log_->info("[{}] starting node stopped at the previous agent's exit", id);
  }
  if (auto s = host_.SpawnLocked(np); !s.ok()) {
    n.last_error = "start failed: " + s.error().message;
    log_->warn("[{}] {}", id, n.last_error);
    n.exited = true;
    host_.ScheduleRestartLocked(np);
    return;
  }
  n.awaiting_ready = true;
}

void NodeAdopter::AdoptRunningLocked(const std::shared_ptr<ManagedNode>& np, int64_t pid) {
  ManagedNode& n = *np;
  const std::string& id = n.spec.node_id;
  n.adopted = true;
  n.exited = false;
  n.pid = pid;
  ++n.generation;
  n.started_at = Clock::now();
  int64_t age_ms = ProcessAgeMs(n.pid);
  n.process_started_at = n.started_at - milliseconds(age_ms > 0 ? age_ms : 0);
  n.next_poll = n.started_at + milliseconds(opts_.adopted_poll_interval_ms);
  if (n.spec.cluster_enabled && !IsWarmNodeId(n.spec.node_id)) {
    // A previous agent may have died while this (claimed) node ran with the formation
    // timeout: set the spec's value again once it reports cluster_state ok.
    n.pending_node_timeout_ms = SpecNodeTimeoutMs(n.spec);
    n.pending_node_timeout_until = n.started_at + milliseconds(opts_.warm_formation_window_ms);
  }
  auto probe = procs_.Probe(n.spec.port, 200);
  if (probe.ok() && *probe == n.pid) {
    n.state = RunState::kRunning;
    log_->info("[{}] adopted running pid {} on port {}", id, n.pid, n.spec.port);
  } else {
    n.state = RunState::kStarting;
    n.awaiting_ready = true;
    n.last_error = "adopted pid " + std::to_string(n.pid) + " does not answer PING yet: " +
                   (probe.ok() ? "answered by pid " + std::to_string(*probe) : probe.error().message);
    log_->warn("[{}] {}", id, n.last_error);
  }
}

// The agent died between the rename of a claimed warm node's directory and its node.json: the
// LaunchNode never answered, so nobody uses the process. Kill it and purge the directory; the
// orchestrator's retried LaunchNode cold-starts the node.
void NodeAdopter::DiscardInterruptedClaim(const NodeRecord& rec, const std::string& dir) {
  std::string id = fs::path(dir).filename().string();
  log_->warn("[{}] interrupted claim of warm node {} (pid {}); discarding it", id,
            rec.spec.node_id, rec.pid);
  if (rec.pid > 0 && LooksLikeNodeProcess(rec.pid, rec.spec.port, dir)) {
    SignalGroup(rec.pid, SIGKILL);
    auto until = Clock::now() + milliseconds(opts_.kill_wait_ms);
    while (ProcessAlive(rec.pid) && Clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) log_->warn("[{}] remove {}: {}", id, dir, ec.message());
}

}  // namespace cf::agent
