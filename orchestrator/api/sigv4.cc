#include "orchestrator/api/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

#include "orchestrator/api/form_decoder.h"
#include "orchestrator/api/xml_util.h"

namespace cf::api {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? s.npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

bool IsDigits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// All values of header `lower_name`, in request order.
std::vector<std::string_view> HeaderValues(const SigV4Request& req, std::string_view lower_name) {
  std::vector<std::string_view> out;
  for (const auto& [name, value] : req.headers) {
    if (Lower(name) == lower_name) out.push_back(value);
  }
  return out;
}

ApiError Incomplete(std::string message) {
  return ApiError{400, "IncompleteSignature", std::move(message)};
}

ApiError Mismatch(std::string message) {
  return ApiError{403, "SignatureDoesNotMatch", std::move(message)};
}

void UriEncode(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!EVP_Q_digest(nullptr, "SHA256", nullptr, data.data(), data.size(), md, &len)) {
    std::abort();  // OpenSSL without SHA-256 is a broken installation, not a request error
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out,
                 &len)) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string CanonicalHeaderValue(std::string_view value) {
  value = Trim(value);
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out.push_back(c);
  }
  return out;
}

std::string CanonicalQueryString(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::string_view part : Split(raw_query, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string_view k = part.substr(0, eq);
    const std::string_view v = eq == std::string_view::npos ? "" : part.substr(eq + 1);
    // A malformed escape cannot have been signed by a correct client; encode it literally so
    // the signature simply does not match.
    std::string ek, ev;
    UriEncode(PercentDecode(k, false).value_or(std::string(k)), &ek);
    UriEncode(PercentDecode(v, false).value_or(std::string(v)), &ev);
    pairs.emplace_back(std::move(ek), std::move(ev));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::optional<std::string> CanonicalRequest(const SigV4Request& req,
                                            const std::vector<std::string>& signed_header_names,
                                            std::string_view payload_hash_hex) {
  std::string out;
  out += req.method;
  out += '\n';
  out += req.path.empty() ? "/" : req.path;
  out += '\n';
  out += CanonicalQueryString(req.query);
  out += '\n';
  std::string joined_names;
  for (const auto& name : signed_header_names) {
    const auto values = HeaderValues(req, name);
    if (values.empty()) return std::nullopt;
    out += name;
    out += ':';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out += ',';
      out += CanonicalHeaderValue(values[i]);
    }
    out += '\n';
    if (!joined_names.empty()) joined_names += ';';
    joined_names += name;
  }
  out += '\n';
  out += joined_names;
  out += '\n';
  out += payload_hash_hex;
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out(kAlgorithm);
  out += '\n';
  out += amz_date;
  out += '\n';
  out += scope;
  out += '\n';
  out += Sha256Hex(canonical_request);
  return out;
}

std::string DeriveSigningKey(std::string_view secret, std::string_view date,
                             std::string_view region, std::string_view service) {
  const std::string k_date = HmacSha256("AWS4" + std::string(secret), date);
  const std::string k_region = HmacSha256(k_date, region);
  const std::string k_service = HmacSha256(k_region, service);
  return HmacSha256(k_service, kTerminator);
}

std::string ComputeSignature(std::string_view secret, std::string_view amz_date,
                             std::string_view region, std::string_view service,
                             std::string_view canonical_request) {
  const std::string_view date = amz_date.substr(0, 8);
  const std::string scope = std::string(date) + "/" + std::string(region) + "/" +
                            std::string(service) + "/" + std::string(kTerminator);
  const std::string key = DeriveSigningKey(secret, date, region, service);
  return HexEncode(HmacSha256(key, StringToSign(amz_date, scope, canonical_request)));
}

std::string SignAuthorization(const SigV4Request& req,
                              const std::vector<std::string>& signed_header_names,
                              std::string_view access_key_id, std::string_view secret,
                              std::string_view amz_date, std::string_view region,
                              std::string_view service) {
  const std::string canonical =
      CanonicalRequest(req, signed_header_names, Sha256Hex(req.body)).value_or("");
  std::string names;
  for (const auto& n : signed_header_names) {
    if (!names.empty()) names += ';';
    names += n;
  }
  return std::string(kAlgorithm) + " Credential=" + std::string(access_key_id) + "/" +
         std::string(amz_date.substr(0, 8)) + "/" + std::string(region) + "/" +
         std::string(service) + "/" + std::string(kTerminator) + ", SignedHeaders=" + names +
         ", Signature=" + ComputeSignature(secret, amz_date, region, service, canonical);
}

std::optional<int64_t> ParseAmzDate(std::string_view d) {
  // YYYYMMDDTHHMMSSZ
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z' || !IsDigits(d.substr(0, 8), 8) ||
      !IsDigits(d.substr(9, 6), 6)) {
    return std::nullopt;
  }
  const std::string iso = std::string(d.substr(0, 4)) + "-" + std::string(d.substr(4, 2)) + "-" +
                          std::string(d.substr(6, 2)) + "T" + std::string(d.substr(9, 2)) + ":" +
                          std::string(d.substr(11, 2)) + ":" + std::string(d.substr(13, 2)) + "Z";
  auto ms = ParseTimestampMs(iso);
  if (!ms) return std::nullopt;
  return *ms / 1000;
}

std::string FormatAmzDate(int64_t epoch_s) {
  const std::string iso = FormatTimestampMs(epoch_s * 1000);  // 2026-11-25T17:23:35.000Z
  return iso.substr(0, 4) + iso.substr(5, 2) + iso.substr(8, 2) + "T" + iso.substr(11, 2) +
         iso.substr(14, 2) + iso.substr(17, 2) + "Z";
}

std::variant<SigV4Authorization, ApiError> ParseAuthorization(std::string_view value) {
  value = Trim(value);
  if (value.substr(0, kAlgorithm.size()) != kAlgorithm || value.size() == kAlgorithm.size() ||
      (value[kAlgorithm.size()] != ' ' && value[kAlgorithm.size()] != '\t')) {
    return Incomplete("Unsupported Authorization algorithm; only AWS4-HMAC-SHA256 is accepted.");
  }
  std::optional<std::string_view> credential, signed_headers, signature;
  for (std::string_view part : Split(value.substr(kAlgorithm.size() + 1), ',')) {
    part = Trim(part);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Incomplete("Authorization header component without '=': '" + SanitizeXmlText(part) +
                        "'.");
    }
    const std::string_view k = part.substr(0, eq);
    const std::string_view v = part.substr(eq + 1);
    std::optional<std::string_view>* slot = k == "Credential"      ? &credential
                                            : k == "SignedHeaders" ? &signed_headers
                                            : k == "Signature"     ? &signature
                                                                   : nullptr;
    if (slot == nullptr) continue;  // unknown components are ignored, as AWS does
    if (slot->has_value()) {
      return Incomplete("Authorization header repeats the " + std::string(k) + " component.");
    }
    *slot = v;
  }
  if (!credential) return Incomplete("Authorization header requires 'Credential' parameter.");
  if (!signed_headers) {
    return Incomplete("Authorization header requires 'SignedHeaders' parameter.");
  }
  if (!signature) return Incomplete("Authorization header requires 'Signature' parameter.");

  SigV4Authorization out;
  const auto scope = Split(*credential, '/');
  if (scope.size() != 5 || scope[0].empty() || !IsDigits(scope[1], 8) || scope[2].empty() ||
      scope[3].empty() || scope[4] != kTerminator) {
    return Incomplete(
        "Credential must have the form ACCESS_KEY/YYYYMMDD/REGION/SERVICE/"
        "aws4_request; got '" +
        SanitizeXmlText(*credential) + "'.");
  }
  for (char c : scope[2]) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return Incomplete("Invalid region in the credential scope: '" + SanitizeXmlText(scope[2]) +
                        "'.");
    }
  }
  out.access_key_id = std::string(scope[0]);
  out.scope_date = std::string(scope[1]);
  out.region = std::string(scope[2]);
  out.service = std::string(scope[3]);
  out.signed_headers = std::string(*signed_headers);
  for (std::string_view name : Split(*signed_headers, ';')) {
    if (name.empty()) return Incomplete("SignedHeaders contains an empty header name.");
    out.signed_header_names.push_back(Lower(name));
  }
  if (signature->size() != 64 || !IsLowerHex(Lower(*signature))) {
    return Incomplete("Signature must be 64 hexadecimal characters.");
  }
  out.signature = Lower(*signature);
  return out;
}

SigV4Result VerifySigV4(const SigV4Request& req, const SecretLookup& secrets, int64_t now_epoch_s,
                        const SigV4Options& options) {
  const auto auth_values = HeaderValues(req, "authorization");
  if (auth_values.empty()) {
    return ApiError{403, "MissingAuthenticationToken", "Request is missing Authentication Token"};
  }
  if (auth_values.size() > 1) return Incomplete("More than one Authorization header was sent.");
  auto parsed = ParseAuthorization(auth_values[0]);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const SigV4Authorization& auth = std::get<SigV4Authorization>(parsed);

  if (auth.service != options.service) {
    return Mismatch("Credential should be scoped to correct service: '" + options.service + "'.");
  }

  const auto date_values = HeaderValues(req, "x-amz-date");
  if (date_values.size() != 1) {
    return Incomplete(
        "Authorization header requires existence of exactly one 'X-Amz-Date' "
        "header.");
  }
  const std::string amz_date = CanonicalHeaderValue(date_values[0]);
  const auto signed_at = ParseAmzDate(amz_date);
  if (!signed_at) {
    return Incomplete("X-Amz-Date must be in ISO-8601 basic format (YYYYMMDDTHHMMSSZ).");
  }
  if (amz_date.compare(0, 8, auth.scope_date) != 0) {
    return Mismatch("Date in Credential scope does not match YYYYMMDD from X-Amz-Date.");
  }
  const int64_t skew = *signed_at - now_epoch_s;
  if (skew > options.max_clock_skew_s || -skew > options.max_clock_skew_s) {
    return ApiError{400, "RequestExpired",
                    "Request has expired: X-Amz-Date " + amz_date + " is more than " +
                        std::to_string(options.max_clock_skew_s) + " s away from the server time " +
                        FormatAmzDate(now_epoch_s) + "."};
  }

  auto is_signed = [&](std::string_view name) {
    return std::find(auth.signed_header_names.begin(), auth.signed_header_names.end(), name) !=
           auth.signed_header_names.end();
  };
  if (!is_signed("host")) {
    return Incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const auto token_values = HeaderValues(req, "x-amz-security-token");
  if (!token_values.empty() && !is_signed("x-amz-security-token")) {
    return Incomplete(
        "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS "
        "Authorization.");
  }

  const auto secret = secrets ? secrets(auth.access_key_id) : std::nullopt;
  if (!secret) {
    return ApiError{403, "InvalidClientTokenId",
                    "The security token included in the request is invalid."};
  }

  const std::string body_hash = Sha256Hex(req.body);
  const auto claimed_hashes = HeaderValues(req, "x-amz-content-sha256");
  if (!claimed_hashes.empty() &&
      (claimed_hashes.size() != 1 || Lower(CanonicalHeaderValue(claimed_hashes[0])) != body_hash)) {
    return Mismatch(
        "The provided 'x-amz-content-sha256' header does not match what was "
        "computed.");
  }

  const auto canonical = CanonicalRequest(req, auth.signed_header_names, body_hash);
  if (!canonical) return Mismatch("A header listed in SignedHeaders is missing from the request.");
  const std::string expected =
      ComputeSignature(*secret, amz_date, auth.region, auth.service, *canonical);
  if (expected.size() != auth.signature.size() ||
      CRYPTO_memcmp(expected.data(), auth.signature.data(), expected.size()) != 0) {
    return Mismatch(
        "The request signature we calculated does not match the signature you "
        "provided. Check your AWS Secret Access Key and signing method. Consult the "
        "service documentation for details.");
  }

  SigV4Identity id;
  id.access_key_id = auth.access_key_id;
  id.region = auth.region;
  id.scope_date = auth.scope_date;
  if (!token_values.empty()) id.session_token = std::string(CanonicalHeaderValue(token_values[0]));
  return id;
}

}  // namespace cf::api
