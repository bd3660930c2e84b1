// AWS Signature Version 4 (header form) verification and signing. Pure functions over plain
// strings; OpenSSL 3 EVP_Q_digest / EVP_Q_mac underneath. See elasticache-api.md §3.
//
// Verification steps (VerifySigV4):
//  1. Authorization must be present (else 403 MissingAuthenticationToken) and parse as
//     "AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request,
//      SignedHeaders=a;b;c, Signature=<64 hex>" (else 400 IncompleteSignature).
//  2. SERVICE must equal options.service (else 403 SignatureDoesNotMatch); any REGION is
//     accepted and returned to the caller.
//  3. X-Amz-Date (YYYYMMDDTHHMMSSZ) must be present and its date equal the scope date; a skew
//     beyond max_clock_skew_s either way -> 400 RequestExpired.
//  4. "host" must be signed; an X-Amz-Security-Token header must be signed too (session
//     credentials: the token itself is not validated, the access key must still be known).
//  5. Unknown access key -> 403 InvalidClientTokenId.
//  6. x-amz-content-sha256, when sent, must equal the body's SHA-256 (else 403
//     SignatureDoesNotMatch); the canonical request always uses the real body hash.
//  7. The canonical request is rebuilt from SignedHeaders in the listed order (values trimmed,
//     inner space runs collapsed, repeated headers joined by ','), and the signature compared
//     in constant time (mismatch -> 403 SignatureDoesNotMatch).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "orchestrator/api/api_types.h"

namespace cf::api {

// The parts of an HTTP request that SigV4 covers. Header names in any case; a name may repeat.
struct SigV4Request {
  std::string method;  // "POST"
  std::string path;    // "/" (used as the canonical URI as is; "" means "/")
  std::string query;   // raw query string without '?', "" for none
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
};

struct SigV4Identity {
  std::string access_key_id;
  std::string region;         // from the credential scope, e.g. "eu-west-1"
  std::string scope_date;     // YYYYMMDD
  std::string session_token;  // X-Amz-Security-Token if sent (signed), else ""
};

struct SigV4Options {
  std::string service = "elasticache";
  int64_t max_clock_skew_s = 900;
};

// access key id -> secret, nullopt if unknown.
using SecretLookup = std::function<std::optional<std::string>(const std::string&)>;
using SigV4Result = std::variant<SigV4Identity, ApiError>;

SigV4Result VerifySigV4(const SigV4Request& req, const SecretLookup& secrets, int64_t now_epoch_s,
                        const SigV4Options& options);

// ---- Building blocks (exposed for tests and for signing test requests) ----

struct SigV4Authorization {
  std::string access_key_id;
  std::string scope_date;  // YYYYMMDD
  std::string region;
  std::string service;
  std::string signed_headers;                    // "content-type;host;x-amz-date"
  std::vector<std::string> signed_header_names;  // split, lowercased
  std::string signature;                         // lowercase hex
};
// Parses an Authorization header value. IncompleteSignature on any syntax problem.
std::variant<SigV4Authorization, ApiError> ParseAuthorization(std::string_view value);

std::string HexEncode(std::string_view bytes);
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes
// Trims spaces/tabs at both ends and collapses inner runs of spaces to one.
std::string CanonicalHeaderValue(std::string_view value);
// Sorted, RFC 3986-encoded "k=v&k2=v2" from a raw query string.
std::string CanonicalQueryString(std::string_view raw_query);
// The canonical request; nullopt if a signed header is absent from the request.
std::optional<std::string> CanonicalRequest(const SigV4Request& req,
                                            const std::vector<std::string>& signed_header_names,
                                            std::string_view payload_hash_hex);
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
std::string DeriveSigningKey(std::string_view secret, std::string_view date,
                             std::string_view region, std::string_view service);
// hex(HMAC(kSigning, StringToSign)) with the scope DATE/REGION/SERVICE/aws4_request, where
// DATE is the first 8 characters of amz_date.
std::string ComputeSignature(std::string_view secret, std::string_view amz_date,
                             std::string_view region, std::string_view service,
                             std::string_view canonical_request);
// Signs `req` as a client would: returns the Authorization header value. Every name in
// signed_header_names (lowercase, sorted) must be present in req.headers, including
// x-amz-date = amz_date. For tests and tools.
std::string SignAuthorization(const SigV4Request& req,
                              const std::vector<std::string>& signed_header_names,
                              std::string_view access_key_id, std::string_view secret,
                              std::string_view amz_date, std::string_view region,
                              std::string_view service);
// "20261125T172335Z" -> epoch seconds; nullopt if malformed.
std::optional<int64_t> ParseAmzDate(std::string_view amz_date);
// epoch seconds -> "20261125T172335Z".
std::string FormatAmzDate(int64_t epoch_s);

}  // namespace cf::api
