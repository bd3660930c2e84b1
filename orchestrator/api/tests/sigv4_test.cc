// SigV4: the AWS test-suite vectors, requests captured from real clients (boto3 1.26 and
// @aws-sdk/client-elasticache 3.1127, signed at a fixed time with the AWS documentation
// example key), and every rejection path.
#include "orchestrator/api/sigv4.h"

#include <gtest/gtest.h>

namespace cf::api {
namespace {

constexpr char kAkid[] = "AKIDEXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

SecretLookup Secrets() {
  return [](const std::string& akid) -> std::optional<std::string> {
    if (akid == kAkid || akid == "ASIAEXAMPLE") return std::string(kSecret);
    return std::nullopt;
  };
}

int64_t At(const char* amz_date) { return ParseAmzDate(amz_date).value(); }

// ---- AWS SigV4 test suite (service "service", us-east-1, 20150830T123600Z) ----

TEST(SigV4, AwsSuiteGetVanilla) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  const auto canonical = CanonicalRequest(r, {"host", "x-amz-date"}, Sha256Hex(""));
  ASSERT_TRUE(canonical);
  EXPECT_EQ(*canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ComputeSignature(kSecret, "20150830T123600Z", "us-east-1", "service", *canonical),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(SignAuthorization(r, {"host", "x-amz-date"}, kAkid, kSecret, "20150830T123600Z",
                              "us-east-1", "service"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, AwsSuitePostFormUrlencoded) {
  SigV4Request r;
  r.method = "POST";
  r.path = "/";
  r.body = "Param1=value1";
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
               {"Host", "example.amazonaws.com"},
               {"X-Amz-Date", "20150830T123600Z"}};
  const auto canonical =
      CanonicalRequest(r, {"content-type", "host", "x-amz-date"}, Sha256Hex(r.body));
  ASSERT_TRUE(canonical);
  EXPECT_EQ(ComputeSignature(kSecret, "20150830T123600Z", "us-east-1", "service", *canonical),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");

  // The same request through the verifier (service name is a parameter).
  r.headers.emplace_back(
      "Authorization",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date, "
      "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
  SigV4Options opts;
  opts.service = "service";
  auto v = VerifySigV4(r, Secrets(), At("20150830T123600Z"), opts);
  ASSERT_TRUE(std::holds_alternative<SigV4Identity>(v)) << std::get<ApiError>(v).message;
  EXPECT_EQ(std::get<SigV4Identity>(v).region, "us-east-1");
  // ... and it is not valid for elasticache.
  v = VerifySigV4(r, Secrets(), At("20150830T123600Z"), SigV4Options{});
  EXPECT_EQ(std::get<ApiError>(v).code, "SignatureDoesNotMatch");
}

// ---- Real clients ----

// boto3 1.26.27 / botocore 1.29.27, region us-east-1, 2026-11-25T17:23:35Z, endpoint
// http://127.0.0.1:18080. CreateReplicationGroup with struct lists, nested lists, an empty
// list and a non-ASCII description.
SigV4Request Boto3CreateReplicationGroup() {
  static const std::string body =
      "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg-cme"
      "&ReplicationGroupDescription=cluster+mode+on+%C3%BC&AutomaticFailoverEnabled=true"
      "&NumNodeGroups=2&NodeGroupConfiguration.NodeGroupConfiguration.1.NodeGroupId=0001"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.Slots=0-8191"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaCount=1"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.PrimaryAvailabilityZone=us-east-1a"
      "&NodeGroupConfiguration.NodeGroupConfiguration.1.ReplicaAvailabilityZones."
      "AvailabilityZone.1=us-east-1b"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.NodeGroupId=0002"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.Slots=8192-16383"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaCount=2"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.PrimaryAvailabilityZone=us-east-1b"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones."
      "AvailabilityZone.1=us-east-1a"
      "&NodeGroupConfiguration.NodeGroupConfiguration.2.ReplicaAvailabilityZones."
      "AvailabilityZone.2=us-east-1c"
      "&CacheNodeType=cache.r6g.large&Engine=redis&SecurityGroupIds.SecurityGroupId.1=sg-1"
      "&SecurityGroupIds.SecurityGroupId.2=sg-2&PreferredCacheClusterAZs=&Tags.Tag.1.Key=env"
      "&Tags.Tag.1.Value=prod&Tags.Tag.2.Key=team&Tags.Tag.2.Value=cache";
  SigV4Request r;
  r.method = "POST";
  r.path = "/";
  r.body = body;
  r.headers = {
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"User-Agent",
       "Boto3/1.26.27 Python/3.11.2 Linux/6.18.44-fc-v669 awscrt/1.0.0.dev0 Botocore/1.29.27"},
      {"host", "127.0.0.1:18080"},
      {"X-Amz-Date", "20261125T172335Z"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/elasticache/aws4_request, "
       "SignedHeaders=content-type;host;x-amz-date, "
       "Signature=e69044414aa336b776a36443f90e8acf1e6a6f554cef117b86c91f709fc28b5a"},
      {"amz-sdk-invocation-id", "8563bae7-80f6-49dd-9414-bd7b3f10e50c"},
      {"amz-sdk-request", "attempt=1"},
      {"Content-Length", "1261"},
  };
  return r;
}

// boto3 with session credentials (X-Amz-Security-Token signed), region eu-west-1.
SigV4Request Boto3SessionTokenDescribe() {
  SigV4Request r;
  r.method = "POST";
  r.path = "/";
  r.body = "Action=DescribeReplicationGroups&Version=2015-02-02&ReplicationGroupId=rg-cme";
  r.headers = {
      {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"User-Agent",
       "Boto3/1.26.27 Python/3.11.2 Linux/6.18.44-fc-v669 awscrt/1.0.0.dev0 Botocore/1.29.27"},
      {"host", "127.0.0.1:18080"},
      {"X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLETOKEN+/="},
      {"X-Amz-Date", "20261125T172335Z"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261125/eu-west-1/elasticache/aws4_request, "
       "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
       "Signature=90e27ec562231ec0cc7b1e1929a978c9a25694c222a36e7041a35455985cbc31"},
      {"amz-sdk-invocation-id", "f8177c0a-fd58-4bd8-ab04-e3035f9769d9"},
      {"amz-sdk-request", "attempt=1"},
      {"Content-Length", "77"},
  };
  return r;
}

// @aws-sdk/client-elasticache 3.1127 on Node 20, region ap-southeast-2: 8 signed headers
// including x-amz-content-sha256, spaces as %20.
SigV4Request JsCreateReplicationGroup() {
  SigV4Request r;
  r.method = "POST";
  r.path = "/";
  r.body =
      "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg-js"
      "&ReplicationGroupDescription=from%20js%20%20two%20spaces&NumCacheClusters=2"
      "&PreferredCacheClusterAZs.AvailabilityZone.1=us-east-1a"
      "&PreferredCacheClusterAZs.AvailabilityZone.2=us-east-1b&Tags=";
  r.headers = {
      {"content-type", "application/x-www-form-urlencoded"},
      {"content-length", "264"},
      {"x-amz-user-agent", "aws-sdk-js/3.1126.0"},
      {"user-agent",
       "aws-sdk-js/3.1126.0 ua/2.1 os/linux#6.18.44-fc-v669 lang/js md/nodejs#20.20.2 "
       "api/elasticache#3.1126.0 m/N,E,e"},
      {"host", "127.0.0.1:18080"},
      {"amz-sdk-invocation-id", "810a7700-843d-4d89-bdc3-b8bfcc1467d4"},
      {"amz-sdk-request", "attempt=1; max=1"},
      {"x-amz-date", "20261125T172335Z"},
      {"x-amz-content-sha256", "40e4720d325a53a271bfa30e4316a954ada1644351f10a4913b33f208ef4ae47"},
      {"authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/ap-southeast-2/elasticache/aws4_request, "
       "SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;"
       "x-amz-content-sha256;x-amz-date;x-amz-user-agent, "
       "Signature=e9dee74157396b867e8798076d636899df7495da9e41239c72db0c2808bcf3ff"},
  };
  return r;
}

const int64_t kSignedAt = At("20261125T172335Z");

SigV4Result Verify(const SigV4Request& r, int64_t now = kSignedAt) {
  return VerifySigV4(r, Secrets(), now, SigV4Options{});
}

std::string ErrorCode(const SigV4Result& v, int expected_status) {
  if (!std::holds_alternative<ApiError>(v)) return "accepted";
  EXPECT_EQ(std::get<ApiError>(v).http_status, expected_status) << std::get<ApiError>(v).code;
  return std::get<ApiError>(v).code;
}

void SetHeader(SigV4Request* r, std::string_view lower_name, std::string value) {
  for (auto& [name, v] : r->headers) {
    std::string n = name;
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == lower_name) {
      v = std::move(value);
      return;
    }
  }
  ADD_FAILURE() << "no header " << lower_name;
}

void RemoveHeader(SigV4Request* r, std::string_view lower_name) {
  std::erase_if(r->headers, [&](const auto& h) {
    std::string n = h.first;
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n == lower_name;
  });
}

TEST(SigV4, Boto3RequestVerifies) {
  const auto v = Verify(Boto3CreateReplicationGroup());
  ASSERT_TRUE(std::holds_alternative<SigV4Identity>(v)) << std::get<ApiError>(v).message;
  const auto& id = std::get<SigV4Identity>(v);
  EXPECT_EQ(id.access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(id.region, "us-east-1");
  EXPECT_EQ(id.scope_date, "20261125");
  EXPECT_EQ(id.session_token, "");
  // Within the skew window on both sides.
  EXPECT_TRUE(std::holds_alternative<SigV4Identity>(
      Verify(Boto3CreateReplicationGroup(), kSignedAt + 899)));
  EXPECT_TRUE(std::holds_alternative<SigV4Identity>(
      Verify(Boto3CreateReplicationGroup(), kSignedAt - 899)));
}

TEST(SigV4, Boto3SessionTokenVerifies) {
  const auto v = Verify(Boto3SessionTokenDescribe());
  ASSERT_TRUE(std::holds_alternative<SigV4Identity>(v)) << std::get<ApiError>(v).message;
  EXPECT_EQ(std::get<SigV4Identity>(v).region, "eu-west-1");
  EXPECT_EQ(std::get<SigV4Identity>(v).access_key_id, "ASIAEXAMPLE");
  EXPECT_EQ(std::get<SigV4Identity>(v).session_token, "FQoGZXIvYXdzEXAMPLETOKEN+/=");
  // The token is signed: changing it breaks the signature.
  auto r = Boto3SessionTokenDescribe();
  SetHeader(&r, "x-amz-security-token", "other");
  EXPECT_EQ(ErrorCode(Verify(r), 403), "SignatureDoesNotMatch");
}

TEST(SigV4, JsSdkEightHeaderRequestVerifies) {
  const auto v = Verify(JsCreateReplicationGroup());
  ASSERT_TRUE(std::holds_alternative<SigV4Identity>(v)) << std::get<ApiError>(v).message;
  EXPECT_EQ(std::get<SigV4Identity>(v).region, "ap-southeast-2");
}

TEST(SigV4, HeaderValuesAreTrimmedAndCollapsed) {
  EXPECT_EQ(CanonicalHeaderValue("  a   b  c \t"), "a b c");
  EXPECT_EQ(CanonicalHeaderValue(""), "");
  auto r = Boto3CreateReplicationGroup();
  SetHeader(&r, "content-type", "  application/x-www-form-urlencoded;    charset=utf-8  ");
  EXPECT_TRUE(std::holds_alternative<SigV4Identity>(Verify(r)));
  // Header names are case-insensitive.
  r = Boto3CreateReplicationGroup();
  for (auto& [name, value] : r.headers) {
    if (name == "host") name = "HOST";
  }
  EXPECT_TRUE(std::holds_alternative<SigV4Identity>(Verify(r)));
}

TEST(SigV4, ForgedSignature) {
  auto r = Boto3CreateReplicationGroup();
  SetHeader(&r, "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/elasticache/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=f69044414aa336b776a36443f90e8acf1e6a6f554cef117b86c91f709fc28b5a");
  EXPECT_EQ(ErrorCode(Verify(r), 403), "SignatureDoesNotMatch");
}

TEST(SigV4, WrongSecret) {
  auto r = Boto3CreateReplicationGroup();
  auto v = VerifySigV4(
      r, [](const std::string&) -> std::optional<std::string> { return "not-the-secret"; },
      kSignedAt, SigV4Options{});
  EXPECT_EQ(ErrorCode(v, 403), "SignatureDoesNotMatch");
}

TEST(SigV4, UnknownAccessKey) {
  auto v = VerifySigV4(
      Boto3CreateReplicationGroup(),
      [](const std::string&) -> std::optional<std::string> { return std::nullopt; }, kSignedAt,
      SigV4Options{});
  EXPECT_EQ(ErrorCode(v, 403), "InvalidClientTokenId");
}

TEST(SigV4, MissingAuthorization) {
  auto r = Boto3CreateReplicationGroup();
  RemoveHeader(&r, "authorization");
  EXPECT_EQ(ErrorCode(Verify(r), 403), "MissingAuthenticationToken");
}

TEST(SigV4, ExpiredOrFutureDate) {
  EXPECT_EQ(ErrorCode(Verify(Boto3CreateReplicationGroup(), kSignedAt + 901), 400),
            "RequestExpired");
  EXPECT_EQ(ErrorCode(Verify(Boto3CreateReplicationGroup(), kSignedAt - 901), 400),
            "RequestExpired");
  SigV4Options tight;
  tight.max_clock_skew_s = 60;
  EXPECT_EQ(
      ErrorCode(VerifySigV4(Boto3CreateReplicationGroup(), Secrets(), kSignedAt + 61, tight), 400),
      "RequestExpired");
}

TEST(SigV4, TamperedBody) {
  auto r = Boto3CreateReplicationGroup();
  std::string body(r.body);
  body.replace(body.find("rg-cme"), 6, "rg-cmx");
  r.body = body;
  EXPECT_EQ(ErrorCode(Verify(r), 403), "SignatureDoesNotMatch");
  // With x-amz-content-sha256 (JS) the claimed hash no longer matches the body.
  auto js = JsCreateReplicationGroup();
  std::string js_body(js.body);
  js_body += "&X=1";
  js.body = js_body;
  EXPECT_EQ(ErrorCode(Verify(js), 403), "SignatureDoesNotMatch");
}

TEST(SigV4, TamperedSignedHeader) {
  auto r = JsCreateReplicationGroup();
  SetHeader(&r, "amz-sdk-request", "attempt=2; max=1");
  EXPECT_EQ(ErrorCode(Verify(r), 403), "SignatureDoesNotMatch");
  // Unsigned headers may change freely.
  r = Boto3CreateReplicationGroup();
  SetHeader(&r, "user-agent", "something else");
  EXPECT_TRUE(std::holds_alternative<SigV4Identity>(Verify(r)));
  // A signed header that is missing.
  r = Boto3CreateReplicationGroup();
  RemoveHeader(&r, "content-type");
  EXPECT_EQ(ErrorCode(Verify(r), 403), "SignatureDoesNotMatch");
}

TEST(SigV4, WrongService) {
  // Correctly signed, but for another service.
  auto r = Boto3CreateReplicationGroup();
  RemoveHeader(&r, "authorization");
  r.headers.emplace_back(
      "Authorization", SignAuthorization(r, {"content-type", "host", "x-amz-date"}, kAkid, kSecret,
                                         "20261125T172335Z", "us-east-1", "ec2"));
  EXPECT_EQ(ErrorCode(Verify(r), 403), "SignatureDoesNotMatch");
  // Re-signed for elasticache in another region: accepted, region reported.
  RemoveHeader(&r, "authorization");
  r.headers.emplace_back(
      "Authorization", SignAuthorization(r, {"content-type", "host", "x-amz-date"}, kAkid, kSecret,
                                         "20261125T172335Z", "sa-east-1", "elasticache"));
  auto v = Verify(r);
  ASSERT_TRUE(std::holds_alternative<SigV4Identity>(v));
  EXPECT_EQ(std::get<SigV4Identity>(v).region, "sa-east-1");
}

TEST(SigV4, IncompleteSignature) {
  const std::string scope = "Credential=AKIDEXAMPLE/20261125/us-east-1/elasticache/aws4_request";
  const std::string sig =
      "Signature=e69044414aa336b776a36443f90e8acf1e6a6f554cef117b86c91f709fc28b5a";
  for (const std::string& bad : std::vector<std::string>{
           "AWS4-HMAC-SHA512 " + scope + ", SignedHeaders=host, " + sig,
           "AWS4-HMAC-SHA256 " + scope + ", " + sig,              // no headers
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host",  // no signature
           "AWS4-HMAC-SHA256 SignedHeaders=host, " + sig,         // no credential
           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/elasticache, "
           "SignedHeaders=host, " +
               sig,  // short scope
           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2026112/us-east-1/elasticache/aws4_request, "
           "SignedHeaders=host, " +
               sig,                                                                    // bad date
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host, Signature=abc",        // short sig
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host;;x, " + sig,            // empty name
           "AWS4-HMAC-SHA256 " + scope + ", SignedHeaders=host, " + sig + ", " + sig,  // twice
           "AWS4-HMAC-SHA256",
           "",
       }) {
    auto r = Boto3CreateReplicationGroup();
    SetHeader(&r, "authorization", bad);
    EXPECT_EQ(ErrorCode(Verify(r), 400), "IncompleteSignature") << bad;
  }
}

TEST(SigV4, HostAndSessionTokenMustBeSigned) {
  auto r = Boto3CreateReplicationGroup();
  RemoveHeader(&r, "authorization");
  r.headers.emplace_back("Authorization",
                         SignAuthorization(r, {"content-type", "x-amz-date"}, kAkid, kSecret,
                                           "20261125T172335Z", "us-east-1", "elasticache"));
  EXPECT_EQ(ErrorCode(Verify(r), 400), "IncompleteSignature");

  r = Boto3CreateReplicationGroup();
  r.headers.emplace_back("X-Amz-Security-Token", "unsigned-token");
  EXPECT_EQ(ErrorCode(Verify(r), 400), "IncompleteSignature");
}

TEST(SigV4, DateHeaderProblems) {
  auto r = Boto3CreateReplicationGroup();
  RemoveHeader(&r, "x-amz-date");
  EXPECT_EQ(ErrorCode(Verify(r), 400), "IncompleteSignature");
  r = Boto3CreateReplicationGroup();
  SetHeader(&r, "x-amz-date", "2026-11-25T17:23:35Z");
  EXPECT_EQ(ErrorCode(Verify(r), 400), "IncompleteSignature");
  // X-Amz-Date on another day than the credential scope.
  r = Boto3CreateReplicationGroup();
  SetHeader(&r, "x-amz-date", "20261126T000000Z");
  EXPECT_EQ(ErrorCode(Verify(r, At("20261126T000000Z")), 403), "SignatureDoesNotMatch");
}

TEST(SigV4, AmzDateRoundTrip) {
  EXPECT_EQ(FormatAmzDate(At("20261125T172335Z")), "20261125T172335Z");
  EXPECT_EQ(At("19700101T000000Z"), 0);
  EXPECT_FALSE(ParseAmzDate("20261325T172335Z").has_value());
  EXPECT_FALSE(ParseAmzDate("20261125T172335").has_value());
}

TEST(SigV4, CanonicalQueryString) {
  EXPECT_EQ(CanonicalQueryString(""), "");
  EXPECT_EQ(CanonicalQueryString("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(CanonicalQueryString("k=a%20b&x"), "k=a%20b&x=");
  EXPECT_EQ(CanonicalQueryString("k=a b/c~"), "k=a%20b%2Fc~");
}

}  // namespace
}  // namespace cf::api
