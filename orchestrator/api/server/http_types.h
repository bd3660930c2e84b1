// Plain HTTP request/response values passed between the network session (http_session.cc,
// the only place with Beast) and the request handler (request_handler.cc, no I/O).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cf::api {

struct HttpRequestIn {
  std::string method;  // "POST"
  std::string target;  // "/", "/cachefleet/health", possibly with "?query"
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string body;
};

struct HttpResponseOut {
  int status = 200;
  std::string content_type = "text/xml";
  std::string body;
  std::string request_id;  // sent as x-amzn-RequestId when non-empty
  // For the access log only.
  std::string action;      // "" when not an API call or not decoded
  std::string error_code;  // "" on success
};

}  // namespace cf::api
