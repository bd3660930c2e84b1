// FakeFleet: THE fixture of the orchestrator's operation tests. Three in-process fake agents
// (host-a/b/c in AZs lab-a/b/c, ports from 30000/31000/32000; fake_agent.h) and the App
// (app.h) that main.cc builds, over a store in a temp directory, with the real parameter
// catalog (configs/parameter_groups.yaml) and the real gRPC agent client. The App neither
// listens nor runs its background loops: tests call the dispatcher (Call) and drive the loops
// (app().failover().monitor.ScanOnce(), ...). A test that wants another config overrides
// Configure(); NewApp() is a new "process" over the same store (a restart).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/app.h"
#include "orchestrator/store/store.h"
#include "orchestrator/testing/fake_agent.h"
#include "orchestrator/testing/test_support.h"

namespace cf::orchestrator::testing {

class FakeFleet : public ::testing::Test {
 protected:
  using Params = std::map<std::string, std::string>;

  void SetUp() override;
  void TearDown() override;

  // The test's config changes (on top of TestConfig()), before anything starts.
  virtual void Configure(OrchestratorConfig& cfg) { (void)cfg; }
  // A new App over the same store (the hosts registered), opened, not started; the old one
  // (orch_) is stopped and destroyed first.
  void NewApp();
  // Starts the App (the runner resumes every unfinished operation).
  void StartApp();
  // NewApp + StartApp: an orchestrator restart.
  void Restart() {
    NewApp();
    StartApp();
  }
  // Crash tests: the handler the feature registered for `kind`, and a start with `h` in its
  // place for `kinds` (until the next NewApp).
  OperationHandler& Handler(OpKind kind) { return *orch_->FeatureHandler(kind); }
  void StartWith(std::initializer_list<OpKind> kinds, OperationHandler* h) {
    for (OpKind k : kinds) orch_->SetHandler(k, h);
    StartApp();
  }
  App& app() { return *orch_; }
  Store& store() { return orch_->store(); }

  // One API call; the answer goes into a "Result" child of `out` (a scratch document if null).
  std::optional<api::ApiError> Call(const std::string& action, const Params& p,
                                    pugi::xml_document* out = nullptr);
  // One API call into doc_ (reset first): "ok" or "<fault code>/<http status>".
  std::string CallCode(const std::string& action, const Params& p);
  // CreateReplicationGroup, then waits until the group is `available` and settled.
  void Create(const Params& p) {
    ASSERT_FALSE(Call("CreateReplicationGroup", p));
    ASSERT_TRUE(WaitFor(p.at("ReplicationGroupId"), "available"));
  }
  // Polls until the group has `status` (gone: "") and, when `settled`, no operation is
  // unfinished.
  bool WaitFor(const std::string& id, const std::string& status, int timeout_ms = 10000,
               bool settled = true);
  bool WaitUntil(const std::function<bool()>& pred, int timeout_ms = 10000);
  GroupView View(const std::string& id) { return **store().GetGroup(id); }
  // A heartbeat: the fake agents' view of every node of the group into the store.
  void Heartbeat(const std::string& group);
  // The messages of the events of `source`, in order.
  std::vector<std::string> EventMessages(const std::string& source);
  size_t FakeNodes();
  // The maxmemory the fake nodes of the group run with.
  std::set<uint64_t> FakeMaxmemory(const std::string& group);
  // Every host takes at most `max_nodes` nodes (HostRecord::max_nodes).
  void LimitHosts(int max_nodes);

  TempDir dir_;
  OrchestratorConfig cfg_;
  ParameterCatalog catalog_;
  // The redis versions each host reports (host-a, -b, -c).
  std::vector<std::vector<std::string>> versions_ = {{"7.0.15"}, {"7.0.15"}, {"7.0.15"}};
  std::shared_ptr<FakeNetwork> net_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
  std::unique_ptr<App> orch_;
  pugi::xml_document doc_;  // CallCode's answer, under "Result"
};

}  // namespace cf::orchestrator::testing
