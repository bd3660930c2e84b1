#include "orchestrator/api/server/http_session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <exception>

#include "common/log.h"
#include "orchestrator/api/server/request_handler.h"

namespace cf::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

HttpRequestIn ToRequestIn(http::request<http::string_body>&& req) {
  HttpRequestIn in;
  in.method = std::string(req.method_string());
  in.target = std::string(req.target());
  for (const auto& field : req) {
    in.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  in.body = std::move(req.body());
  return in;
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

HttpSession::HttpSession(tcp::socket socket, const RequestHandler& handler, SessionLimits limits)
    : stream_(std::move(socket)), handler_(handler), limits_(limits) {}

void HttpSession::Shutdown(bool force) {
  stopping_ = true;
  net::post(stream_.get_executor(), [self = shared_from_this(), force] {
    if (force || !self->busy_) self->stream_.close();  // cancels a pending read or write
  });
}

net::awaitable<void> HttpSession::Run() {
  auto log = Logger("api");
  beast::error_code ec;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(limits_.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    stream_.expires_after(limits_.idle_timeout);
    co_await http::async_read_header(stream_, buffer_, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      // curl sends this for bodies over 1 KiB and otherwise waits a second before sending.
      http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
      co_await http::async_write(stream_, go_on, net::redirect_error(net::use_awaitable, ec));
    }
    if (!ec && !parser.is_done()) {
      co_await http::async_read(stream_, buffer_, parser,
                                net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) {
      // A request we cannot read gets an answer when the client is still listening; the
      // connection is closed afterwards because the rest of the stream cannot be parsed.
      std::optional<ApiError> error;
      if (ec == http::error::body_limit) {
        error = ApiError{
            413, "RequestEntityTooLarge",
            "The request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes."};
      } else if (ec == http::error::header_limit) {
        error = ApiError{431, "RequestHeaderFieldsTooLarge", "The request headers are too large."};
      } else if (IsHttpParseError(ec)) {
        error = ApiError{400, "InvalidHttpRequest", "Malformed HTTP request: " + ec.message()};
      }
      if (error && !stopping_) {
        busy_ = true;
        log->debug("[http] unreadable request: {}", ec.message());
        beast::error_code wec;
        co_await Write(RequestHandler::ErrorResponse(*error), 11, false, wec);
        busy_ = false;
        if (!wec) co_await LingeringClose();
      }
      break;
    }

    busy_ = true;
    stream_.expires_never();  // the handler's time is not the client's fault
    const auto started = std::chrono::steady_clock::now();
    http::request<http::string_body> req = parser.release();
    const unsigned version = req.version();
    const bool client_keep_alive = req.keep_alive();
    HttpRequestIn in = ToRequestIn(std::move(req));
    HttpResponseOut out;
    try {
      out = handler_.Handle(in);
    } catch (const std::exception& e) {
      // RequestHandler itself catches handler exceptions; this is the last line of defence.
      log->error("[http] request handler threw: {}", e.what());
      out = RequestHandler::ErrorResponse(InternalFailure("An internal error occurred."));
    }
    const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count();
    const std::string what = out.action.empty() ? in.method + " " + in.target : out.action;
    if (out.status >= 500) {
      log->warn("[{}] {} {} in {} ms (request {})", what, out.status, out.error_code, elapsed_ms,
                out.request_id);
    } else if (log->should_log(spdlog::level::debug)) {
      log->debug("[{}] {}{}{} in {} ms", what, out.status, out.error_code.empty() ? "" : " ",
                 out.error_code, elapsed_ms);
    }
    const bool keep_alive = client_keep_alive && !stopping_;
    co_await Write(std::move(out), version, keep_alive, ec);
    busy_ = false;
    if (ec || !keep_alive) break;
  }
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.close();
}

net::awaitable<void> HttpSession::Write(HttpResponseOut out, unsigned http_version, bool keep_alive,
                                        beast::error_code& ec) {
  http::response<http::string_body> res{static_cast<http::status>(out.status), http_version};
  res.set(http::field::server, "cachefleet");
  res.set(http::field::content_type, out.content_type);
  if (!out.request_id.empty()) res.set("x-amzn-RequestId", out.request_id);
  res.keep_alive(keep_alive);
  res.body() = std::move(out.body);
  res.prepare_payload();
  stream_.expires_after(limits_.write_timeout);
  co_await http::async_write(stream_, res, net::redirect_error(net::use_awaitable, ec));
}

net::awaitable<void> HttpSession::LingeringClose() {
  constexpr auto kLinger = std::chrono::seconds(2);
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  const size_t budget = 4 * limits_.max_body_bytes + 64 * 1024;
  size_t drained = 0;
  char scratch[16 * 1024];
  stream_.expires_after(kLinger);
  while (drained < budget && !stopping_) {
    const size_t n = co_await stream_.async_read_some(net::buffer(scratch),
                                                      net::redirect_error(net::use_awaitable, ec));
    if (ec) break;  // EOF, timeout or reset: done either way
    drained += n;
  }
}

}  // namespace cf::api
