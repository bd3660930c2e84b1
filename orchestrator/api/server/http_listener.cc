#include "orchestrator/api/server/http_listener.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <vector>

#include "common/log.h"

namespace cf::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;

HttpListener::HttpListener(net::io_context& ioc, tcp::acceptor acceptor,
                           const RequestHandler& handler, SessionLimits limits)
    : ioc_(ioc), acceptor_(std::move(acceptor)), handler_(handler), limits_(limits) {}

net::awaitable<void> HttpListener::Run() {
  auto log = Logger("api");
  for (;;) {
    boost::system::error_code ec;
    // Each connection gets its own strand so that its timer and I/O handlers never run
    // concurrently on the io_context's threads.
    tcp::socket socket = co_await acceptor_.async_accept(
        net::any_io_executor(net::make_strand(ioc_)), net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning.
      log->warn("[http] accept failed: {}", ec.message());
      net::steady_timer t(acceptor_.get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    StartSession(std::move(socket));
  }
  log->debug("[http] accept loop ended");
}

void HttpListener::StartSession(tcp::socket socket) {
  auto session = std::make_shared<HttpSession>(std::move(socket), handler_, limits_);
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;  // closes the socket
    sessions_.emplace(session.get(), session);
  }
  // The completion handler owns the session, keeping it alive until the coroutine ends.
  net::co_spawn(session->executor(), session->Run(),
                [self = shared_from_this(), session](std::exception_ptr e) {
                  if (e) {
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                      Logger("api")->error("[http] session ended with an exception: {}", ex.what());
                    } catch (...) {
                      Logger("api")->error("[http] session ended with a non-std exception");
                    }
                  }
                  self->Forget(session.get());
                });
}

void HttpListener::Forget(const HttpSession* session) {
  std::lock_guard lk(mu_);
  sessions_.erase(session);
}

void HttpListener::Close() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
}

void HttpListener::ShutdownSessions(bool force) {
  std::vector<std::shared_ptr<HttpSession>> live;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    for (auto& [ptr, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->Shutdown(force);
}

}  // namespace cf::api
