#include "orchestrator/api/server/api_server.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.h"
#include "orchestrator/api/server/http_listener.h"
#include "orchestrator/api/server/request_handler.h"

namespace cf::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct ApiServer::Impl {
  Impl(ApiServerOptions opts, const Dispatcher& dispatcher)
      : options(std::move(opts)), handler(options, dispatcher) {}

  // Waits until every io thread has returned from run() or `timeout` passes.
  bool WaitThreadsIdle(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, timeout, [this] { return running_threads == 0; });
  }

  const ApiServerOptions options;
  const RequestHandler handler;
  // Set by Start, reset by Stop (Start/Stop are not called concurrently).
  std::unique_ptr<net::io_context> ioc;
  std::shared_ptr<HttpListener> listener;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::string name;  // "127.0.0.1:8080", the log entity
  bool started = false;

  std::mutex mu;
  std::condition_variable cv;
  int running_threads = 0;  // guarded by mu
};

ApiServer::ApiServer(ApiServerOptions options, const Dispatcher& dispatcher)
    : impl_(std::make_unique<Impl>(std::move(options), dispatcher)) {}

ApiServer::~ApiServer() { Stop(); }

uint16_t ApiServer::port() const { return impl_->port; }

Status ApiServer::Start() {
  Impl& s = *impl_;
  auto log = Logger("api");
  if (s.started) return MakeError(Errc::kFailedPrecondition, "API server already started");

  auto ioc = std::make_unique<net::io_context>(std::max(1, s.options.threads));
  boost::system::error_code ec;
  tcp::resolver resolver(*ioc);
  auto endpoints = resolver.resolve(s.options.listen_host, std::to_string(s.options.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return MakeError(Errc::kInvalidArgument, "cannot resolve API listen host '" +
                                                 s.options.listen_host + "': " + ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor acceptor(net::make_strand(*ioc));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable, "cannot listen on " + s.options.listen_host + ":" +
                                             std::to_string(s.options.port) + ": " + ec.message());
  }
  s.port = acceptor.local_endpoint().port();

  SessionLimits limits;
  limits.max_body_bytes = s.options.max_body_bytes;
  limits.idle_timeout = std::chrono::milliseconds(s.options.idle_timeout_ms);
  limits.write_timeout = std::chrono::milliseconds(s.options.write_timeout_ms);
  s.listener = std::make_shared<HttpListener>(*ioc, std::move(acceptor), s.handler, limits);
  net::co_spawn(s.listener->executor(), s.listener->Run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      Logger("api")->error("[http] accept loop failed: {}", ex.what());
    } catch (...) {
      Logger("api")->error("[http] accept loop failed");
    }
  });

  s.ioc = std::move(ioc);
  const int n = std::max(1, s.options.threads);
  {
    std::lock_guard lk(s.mu);
    s.running_threads = n;
  }
  for (int i = 0; i < n; ++i) {
    s.threads.emplace_back([&s, io = s.ioc.get()] {
      for (;;) {
        try {
          io->run();
          break;
        } catch (const std::exception& e) {
          // Handlers catch their own exceptions; keep serving if one slips through.
          Logger("api")->error("[http] io thread caught: {}", e.what());
        }
      }
      std::lock_guard lk(s.mu);
      if (--s.running_threads == 0) s.cv.notify_all();
    });
  }
  s.started = true;
  s.name = endpoint.address().to_string() + ":" + std::to_string(s.port);
  log->info("[{}] listening ({} threads)", s.name, n);
  return {};
}

void ApiServer::Stop() {
  Impl& s = *impl_;
  if (!s.started) return;
  auto log = Logger("api");
  // 1. No new connections; idle keep-alive connections close now, busy ones after their
  //    response. The io threads return from run() once everything has drained.
  s.listener->Close();
  s.listener->ShutdownSessions(/*force=*/false);
  if (!s.WaitThreadsIdle(std::chrono::milliseconds(std::max(0, s.options.stop_grace_ms)))) {
    // 2. Grace period over: cut the remaining connections.
    log->warn("[{}] requests still running after {} ms; closing their connections", s.name,
              s.options.stop_grace_ms);
    s.listener->ShutdownSessions(/*force=*/true);
    if (!s.WaitThreadsIdle(std::chrono::milliseconds(500))) s.ioc->stop();
  }
  // A handler that never returns would block here; handlers must honour their own deadlines.
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.listener.reset();
  s.ioc.reset();
  s.started = false;
  log->info("[{}] stopped", s.name);
}

}  // namespace cf::api
