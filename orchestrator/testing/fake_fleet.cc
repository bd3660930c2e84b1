#include "orchestrator/testing/fake_fleet.h"

#include "orchestrator/fleet/agent_client.h"
#include "orchestrator/fleet/formation_checks.h"

namespace cf::orchestrator::testing {

void FakeFleet::SetUp() {
  cfg_ = TestConfig();
  cfg_.store_path = dir_.file("orch.db");
  Configure(cfg_);
  auto cat = LoadParameterCatalog(std::string(CF_SOURCE_DIR) + "/configs/parameter_groups.yaml");
  ASSERT_TRUE(cat.ok()) << cat.error().message;
  catalog_ = *cat;
  net_ = std::make_shared<FakeNetwork>();
  for (int i = 0; i < 3; ++i) {
    std::string id = std::string("host-") + static_cast<char>('a' + i);
    agents_.push_back(std::make_unique<FakeAgent>(net_, id, "127.0.0.1"));
    ASSERT_TRUE(agents_.back()->Start());
  }
  NewApp();
}

void FakeFleet::TearDown() {
  for (auto& a : agents_) a->move_paused = false;
  orch_.reset();
}

void FakeFleet::NewApp() {
  orch_.reset();
  AppOptions opts;
  opts.serve = false;
  opts.run_loops = false;
  orch_ = std::make_unique<App>(cfg_, catalog_, MakeGrpcAgentApi(), opts);
  ASSERT_TRUE(orch_->Open().ok());
  const char* azs[] = {"lab-a", "lab-b", "lab-c"};
  for (int i = 0; i < 3; ++i) {
    auto h = TestHost(agents_[i]->host_id(), azs[i], 30000 + 1000 * i, agents_[i]->endpoint());
    h.redis_versions = versions_[i];
    ASSERT_TRUE(store().UpsertHost(h).ok());
  }
}

void FakeFleet::StartApp() { ASSERT_TRUE(orch_->Start().ok()); }

std::optional<api::ApiError> FakeFleet::Call(const std::string& action, const Params& p,
                                             pugi::xml_document* out) {
  return CallApi(orch_->dispatcher(), action, p, out);
}

std::string FakeFleet::CallCode(const std::string& action, const Params& p) {
  doc_.reset();
  auto e = CallApi(orch_->dispatcher(), action, p, &doc_);
  return e ? e->code + "/" + std::to_string(e->http_status) : "ok";
}

bool FakeFleet::WaitFor(const std::string& id, const std::string& status, int timeout_ms,
                        bool settled) {
  return WaitUntil(
      [&] {
        auto g = store().GetGroup(id);
        if (!g.ok()) return false;
        if (status.empty()) return !*g;
        return *g && GroupStatusName((*g)->group.status) == status &&
               (!settled || store().ListUnfinishedOperations()->empty());
      },
      timeout_ms);
}

bool FakeFleet::WaitUntil(const std::function<bool()>& pred, int timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

void FakeFleet::Heartbeat(const std::string& group) {
  GroupView v = View(group);
  std::lock_guard lk(net_->mu);
  for (const auto& n : v.nodes) {
    auto& f = net_->nodes.at(n.node_id);
    ASSERT_TRUE(
        store().RecordObservations(n.host_id, {{n.node_id, ToObserved(net_->StatusOf(f), NowMs())}})
            .ok());
  }
}

std::vector<std::string> FakeFleet::EventMessages(const std::string& source) {
  std::vector<std::string> out;
  auto events = store().ListEvents(source);
  if (!events.ok()) return out;
  for (const auto& e : *events) out.push_back(e.message);
  return out;
}

size_t FakeFleet::FakeNodes() {
  std::lock_guard lk(net_->mu);
  return net_->nodes.size();
}

std::set<uint64_t> FakeFleet::FakeMaxmemory(const std::string& group) {
  std::set<uint64_t> out;
  std::lock_guard lk(net_->mu);
  for (const auto& n : View(group).nodes) out.insert(net_->nodes.at(n.node_id).maxmemory);
  return out;
}

void FakeFleet::LimitHosts(int max_nodes) {
  for (auto& a : agents_) {
    auto h = *store().GetHost(a->host_id());
    h->max_nodes = max_nodes;
    ASSERT_TRUE(store().UpsertHost(*h).ok());
  }
}

}  // namespace cf::orchestrator::testing
