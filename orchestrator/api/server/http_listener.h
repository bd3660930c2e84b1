// Accepts TCP connections and starts one HttpSession coroutine per connection, each on its own
// strand. Internal to cf_api (pulls in Asio); include only from .cc files of this directory.
//
// Lifecycle: construct with a bound, listening acceptor (its executor a strand); co_spawn Run();
// Close() ends the accept loop; ShutdownSessions() asks every live session to stop (see
// HttpSession::Shutdown). Run() and the sessions complete on their own afterwards, so the
// io_context runs out of work once everything has drained.
#pragma once

// First: Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <memory>
#include <mutex>

#include "orchestrator/api/server/http_session.h"

namespace cf::api {

class RequestHandler;

class HttpListener : public std::enable_shared_from_this<HttpListener> {
 public:
  HttpListener(boost::asio::io_context& ioc, boost::asio::ip::tcp::acceptor acceptor,
               const RequestHandler& handler, SessionLimits limits);

  // The accept loop; returns after Close().
  boost::asio::awaitable<void> Run();
  // Stops accepting. Thread-safe.
  void Close();
  // The acceptor's strand: spawn Run() on it.
  boost::asio::any_io_executor executor() { return acceptor_.get_executor(); }
  // Stops every live session and any accepted later. Thread-safe.
  void ShutdownSessions(bool force);

 private:
  void StartSession(boost::asio::ip::tcp::socket socket);
  void Forget(const HttpSession* session);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;  // used on its strand only
  const RequestHandler& handler_;
  const SessionLimits limits_;

  std::mutex mu_;
  std::map<const HttpSession*, std::weak_ptr<HttpSession>> sessions_;  // guarded by mu_
  bool stopping_ = false;                                              // guarded by mu_
};

}  // namespace cf::api
