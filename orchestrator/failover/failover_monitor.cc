#include "orchestrator/failover/failover_monitor.h"

#include <map>

#include "common/log.h"
#include "orchestrator/failover/failover_store.h"
#include "orchestrator/store/store.h"

namespace cf::orchestrator {
namespace {

const NodeRecord* DesiredPrimary(const GroupView& v, const std::string& ng) {
  for (const auto& n : v.nodes)
    if (n.node_group_id == ng && n.desired_role == NodeRole::kPrimary) return &n;
  return nullptr;
}

struct StartOp {
  OpKind kind;
  std::string payload;
  std::string why;
  bool modifying = false;  // the group shows `modifying` while it runs
};

}  // namespace

FailoverMonitor::FailoverMonitor(Store& store, FailoverSettings settings,
                                 std::function<void(int64_t)> poke)
    : store_(store), fo_(settings), poke_(std::move(poke)) {}

FailoverMonitor::~FailoverMonitor() { Stop(); }

void FailoverMonitor::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lk(mu_);
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds(fo_.monitor_interval_ms),
                   [&] { return stop_ || woken_; });
      if (stop_) break;
      woken_ = false;
      lk.unlock();
      ScanOnce();
      lk.lock();
    }
  });
}

void FailoverMonitor::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FailoverMonitor::Wake() {
  {
    std::lock_guard lk(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

std::vector<int64_t> FailoverMonitor::ScanOnce() {
  auto log = Logger("failover");
  std::vector<int64_t> started;
  auto hosts = store_.ListHosts();
  if (!hosts) {
    log->warn("monitor: {}", hosts.error().message);
    return started;
  }
  const int64_t now = NowMs();
  std::map<std::string, bool> up;
  for (const auto& h : *hosts) up[h.host_id] = !HostLost(h, now, fo_.host_down_after_ms);
  auto is_up = [&](const NodeRecord& n) {
    auto it = up.find(n.host_id);
    return it != up.end() && it->second;
  };

  std::string after;
  while (true) {
    auto groups = store_.ListGroups(after, 100);
    if (!groups) {
      log->warn("monitor: {}", groups.error().message);
      return started;
    }
    if (groups->empty()) break;
    after = groups->back().group.id;
    for (const GroupView& v : *groups) {
      const ReplicationGroupRecord& g = v.group;
      if (g.status != GroupStatus::kAvailable) continue;
      auto last = FailoverStoreOf(store_).LastOperationFinishedMs(g.id);
      if (!last) continue;
      auto fresh = [&](const NodeRecord& n) {
        return n.observed.known && n.observed.observed_ms > *last;
      };
      std::optional<StartOp> todo;
      for (const auto& ng : v.node_groups) {
        if (todo) break;
        const NodeRecord* prim = DesiredPrimary(v, ng.node_group_id);
        if (!prim) continue;
        std::vector<const NodeRecord*> replicas, live_replicas, replicas_up;
        for (const auto& n : v.nodes) {
          if (n.node_group_id != ng.node_group_id || &n == prim) continue;
          replicas.push_back(&n);
          if (is_up(n)) replicas_up.push_back(&n);
          if (is_up(n) && n.observed.state == "running") live_replicas.push_back(&n);
        }
        // 1. The primary's process exited.
        if (is_up(*prim) && prim->observed.state == "exited" && fresh(*prim)) {
          if (g.automatic_failover && !live_replicas.empty()) {
            FailoverPayload p;
            p.reason = FailoverReason::kAutomatic;
            p.node_group_id = ng.node_group_id;
            p.old_primary = prim->node_id;
            todo = StartOp{OpKind::kFailover, FailoverPayloadToJson(p),
                           "primary " + prim->node_id + " exited", true};
          } else {
            RecoverPayload p{prim->node_id, false, "exited"};
            todo = StartOp{OpKind::kRecoverNode, RecoverPayloadToJson(p),
                           "primary " + prim->node_id + " exited (no automatic failover)", false};
          }
          break;
        }
        // 2. The primary's host is lost and the replicas lost their link.
        if (!is_up(*prim) && g.automatic_failover && !live_replicas.empty()) {
          bool all_fresh = true;
          for (const NodeRecord* r : replicas_up) all_fresh = all_fresh && fresh(*r);
          if (all_fresh && ReplicasLostPrimary(replicas_up)) {
            FailoverPayload p;
            p.reason = FailoverReason::kHostDown;
            p.node_group_id = ng.node_group_id;
            p.old_primary = prim->node_id;
            todo = StartOp{OpKind::kFailover, FailoverPayloadToJson(p),
                           "host " + prim->host_id + " of primary " + prim->node_id + " is lost",
                           true};
            break;
          }
        }
        // 3. A replica is held down, or runs as a stray primary (CMD).
        for (const NodeRecord* r : replicas) {
          if (!is_up(*r) || !fresh(*r)) continue;
          const bool exited = r->observed.state == "exited";
          const bool stray = !g.cluster_enabled && r->observed.state == "running" &&
                             r->observed.role == "master" && is_up(*prim) &&
                             prim->observed.state == "running" && prim->observed.role == "master";
          if (!exited && !stray) continue;
          RecoverPayload p{r->node_id, true, exited ? "exited" : "stray primary"};
          todo = StartOp{
              OpKind::kRecoverNode, RecoverPayloadToJson(p),
              "replica " + r->node_id + (exited ? " is held down" : " runs as a primary"), false};
          break;
        }
      }
      if (!todo) continue;
      OperationRecord op;
      op.kind = todo->kind;
      op.topology =
          g.cluster_enabled ? Topology::kClusterModeEnabled : Topology::kClusterModeDisabled;
      op.state = OpState::kPending;
      op.step = todo->why;
      op.created_ms = NowMs();
      op.deadline_ms = op.created_ms + fo_.operation_timeout_ms;
      op.payload = todo->payload;
      FailoverChange change;
      if (todo->modifying) change.group_status = "modifying";
      auto check = [](const GroupView& cur) -> Status {
        if (cur.group.status != GroupStatus::kAvailable)
          return MakeError(Errc::kFailedPrecondition, "group is not available");
        return {};
      };
      auto begun = store_.BeginGroupOperation(g.id, op, check, change);
      if (!begun) {
        log->debug("[{}] {}: not started: {}", g.id, todo->why, begun.error().message);
        continue;
      }
      log->warn("[{}] {}: started {} operation #{}", g.id, todo->why, OpKindName(todo->kind),
                begun->second);
      started.push_back(begun->second);
      if (poke_) poke_(begun->second);
    }
    if (groups->size() < 100) break;
  }
  return started;
}

}  // namespace cf::orchestrator
