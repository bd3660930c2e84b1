// The HTTP front door: AWS Query protocol over HTTP/1.1 (Boost.Beast), SigV4 verification,
// ElastiCache XML envelopes. Pimpl: this header pulls in no Beast/Asio.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/result.h"
#include "orchestrator/api/api_types.h"

namespace cf::api {

struct ApiServerOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port; see ApiServer::port()
  int threads = 2;
  int max_clock_skew_s = 900;
  std::map<std::string, std::string> credentials;  // access key id -> secret access key
  size_t max_body_bytes = 1 << 20;
  // Served unsigned at GET /cachefleet/health as application/json (lab scripts and tests use it
  // to see that the orchestrator is up and which agents are registered). Optional.
  std::function<std::string()> health_json;
  // More unsigned, read-only JSON endpoints (e.g. "/cachefleet/operations"): exact path ->
  // callback that takes the raw query string ("" when none) and returns the body, served as
  // application/json with status 200 to GET only. Optional.
  std::map<std::string, std::function<std::string(const std::string& query)>> extra_get_json;
  // Added by the front door (defaults keep the behaviour described above):
  int idle_timeout_ms = 60'000;   // a connection may wait this long for (all of) a request
  int write_timeout_ms = 30'000;  // deadline for writing one response
  int stop_grace_ms = 2'000;      // Stop(): how long in-flight requests may take to finish
};

class ApiServer {
 public:
  ApiServer(ApiServerOptions options, const Dispatcher& dispatcher);
  ~ApiServer();  // stops if running
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving on background threads. Fails if the address cannot be bound.
  Status Start();
  // The bound port (valid after Start).
  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish for up to 2 s, joins the threads.
  // (Grace is options.stop_grace_ms. Idle keep-alive connections close at once. Do not call
  // from an action handler: it joins the thread that handler runs on. Start() may follow.)
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::api
