#include "orchestrator/tests/fake_agent.h"

#include <grpcpp/grpcpp.h>

#include <optional>
#include <random>

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

size_t FakeNetwork::NodesOn(const std::string& host_id) const {
  size_t c = 0;
  for (const auto& [id, n] : nodes) c += n.host_id == host_id ? 1 : 0;
  return c;
}

pb::NodeStatus FakeNetwork::StatusOf(FakeNode& n) {
  pb::NodeStatus s;
  s.set_node_id(n.node_id);
  s.set_port(n.port);
  s.set_state(pb::NODE_RUNNING);
  s.set_pid(1000);
  s.set_role(n.role);
  s.set_redis_version("7.0.15");
  s.set_maxmemory(n.maxmemory);
  if (n.role == "slave") {
    ++n.polls_since_replicate;
    s.set_master_link_up(n.polls_since_replicate > link_up_after_polls);
    s.set_master_host(n.master_host);
    s.set_master_port(n.master_port);
    s.set_master_cluster_node_id(n.master_cluster_node_id);
  }
  if (!n.cluster_enabled) return s;
  s.set_cluster_node_id(n.cluster_node_id);
  AddRanges(s.mutable_slots(), n.slots);
  auto comp = ComponentOf(n.node_id);
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
