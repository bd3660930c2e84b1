// Turns one HTTP request into one HTTP response: routing, SigV4, form decoding, dispatch to the
// action handler, XML envelope. Does no network I/O (STYLE.md #2); the session feeds it
// complete requests. Thread-safe: Handle() is const and may run on several threads at once
// (the Dispatcher and the options are read-only after construction).
//
// Routing:
//   POST /                  -> the AWS Query API (the only signed endpoint)
//   GET  /cachefleet/health -> options.health_json() as application/json, unsigned
//                              (404 XML error when health_json is not set)
//   GET  <path in options.extra_get_json> -> that callback(query string) as application/json,
//                              unsigned
//   other path              -> 404 XML error (NotFound)
//   other method on "/"     -> 400 XML error (InvalidHttpRequest)
//
// API call checks, in order: no query string (400 InvalidQueryParameter); Content-Type, when
// sent, is application/x-www-form-urlencoded (400 InvalidQueryParameter); SigV4 (see sigv4.h);
// form decoding and list numbering (form_decoder.h); Action present (400 MissingAction);
// Version absent or 2015-02-02 (400 InvalidParameterValue); Dispatcher::Dispatch (400
// InvalidAction for unknown actions, 500 InternalFailure when a handler throws).
#pragma once

#include <cstdint>
#include <string>

#include "orchestrator/api/server/api_server.h"
#include "orchestrator/api/api_types.h"
#include "orchestrator/api/server/http_types.h"

namespace cf::api {

inline constexpr char kApiVersion[] = "2015-02-02";
inline constexpr char kHealthPath[] = "/cachefleet/health";

class RequestHandler {
 public:
  // `dispatcher` must outlive the handler; `options` is copied.
  RequestHandler(const ApiServerOptions& options, const Dispatcher& dispatcher);

  // Handles a complete request; `now_epoch_s` is the server clock for the SigV4 skew check.
  HttpResponseOut Handle(const HttpRequestIn& req, int64_t now_epoch_s) const;
  // Handle() with the system clock.
  HttpResponseOut Handle(const HttpRequestIn& req) const;

  // An XML error response with a fresh request id (also used by the session for requests it
  // could not read, e.g. a body over the limit).
  static HttpResponseOut ErrorResponse(const ApiError& error);

 private:
  HttpResponseOut HandleApiCall(const HttpRequestIn& req, std::string_view query,
                                int64_t now_epoch_s) const;

  ApiServerOptions options_;
  const Dispatcher& dispatcher_;
};

}  // namespace cf::api
