#include "orchestrator/testing/fake_agent.h"

#include <grpcpp/grpcpp.h>

#include <optional>
#include <random>
#include <thread>

#include "cachefleet.grpc.pb.h"

namespace cf::orchestrator::testing {
namespace {

namespace pb = ::cachefleet::v1;

std::string RandomHex40() {
  static std::mutex mu;
  static std::mt19937_64 rng{12345};
  std::lock_guard lk(mu);
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 40; ++i) s.push_back(kHex[rng() % 16]);
  return s;
}

void AddRanges(google::protobuf::RepeatedPtrField<pb::SlotRange>* out, const SlotRanges& r) {
  for (const auto& x : NormalizeSlotRanges(r)) {
    auto* p = out->Add();
    p->set_start(x.start);
    p->set_end(x.end);
  }
}

}  // namespace

std::set<std::string> FakeNetwork::ComponentOf(const std::string& node_id) const {
  std::set<std::string> seen{node_id};
  std::vector<std::string> todo{node_id};
  while (!todo.empty()) {
    std::string cur = todo.back();
    todo.pop_back();
    auto it = nodes.find(cur);
    if (it == nodes.end()) continue;
    for (const auto& m : it->second.met)
      if (nodes.count(m) && seen.insert(m).second) todo.push_back(m);
  }
  return seen;
}

FakeNode* FakeNetwork::FindByAddress(const std::string& address, uint32_t port) {
  for (auto& [id, n] : nodes)
    if (n.address == address && n.port == port) return &n;
  return nullptr;
}

FakeNode* FakeNetwork::FindByClusterId(const std::string& id) {
  for (auto& [nid, n] : nodes)
    if (n.cluster_node_id == id) return &n;
  return nullptr;
}

uint64_t FakeNode::KeyCount() const {
  uint64_t k = 0;
  for (const auto& [slot, n] : keys) k += n;
  return k;
}

uint64_t FakeNetwork::TotalKeys() const {
  uint64_t k = 0;
  for (const auto& [id, n] : nodes)
    if (n.role == "master") k += n.KeyCount();
  return k;
}

size_t FakeNetwork::NodesOn(const std::string& host_id) const {
  size_t c = 0;
  for (const auto& [id, n] : nodes) c += n.host_id == host_id ? 1 : 0;
  return c;
}

pb::NodeStatus FakeNetwork::StatusOf(FakeNode& n) {
  pb::NodeStatus s;
  s.set_node_id(n.node_id);
  s.set_port(n.port);
  if (n.exited) {
    s.set_state(pb::NODE_EXITED);
    s.set_exited_at_ms(1);
    return s;
  }
  s.set_state(pb::NODE_RUNNING);
  s.set_repl_offset(n.repl_offset);
  s.set_config_epoch(n.config_epoch);
  s.set_pid(n.pid);
  s.set_role(n.role);
  s.set_redis_version("7.0.15");
  s.set_maxmemory(n.maxmemory);
  s.set_used_memory(n.used_memory);
  if (n.role == "master") {
    s.set_keys(n.KeyCount());
  } else if (FakeNode* m = FindByClusterId(n.master_cluster_node_id)) {
    s.set_keys(m->KeyCount());
  }
  if (n.role == "slave") {
    ++n.polls_since_replicate;
    FakeNode* m = n.cluster_enabled ? FindByClusterId(n.master_cluster_node_id)
                                    : FindByAddress(n.master_host, n.master_port);
    s.set_master_link_up(n.polls_since_replicate > link_up_after_polls && m && !m->exited);
    s.set_master_host(n.master_host);
    s.set_master_port(n.master_port);
    s.set_master_cluster_node_id(n.master_cluster_node_id);
  }
  if (!n.cluster_enabled) return s;
  s.set_cluster_node_id(n.cluster_node_id);
  AddRanges(s.mutable_slots(), n.slots);
  auto comp = ComponentOf(n.node_id);
  for (auto it = comp.begin(); it != comp.end();) {
    if (n.forgotten.count(nodes.at(*it).cluster_node_id)) {
      it = comp.erase(it);
    } else {
      ++it;
    }
  }
  s.set_cluster_known_nodes(static_cast<uint32_t>(comp.size()));
  uint32_t covered = 0;
  for (const auto& id : comp) {
    const FakeNode& o = nodes.at(id);
    if (o.role == "slave") {
      auto* r = s.add_replicas_seen();
      r->set_cluster_node_id(o.cluster_node_id);
      r->set_master_cluster_node_id(o.master_cluster_node_id);
    }
    if (o.slots.empty() || o.role != "master") continue;
    auto* owner = s.add_slot_owners();
    owner->set_cluster_node_id(o.cluster_node_id);
    AddRanges(owner->mutable_ranges(), o.slots);
    covered += CountSlots(NormalizeSlotRanges(o.slots));
  }
  s.set_cluster_state(covered == kNumSlots ? "ok" : "fail");
  return s;
}

struct FakeAgent::Impl final : public pb::Agent::Service {
  FakeAgent* self = nullptr;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::mutex busy_mu;
  std::set<uint32_t> busy_ports;

  std::optional<grpc::Status> Gate() {
    self->calls++;
    if (self->fail_all) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake agent is down");
    return std::nullopt;
  }

  grpc::Status LaunchNode(grpc::ServerContext*, const pb::LaunchNodeRequest* req,
                          pb::NodeStatus* out) override {
    if (auto g = Gate()) return *g;
    self->launches++;
    const pb::NodeSpec& spec = req->spec();
    {
      std::lock_guard lk(busy_mu);
      if (busy_ports.count(spec.port()))
        return {grpc::StatusCode::RESOURCE_EXHAUSTED, "redis-server for " + spec.node_id() +
                                                          " exited before answering PING: "
                                                          "Address already in use"};
    }
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    auto it = net.nodes.find(spec.node_id());
    if (it != net.nodes.end()) {
      if (it->second.port != spec.port() || it->second.host_id != self->host_id_)
        return {grpc::StatusCode::FAILED_PRECONDITION,
                "node " + spec.node_id() + " already exists with a different spec (port " +
                    std::to_string(it->second.port) + "); stop it first"};
      *out = net.StatusOf(it->second);
      return grpc::Status::OK;
    }
    if (net.FindByAddress(self->address_, spec.port()))
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, "Address already in use"};
    FakeNode n;
    n.node_id = spec.node_id();
    n.host_id = self->host_id_;
    n.address = self->address_;
    n.port = spec.port();
    n.cluster_enabled = spec.cluster_enabled();
    n.maxmemory = spec.maxmemory_bytes();
    n.engine_version = spec.engine_version();
    n.config.insert(spec.config().begin(), spec.config().end());
    n.running = n.config;
    n.hold_on_exit = spec.hold_on_exit();
    n.hold_max_ms = spec.hold_max_ms();
    if (n.cluster_enabled) n.cluster_node_id = RandomHex40();
    auto& stored = net.nodes[n.node_id] = n;
    *out = net.StatusOf(stored);
    return grpc::Status::OK;
  }

  grpc::Status StopNode(grpc::ServerContext*, const pb::StopNodeRequest* req,
                        pb::StopNodeReply* out) override {
    if (auto g = Gate()) return *g;
    self->stops++;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    auto it = net.nodes.find(req->node_id());
    bool existed = it != net.nodes.end() && it->second.host_id == self->host_id_;
    if (existed) {
      net.nodes.erase(it);
      for (auto& [id, n] : net.nodes) n.met.erase(req->node_id());
    }
    out->set_existed(existed);
    return grpc::Status::OK;
  }

  FakeNode* Mine(FakeNetwork& net, const std::string& node_id) {
    auto it = net.nodes.find(node_id);
    if (it == net.nodes.end() || it->second.host_id != self->host_id_) return nullptr;
    return &it->second;
  }

  grpc::Status GetNodeStatus(grpc::ServerContext*, const pb::NodeRef* req,
                             pb::NodeStatus* out) override {
    if (auto g = Gate()) return *g;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    *out = net.StatusOf(*n);
    return grpc::Status::OK;
  }

  grpc::Status ListNodes(grpc::ServerContext*, const pb::ListNodesRequest*,
                         pb::ListNodesReply* out) override {
    if (auto g = Gate()) return *g;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    for (auto& [id, n] : net.nodes)
      if (n.host_id == self->host_id_) *out->add_nodes() = net.StatusOf(n);
    return grpc::Status::OK;
  }

  grpc::Status ClusterMeet(grpc::ServerContext*, const pb::ClusterMeetRequest* req,
                           pb::Ack*) override {
    if (auto g = Gate()) return *g;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    if (!n->cluster_enabled) return {grpc::StatusCode::FAILED_PRECONDITION, "cluster mode off"};
    FakeNode* peer = net.FindByAddress(req->peer_ip(), req->peer_port());
    if (!peer) return grpc::Status::OK;  // MEET to nowhere: Redis accepts and never hears back
    n->met.insert(peer->node_id);
    peer->met.insert(n->node_id);
    return grpc::Status::OK;
  }

  grpc::Status ClusterAddSlots(grpc::ServerContext*, const pb::ClusterAddSlotsRequest* req,
                               pb::Ack*) override {
    if (auto g = Gate()) return *g;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    if (req->config_epoch() > 0 && n->config_epoch != req->config_epoch()) {
      if (n->config_epoch != 0 || !n->met.empty()) {
        if (req->ranges_size() == 0 || n->slots.empty())
          return {grpc::StatusCode::FAILED_PRECONDITION, "Node config epoch is already non-zero"};
      } else {
        n->config_epoch = req->config_epoch();
      }
    }
    SlotRanges add;
    for (const auto& r : req->ranges()) add.push_back(SlotRange{r.start(), r.end()});
    SlotRanges all = n->slots;
    all.insert(all.end(), add.begin(), add.end());
    n->slots = NormalizeSlotRanges(all);
    return grpc::Status::OK;
  }

  grpc::Status ClusterReplicate(grpc::ServerContext*, const pb::ClusterReplicateRequest* req,
                                pb::Ack*) override {
    if (auto g = Gate()) return *g;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    FakeNode* m = net.FindByClusterId(req->master_cluster_node_id());
    if (!m || !net.ComponentOf(n->node_id).count(m->node_id))
      return {grpc::StatusCode::FAILED_PRECONDITION, "master is not known to the node yet; retry"};
    if (n->role == "slave" && n->master_cluster_node_id == m->cluster_node_id)
      return grpc::Status::OK;
    n->role = "slave";
    n->master_cluster_node_id = m->cluster_node_id;
    n->master_host = m->address;
    n->master_port = m->port;
    n->polls_since_replicate = 0;
    return grpc::Status::OK;
  }

  grpc::Status ClusterForget(grpc::ServerContext*, const pb::ForgetRequest* req,
                             pb::Ack*) override {
    if (auto g = Gate()) return *g;
    self->forget_calls++;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    if (!n->cluster_enabled) return {grpc::StatusCode::FAILED_PRECONDITION, "cluster mode off"};
    for (const auto& id : req->forget_cluster_node_ids()) {
      if (id == n->cluster_node_id)
        return {grpc::StatusCode::INVALID_ARGUMENT, "I tried hard but I can't forget myself..."};
      if (n->role == "slave" && id == n->master_cluster_node_id)
        return {grpc::StatusCode::FAILED_PRECONDITION, "Can't forget my master!"};
      n->forgotten.insert(id);
    }
    return grpc::Status::OK;
  }

  grpc::Status MoveSlots(grpc::ServerContext* ctx, const pb::MoveSlotsRequest* req,
                         grpc::ServerWriter<pb::MoveSlotsProgress>* writer) override {
    if (auto g = Gate()) return *g;
    self->move_calls++;
    auto& net = *self->net_;
    std::unique_lock lk(net.mu);
    FakeNode* src = Mine(net, req->source_node_id());
    if (!src) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->source_node_id()};
    auto& highest = net.highest_attempt[req->move_id()];
    if (req->attempt() < highest)
      return {grpc::StatusCode::FAILED_PRECONDITION, "stale attempt of " + req->move_id()};
    highest = req->attempt();
    FakeNode* dst = net.FindByClusterId(req->target().cluster_node_id());
    if (!dst || dst->role != "master")
      return {grpc::StatusCode::FAILED_PRECONDITION, "target is not a master"};
    const std::string src_id = src->node_id;
    const std::string dst_id = dst->node_id;
    if (net.moving[src_id]++ > 0) net.source_overlap = true;
    net.max_running_moves = std::max(net.max_running_moves, ++net.running_moves);
    struct Done {
      FakeNetwork& net;
      std::unique_lock<std::mutex>& lk;
      std::string src;
      ~Done() {
        if (!lk.owns_lock()) lk.lock();
        net.moving[src]--;
        net.running_moves--;
      }
    } done_guard{net, lk, src_id};

    std::vector<uint32_t> slots;
    for (const auto& r : req->slots())
      for (uint32_t x = r.start(); x <= r.end(); ++x) slots.push_back(x);
    auto owns = [](const FakeNode& n, uint32_t slot) {
      for (const auto& r : n.slots)
        if (slot >= r.start && slot <= r.end) return true;
      return false;
    };
    pb::MoveSlotsProgress p;
    p.set_move_id(req->move_id());
    p.set_attempt(req->attempt());
    p.set_slots_total(static_cast<uint32_t>(slots.size()));
    uint64_t keys_total = 0;
    for (uint32_t slot : slots)
      if (owns(*src, slot)) keys_total += src->keys[slot];
    p.set_keys_total(keys_total);
    if (self->move_send_stale_message) {
      pb::MoveSlotsProgress stale = p;
      stale.set_attempt(0);
      stale.set_keys_moved(1000000000);
      stale.set_done(true);
      lk.unlock();
      writer->Write(stale);
      lk.lock();
    }
    uint32_t done = 0;
    uint64_t keys_moved = 0;
    int in_call = 0;
    for (uint32_t slot : slots) {
      src = Mine(net, src_id);
      dst = net.nodes.count(dst_id) ? &net.nodes.at(dst_id) : nullptr;
      if (!src || !dst) return {grpc::StatusCode::UNAVAILABLE, "node gone"};
      if (owns(*dst, slot)) {
        // already there
      } else if (owns(*src, slot)) {
        const uint64_t k = src->keys[slot];
        src->keys.erase(slot);
        if (k) dst->keys[slot] += k;
        keys_moved += k;
        net.keys_moved_total += k;
        SlotRanges s;
        for (const auto& r : src->slots)
          for (uint32_t x = r.start; x <= r.end; ++x)
            if (x != slot) s.push_back({x, x});
        src->slots = NormalizeSlotRanges(s);
        SlotRanges d = dst->slots;
        d.push_back({slot, slot});
        dst->slots = NormalizeSlotRanges(d);
        if (src->slots.empty()) {
          // cluster-allow-replica-migration: the emptied master and its replicas follow dst.
          const std::string old_id = src->cluster_node_id;
          for (auto& [id, n] : net.nodes) {
            if (&n == src || (n.role == "slave" && n.master_cluster_node_id == old_id)) {
              n.role = "slave";
              n.master_cluster_node_id = dst->cluster_node_id;
              n.master_host = dst->address;
              n.master_port = dst->port;
              n.polls_since_replicate = 0;
            }
          }
        }
      } else {
        return {grpc::StatusCode::FAILED_PRECONDITION,
                "slot " + std::to_string(slot) + " is owned by neither source nor target"};
      }
      ++done;
      ++in_call;
      p.set_slots_done(done);
      p.set_keys_moved(keys_moved);
      p.set_bytes_moved(keys_moved * 100);
      p.clear_completed();
      auto* c = p.add_completed();
      c->set_start(slot);
      c->set_end(slot);
      p.set_current_slot(slot);
      lk.unlock();
      if (!writer->Write(p)) return {grpc::StatusCode::CANCELLED, "client gone"};
      if (self->move_slot_delay_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(self->move_slot_delay_ms.load()));
      if (self->move_fail_after_slots >= 0 && in_call >= self->move_fail_after_slots) {
        self->move_fail_after_slots = -1;
        return {grpc::StatusCode::UNAVAILABLE, "fake mover: connection to the source lost"};
      }
      if (self->move_pause_after_slots >= 0 && in_call >= self->move_pause_after_slots) {
        self->move_pause_after_slots = -1;
        while (self->move_paused && !ctx->IsCancelled())
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      if (ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "cancelled"};
      lk.lock();
    }
    p.clear_completed();
    p.set_done(true);
    lk.unlock();
    writer->Write(p);
    lk.lock();
    return grpc::Status::OK;
  }

  grpc::Status KillNode(grpc::ServerContext*, const pb::KillNodeRequest* req,
                        pb::NodeStatus* out) override {
    if (auto g = Gate()) return *g;
    self->kill_calls++;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    n->exited = true;
    *out = net.StatusOf(*n);
    return grpc::Status::OK;
  }

  grpc::Status RestartNode(grpc::ServerContext*, const pb::RestartNodeRequest* req,
                           pb::NodeStatus* out) override {
    if (auto g = Gate()) return *g;
    self->restart_calls++;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    if (n->exited) {
      n->running = n->config;
      ++n->pid;
    }
    n->exited = false;
    if (req->has_replica_of()) {
      const auto& r = req->replica_of();
      FakeNode* m = n->cluster_enabled ? net.FindByClusterId(r.cluster_node_id())
                                       : net.FindByAddress(r.ip(), r.port());
      if (!m) return {grpc::StatusCode::FAILED_PRECONDITION, "replica_of is unknown"};
      if (n->role != "slave" || n->master_cluster_node_id != m->cluster_node_id ||
          n->master_host != m->address || n->master_port != m->port) {
        n->role = "slave";
        n->slots.clear();
        n->keys.clear();
        n->master_cluster_node_id = m->cluster_node_id;
        n->master_host = m->address;
        n->master_port = m->port;
        n->polls_since_replicate = 0;
      }
    }
    *out = net.StatusOf(*n);
    return grpc::Status::OK;
  }

  grpc::Status ReconfigureNode(grpc::ServerContext*, const pb::ReconfigureNodeRequest* req,
                               pb::NodeStatus* out) override {
    if (auto g = Gate()) return *g;
    self->reconfigure_calls++;
    const pb::NodeSpec& spec = req->spec();
    if (!self->installed_version.empty() && spec.engine_version() != self->installed_version)
      return {grpc::StatusCode::INVALID_ARGUMENT, "engine_version '" + spec.engine_version() +
                                                      "' is not installed on this host"};
    if (self->refuse_maxmemory != 0 && spec.maxmemory_bytes() == self->refuse_maxmemory)
      return {grpc::StatusCode::FAILED_PRECONDITION, "CONFIG SET maxmemory refused"};
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, spec.node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "no node '" + spec.node_id() + "' on this host"};
    std::map<std::string, std::string> config(spec.config().begin(), spec.config().end());
    // A dynamic key the spec drops is refused, as the agent does (its default is not known).
    std::set<std::string> statics(req->static_keys().begin(), req->static_keys().end());
    if (!req->restart())
      for (const auto& [k, v] : n->config)
        if (!config.count(k) && !statics.count(k))
          return {grpc::StatusCode::FAILED_PRECONDITION,
                  "config '" + k + "' is removed; send the default value, or use restart=true"};
    n->hold_on_exit = spec.hold_on_exit();  // the agent persists the whole spec
    n->hold_max_ms = spec.hold_max_ms();
    const bool same = config == n->config && spec.engine_version() == n->engine_version &&
                      spec.maxmemory_bytes() == n->maxmemory;
    if (same && !(req->restart() && req->force_restart())) {
      *out = net.StatusOf(*n);
      return grpc::Status::OK;
    }
    n->config = config;
    n->engine_version = spec.engine_version();
    n->maxmemory = spec.maxmemory_bytes();
    if (n->exited) {  // the next start takes it
      *out = net.StatusOf(*n);
      return grpc::Status::OK;
    }
    if (req->restart()) {
      n->running = config;
      ++n->pid;
      net.restarts.push_back(n->node_id);
      if (n->role == "slave") n->polls_since_replicate = 0;
    } else {
      for (const auto& [k, v] : config)
        if (!statics.count(k)) n->running[k] = v;
    }
    *out = net.StatusOf(*n);
    return grpc::Status::OK;
  }

  grpc::Status Failover(grpc::ServerContext*, const pb::FailoverRequest* req,
                        pb::FailoverReply* out) override {
    if (auto g = Gate()) return *g;
    self->failover_calls++;
    if (self->failover_fail) return {grpc::StatusCode::UNAVAILABLE, "fake failover failure"};
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    if (n->exited) return {grpc::StatusCode::UNAVAILABLE, "node is down"};
    if (n->role == "master") {
      out->set_method("already primary");
      *out->mutable_status() = net.StatusOf(*n);
      return grpc::Status::OK;
    }
    FakeNode* m = n->cluster_enabled ? net.FindByClusterId(n->master_cluster_node_id)
                                     : net.FindByAddress(n->master_host, n->master_port);
    const bool coordinated = req->mode() == pb::FAILOVER_COORDINATED;
    if (coordinated && (!m || m->exited))
      return {grpc::StatusCode::FAILED_PRECONDITION,
              "Master is down or failed, please use CLUSTER FAILOVER FORCE"};
    std::string method;
    if (coordinated) {
      method = n->cluster_enabled ? "CLUSTER FAILOVER" : "FAILOVER";
    } else if (req->mode() == pb::FAILOVER_TAKEOVER) {
      method = n->cluster_enabled ? "TAKEOVER" : "REPLICAOF NO ONE";
    } else {
      method = n->cluster_enabled ? "FORCE" : "REPLICAOF NO ONE";
    }
    net.failover_methods.push_back(method);
    net.promotions.push_back(n->node_id);
    const std::string old_id = m ? m->cluster_node_id : std::string();
    const std::string old_host = m ? m->address : std::string();
    const uint32_t old_port = m ? m->port : 0;
    n->role = "master";
    n->master_cluster_node_id.clear();
    n->master_host.clear();
    n->master_port = 0;
    if (m) {
      if (n->cluster_enabled) {
        n->slots = m->slots;
        m->slots.clear();
        uint64_t epoch = 0;
        for (const auto& [id, x] : net.nodes) epoch = std::max(epoch, x.config_epoch);
        n->config_epoch = epoch + 1;
      }
      n->keys = m->keys;
      if (!m->exited || coordinated) {
        m->role = "slave";
        m->keys.clear();
        m->master_cluster_node_id = n->cluster_node_id;
        m->master_host = n->address;
        m->master_port = n->port;
        m->polls_since_replicate = 0;
      }
    }
    if (n->cluster_enabled) {
      for (auto& [id, x] : net.nodes) {
        if (&x == n || x.role != "slave" || x.master_cluster_node_id != old_id || old_id.empty())
          continue;
        x.master_cluster_node_id = n->cluster_node_id;
        x.master_host = n->address;
        x.master_port = n->port;
        x.polls_since_replicate = 0;
      }
    }
    (void)old_host;
    (void)old_port;
    out->set_method(method);
    out->set_elapsed_ms(1);
    *out->mutable_status() = net.StatusOf(*n);
    return grpc::Status::OK;
  }

  grpc::Status ReplicaOf(grpc::ServerContext*, const pb::ReplicaOfRequest* req, pb::Ack*) override {
    if (auto g = Gate()) return *g;
    auto& net = *self->net_;
    std::lock_guard lk(net.mu);
    FakeNode* n = Mine(net, req->node_id());
    if (!n) return {grpc::StatusCode::NOT_FOUND, "unknown node " + req->node_id()};
    if (n->cluster_enabled)
      return {grpc::StatusCode::FAILED_PRECONDITION, "REPLICAOF is not allowed in cluster mode"};
    if (req->master_host().empty()) {
      n->role = "master";
      return grpc::Status::OK;
    }
    if (n->role == "slave" && n->master_host == req->master_host() &&
        n->master_port == req->master_port())
      return grpc::Status::OK;
    n->role = "slave";
    n->master_host = req->master_host();
    n->master_port = req->master_port();
    n->polls_since_replicate = 0;
    return grpc::Status::OK;
  }
};

FakeAgent::FakeAgent(std::shared_ptr<FakeNetwork> net, std::string host_id, std::string address)
    : net_(std::move(net)),
      host_id_(std::move(host_id)),
      address_(std::move(address)),
      impl_(std::make_unique<Impl>()) {
  impl_->self = this;
}

FakeAgent::~FakeAgent() { Shutdown(); }

bool FakeAgent::Start() {
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &impl_->port);
  b.RegisterService(impl_.get());
  impl_->server = b.BuildAndStart();
  return impl_->server && impl_->port != 0;
}

void FakeAgent::Shutdown() {
  if (impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    impl_->server->Wait();
    impl_->server.reset();
  }
}

std::string FakeAgent::endpoint() const { return "127.0.0.1:" + std::to_string(impl_->port); }

void FakeAgent::SetPortBusy(uint32_t port) {
  std::lock_guard lk(impl_->busy_mu);
  impl_->busy_ports.insert(port);
}

}  // namespace cf::orchestrator::testing
