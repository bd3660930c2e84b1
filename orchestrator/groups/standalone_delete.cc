#include "orchestrator/groups/standalone_delete.h"

#include <chrono>
#include <functional>

#include "common/log.h"
#include "orchestrator/api/xml_util.h"
#include "orchestrator/core/query_params.h"
#include "orchestrator/groups/cache_cluster_frontend.h"
#include "orchestrator/groups/standalone_store.h"
#include "orchestrator/store/store.h"
#include "orchestrator/core/faults.h"

namespace cf::orchestrator {
namespace {

using api::ApiError;

}  // namespace

// ---- DeleteCacheCluster -----------------------------------------------------------------------

void StandaloneFrontend::Register(api::Dispatcher& d) {
  d.Register("DeleteCacheCluster", [this](const api::ApiRequest& r, pugi::xml_node n) {
    return DeleteCacheCluster(r, n);
  });
}

std::optional<ApiError> StandaloneFrontend::DeleteCacheCluster(const api::ApiRequest& req,
                                                               pugi::xml_node result) {
  if (auto e = settings::RejectUnknown(
          req.params, {{"CacheClusterId", false}, {"FinalSnapshotIdentifier", false}}))
    return *e;
  auto raw = req.params.Get("CacheClusterId");
  if (!raw || raw->empty()) return api::MissingParameter("CacheClusterId");
  auto checked = NormalizeCacheClusterId(*raw);
  if (auto* e = std::get_if<ApiError>(&checked)) return *e;
  const std::string id = std::get<std::string>(checked);
  if (req.params.Get("FinalSnapshotIdentifier"))
    return api::InvalidParameterValue(
        "FinalSnapshotIdentifier is not supported by cachefleet yet (there are no snapshots); "
        "delete the cache cluster without it.");
  // The row as it is before the change (the reaper may delete it right after the commit).
  auto all = store_.ListStandaloneClusters();
  if (!all) return faults::StoreFailure(all.error());
  std::optional<StandaloneCluster> c;
  for (const auto& x : *all)
    if (x.cluster_id == id) c = x;
  auto begun = StandaloneStoreOf(store_).BeginDeleteStandalone(id, "Deleting cache cluster " + id);
  if (!begun) {
    const Error& e = begun.error();
    if (e.code == Errc::kNotFound)
      return faults::CacheClusterNotFound(id);
    if (e.code == Errc::kFailedPrecondition)
      return ApiError{400, "InvalidCacheClusterState", e.message};
    return faults::StoreFailure(e);
  }
  if (!c)
    return faults::StoreFailure(MakeError(Errc::kInternal, "cache cluster " + id + " changed"));
  c->status = "deleting";
  ReplicationGroupRecord g;
  NodeRecord n;
  StandaloneRenderRecords(*c, g, n);
  ClusterRenderInput in;
  in.group = &g;
  in.node = &n;
  in.standalone = true;
  if (auto h = store_.GetHost(n.host_id); h && *h) in.endpoint_address = (*h)->address;
  RenderCacheCluster(in, config_, result.append_child("CacheCluster"));
  Logger("api")->info("[{}] DeleteCacheCluster accepted (host {}, port {})", id, n.host_id, n.port);
  if (poke_) poke_();
  return std::nullopt;
}

// ---- the reaper -------------------------------------------------------------------------------

StandaloneReaper::~StandaloneReaper() { Stop(); }

void StandaloneReaper::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void StandaloneReaper::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StandaloneReaper::Poke() {
  ++pokes_;
  {
    std::lock_guard lk(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void StandaloneReaper::Loop() {
  while (!stop_) {
    RunOnce();
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(1000), [this] { return poked_ || stop_.load(); });
    poked_ = false;
  }
}

int StandaloneReaper::RunOnce() {
  auto log = Logger("ops");
  auto list = store_.ListStandaloneClusters();
  if (!list) {
    log->warn("cannot list standalone cache clusters: {}", list.error().message);
    return 0;
  }
  int done = 0;
  for (const auto& c : *list) {
    if (stop_) break;
    if (c.status != "deleting") continue;
    auto fail = [&](const std::string& msg) {
      if (last_error_[c.cluster_id] != msg)
        log->warn("[{}] deleting the standalone cache cluster: {} (retrying)", c.cluster_id, msg);
      last_error_[c.cluster_id] = msg;
    };
    auto host = store_.GetHost(c.host_id);
    if (!host) {
      fail(host.error().message);
      continue;
    }
    if (!*host) {
      fail("host " + c.host_id + " is not registered");
      continue;
    }
    pb::StopNodeRequest req;
    req.set_node_id(c.cluster_id);
    req.set_purge_data(true);
    req.set_grace_ms(static_cast<uint32_t>(config_.operations.stop_grace_ms));
    auto r = agents_.StopNode(
        AgentTarget{(*host)->host_id, (*host)->agent_endpoint}, req,
        config_.operations.stop_grace_ms + config_.operations.agent_rpc_timeout_ms);
    if (!r) {
      fail("StopNode: " + r.error().message);
      continue;
    }
    if (auto st = StandaloneStoreOf(store_).CompleteDeleteStandalone(
            c.cluster_id, "Cache cluster " + c.cluster_id + " deleted");
        !st) {
      fail(st.error().message);
      continue;
    }
    last_error_.erase(c.cluster_id);
    log->info("[{}] standalone cache cluster deleted (redis-server on {}:{} {}; port freed)",
              c.cluster_id, c.host_id, c.port, r->existed() ? "stopped" : "was already gone");
    ++done;
  }
  return done;
}

}  // namespace cf::orchestrator
