#include "orchestrator/api/server/request_handler.h"

#include <chrono>
#include <exception>

#include "common/log.h"
#include "orchestrator/api/form_decoder.h"
#include "orchestrator/api/request_id.h"
#include "orchestrator/api/sigv4.h"
#include "orchestrator/api/xml_envelope.h"
#include "orchestrator/api/xml_util.h"

namespace cf::api {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

const std::string* FindHeader(const HttpRequestIn& req, std::string_view lower_name) {
  for (const auto& [name, value] : req.headers) {
    if (Lower(name) == lower_name) return &value;
  }
  return nullptr;
}

bool IsFormContentType(std::string_view ct) {
  const std::string media = Lower(ct.substr(0, ct.find(';')));
  size_t b = media.find_first_not_of(" \t");
  size_t e = media.find_last_not_of(" \t");
  return b != std::string::npos &&
         media.substr(b, e - b + 1) == "application/x-www-form-urlencoded";
}

}  // namespace

RequestHandler::RequestHandler(const ApiServerOptions& options, const Dispatcher& dispatcher)
    : options_(options), dispatcher_(dispatcher) {}

HttpResponseOut RequestHandler::ErrorResponse(const ApiError& error) {
  HttpResponseOut out;
  out.status = error.http_status;
  out.request_id = NewRequestId();
  out.body = ErrorEnvelope(error, out.request_id);
  out.error_code = error.code;
  return out;
}

HttpResponseOut RequestHandler::Handle(const HttpRequestIn& req) const {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return Handle(req, std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

HttpResponseOut RequestHandler::Handle(const HttpRequestIn& req, int64_t now_epoch_s) const {
  const size_t qmark = req.target.find('?');
  const std::string_view path = std::string_view(req.target).substr(0, qmark);
  const std::string_view query = qmark == std::string::npos
                                     ? std::string_view()
                                     : std::string_view(req.target).substr(qmark + 1);

  if (path == kHealthPath) {
    if (req.method != "GET") {
      return ErrorResponse({400, "InvalidHttpRequest", "Use GET for " + std::string(kHealthPath)});
    }
    if (!options_.health_json) {
      return ErrorResponse({404, "NotFound", "No health endpoint is configured."});
    }
    HttpResponseOut out;
    try {
      out.body = options_.health_json();
    } catch (const std::exception& e) {
      Logger("api")->error("[health] health_json threw: {}", e.what());
      return ErrorResponse(InternalFailure("The health callback failed."));
    }
    out.content_type = "application/json";
    return out;
  }
  if (auto it = options_.extra_get_json.find(std::string(path));
      it != options_.extra_get_json.end()) {
    if (req.method != "GET") {
      return ErrorResponse({400, "InvalidHttpRequest", "Use GET for " + std::string(path)});
    }
    HttpResponseOut out;
    try {
      out.body = it->second(std::string(query));
    } catch (const std::exception& e) {
      Logger("api")->error("[{}] callback threw: {}", path, e.what());
      return ErrorResponse(InternalFailure("The " + std::string(path) + " callback failed."));
    }
    out.content_type = "application/json";
    return out;
  }
  if (path != "/") {
    return ErrorResponse(
        {404, "NotFound", "No such resource: " + SanitizeXmlText(path) + ". The API is POST /."});
  }
  if (req.method != "POST") {
    return ErrorResponse(
        {400, "InvalidHttpRequest",
         "Only POST / with an application/x-www-form-urlencoded body is supported."});
  }
  HttpResponseOut out = HandleApiCall(req, query, now_epoch_s);
  return out;
}

HttpResponseOut RequestHandler::HandleApiCall(const HttpRequestIn& req, std::string_view query,
                                              int64_t now_epoch_s) const {
  if (!query.empty()) {
    return ErrorResponse(InvalidQueryParameter(
        "Query-string parameters are not supported; send the parameters in the POST body."));
  }
  if (const std::string* ct = FindHeader(req, "content-type"); ct && !IsFormContentType(*ct)) {
    return ErrorResponse(
        InvalidQueryParameter("Content-Type must be application/x-www-form-urlencoded, not '" +
                              SanitizeXmlText(*ct) + "'."));
  }

  SigV4Request sreq;
  sreq.method = req.method;
  sreq.path = "/";
  sreq.headers = req.headers;
  sreq.body = req.body;
  SigV4Options sopts;
  sopts.max_clock_skew_s = options_.max_clock_skew_s;
  const auto& credentials = options_.credentials;
  auto auth = VerifySigV4(
      sreq,
      [&credentials](const std::string& akid) -> std::optional<std::string> {
        auto it = credentials.find(akid);
        if (it == credentials.end()) return std::nullopt;
        return it->second;
      },
      now_epoch_s, sopts);
  if (auto* e = std::get_if<ApiError>(&auth)) return ErrorResponse(*e);
  SigV4Identity& identity = std::get<SigV4Identity>(auth);

  auto form = DecodeForm(req.body);
  if (auto* e = std::get_if<ApiError>(&form)) return ErrorResponse(*e);
  auto& values = std::get<0>(form);
  if (auto e = ValidateListIndices(values)) return ErrorResponse(*e);

  ApiRequest api;
  if (auto it = values.find("Action"); it != values.end()) {
    api.action = it->second;
    values.erase(it);
  }
  if (auto it = values.find("Version"); it != values.end()) {
    api.version = it->second;
    values.erase(it);
  }
  HttpResponseOut out;
  out.action = api.action;
  if (api.action.empty()) return ErrorResponse(MissingAction());
  if (!api.version.empty() && api.version != kApiVersion) {
    out = ErrorResponse(InvalidParameterValue("Unsupported Version " + api.version +
                                              "; this service implements " + kApiVersion + "."));
    out.action = api.action;
    return out;
  }
  api.params = QueryParams(std::move(values));
  api.region = std::move(identity.region);
  api.access_key_id = std::move(identity.access_key_id);
  api.request_id = NewRequestId();

  pugi::xml_document doc;
  pugi::xml_node result = StartSuccessEnvelope(doc, api.action);
  std::optional<ApiError> error = dispatcher_.Dispatch(api, result);
  if (error && (error->http_status < 400 || error->http_status > 599)) {
    // A handler bug; an error must never go out with a 2xx/3xx status.
    Logger("api")->error("[{}] handler returned {} with HTTP status {}; sending 500", api.action,
                         error->code, error->http_status);
    error->http_status = 500;
  }
  out.request_id = api.request_id;
  if (error) {
    out.status = error->http_status;
    out.error_code = error->code;
    out.body = ErrorEnvelope(*error, api.request_id);
  } else {
    out.status = 200;
    out.body = FinishSuccessEnvelope(doc, result, api.request_id);
  }
  return out;
}

}  // namespace cf::api
