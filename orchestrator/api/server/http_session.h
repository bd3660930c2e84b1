// One HTTP/1.1 connection: a coroutine reads a request, hands it to the RequestHandler (which
// does no I/O), writes the response, and repeats while the client keeps the connection alive.
// Internal to cf_api (pulls in Beast/Asio); include only from .cc files of this directory.
//
// Threading: the socket's executor is a strand; Run() and everything Shutdown() posts execute
// on it, so the members below need no lock. The handler runs on the strand too (blocking it
// only delays this connection).
//
// Lifecycle: Run() ends when the client closes, on an idle/read timeout, on a read or write
// error, after a response with "Connection: close", after a request that could not be read
// (413/400 are sent first), or after Shutdown(). Shutdown(force=false) closes the connection
// now if it is waiting for a request and otherwise right after the response in progress;
// force=true closes it immediately.
#pragma once

// First: Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstddef>
#include <memory>

#include "orchestrator/api/server/http_types.h"

namespace cf::api {

class RequestHandler;

struct SessionLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `socket` must be bound to a strand executor; `handler` must outlive the session.
  HttpSession(boost::asio::ip::tcp::socket socket, const RequestHandler& handler,
              SessionLimits limits);

  // The connection loop. Keep the session alive (shared_ptr) until it completes.
  boost::asio::awaitable<void> Run();
  // Thread-safe; see the lifecycle note above.
  void Shutdown(bool force);
  // The connection's strand.
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  boost::asio::awaitable<void> Write(HttpResponseOut out, unsigned http_version, bool keep_alive,
                                     boost::beast::error_code& ec);
  // After answering a request we could not read: stop sending, then read and discard what the
  // client is still sending (bounded in bytes and time) so that closing does not reset the
  // connection before the client has read the answer.
  boost::asio::awaitable<void> LingeringClose();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  const RequestHandler& handler_;
  const SessionLimits limits_;
  bool busy_ = false;  // a request is being handled or answered (strand only)
  // Set by Shutdown() from any thread, so that a response being prepared right now already
  // says "Connection: close".
  std::atomic<bool> stopping_{false};
};

}  // namespace cf::api
