// RequestHandler without a network: routing, auth, decoding, dispatch and envelopes.
#include "orchestrator/api/server/request_handler.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "orchestrator/api/sigv4.h"
#include "orchestrator/api/xml_util.h"

namespace cf::api {
namespace {

constexpr char kAkid[] = "AKIDTEST";
constexpr char kSecret[] = "test-secret";
const int64_t kNow = ParseAmzDate("20261125T172335Z").value();

struct Seen {
  int calls = 0;
  ApiRequest last;
};

class RequestHandlerTest : public ::testing::Test {
 protected:
  RequestHandlerTest() {
    options_.credentials = {{kAkid, kSecret}};
    dispatcher_.Register(
        "DescribeReplicationGroups", [this](const ApiRequest& req, pugi::xml_node result) {
          ++seen_.calls;
          seen_.last = req;
          auto rg = result.append_child("ReplicationGroups").append_child("ReplicationGroup");
          AppendText(rg, "ReplicationGroupId", "rg-1");
          return std::optional<ApiError>();
        });
    dispatcher_.Register("DeleteThing", [](const ApiRequest&, pugi::xml_node) {
      return std::optional<ApiError>();  // no output shape
    });
    dispatcher_.Register("NotFound", [](const ApiRequest&, pugi::xml_node result) {
      AppendText(result, "Partial", "dropped");
      return std::optional<ApiError>(
          ApiError{404, "ReplicationGroupNotFoundFault", "ReplicationGroup x not found."});
    });
    dispatcher_.Register("Throws",
                         [](const ApiRequest&, pugi::xml_node) -> std::optional<ApiError> {
                           throw std::runtime_error("kaboom");
                         });
    dispatcher_.Register("BadStatus", [](const ApiRequest&, pugi::xml_node) {
      return std::optional<ApiError>(ApiError{200, "Oops", "status 200"});
    });
  }

  // A POST / signed like boto3 (content-type;host;x-amz-date).
  HttpRequestIn Signed(const std::string& body, const std::string& region = "us-east-1",
                       const std::string& secret = kSecret) {
    HttpRequestIn in;
    in.method = "POST";
    in.target = "/";
    in.body = body;
    in.headers = {{"Host", "127.0.0.1:9999"},
                  {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"X-Amz-Date", FormatAmzDate(kNow)}};
    SigV4Request s{in.method, "/", "", in.headers, in.body};
    in.headers.emplace_back(
        "Authorization", SignAuthorization(s, {"content-type", "host", "x-amz-date"}, kAkid, secret,
                                           FormatAmzDate(kNow), region, "elasticache"));
    return in;
  }

  HttpResponseOut Handle(const HttpRequestIn& in) {
    RequestHandler h(options_, dispatcher_);
    return h.Handle(in, kNow);
  }

  // Code of an XML error body, checking that its RequestId is the response's.
  static std::string Code(const HttpResponseOut& out) {
    pugi::xml_document doc;
    EXPECT_TRUE(doc.load_string(out.body.c_str())) << out.body;
    auto err = doc.child("ErrorResponse");
    if (!err) return "(no error) " + out.body;
    EXPECT_EQ(std::string(err.attribute("xmlns").value()),
              "http://elasticache.amazonaws.com/doc/2015-02-02/");
    EXPECT_EQ(out.request_id, err.child_value("RequestId"));
    EXPECT_EQ(std::string(err.child("Error").child_value("Type")),
              out.status >= 500 ? "Receiver" : "Sender");
    EXPECT_EQ(out.content_type, "text/xml");
    return err.child("Error").child_value("Code");
  }

  ApiServerOptions options_;
  Dispatcher dispatcher_;
  Seen seen_;
};

TEST_F(RequestHandlerTest, SuccessPassesParamsRegionAndRequestId) {
  auto out = Handle(Signed(
      "Action=DescribeReplicationGroups&Version=2015-02-02&ReplicationGroupId=rg-1&MaxRecords=20",
      "eu-west-1"));
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(out.content_type, "text/xml");
  EXPECT_EQ(out.action, "DescribeReplicationGroups");
  ASSERT_EQ(seen_.calls, 1);
  EXPECT_EQ(seen_.last.action, "DescribeReplicationGroups");
  EXPECT_EQ(seen_.last.version, "2015-02-02");
  EXPECT_EQ(seen_.last.region, "eu-west-1");
  EXPECT_EQ(seen_.last.access_key_id, kAkid);
  EXPECT_EQ(seen_.last.params.all(), (std::map<std::string, std::string>{
                                         {"ReplicationGroupId", "rg-1"}, {"MaxRecords", "20"}}));
  EXPECT_EQ(seen_.last.request_id, out.request_id);
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(out.body.c_str()));
  auto root = doc.child("DescribeReplicationGroupsResponse");
  EXPECT_STREQ(root.child("DescribeReplicationGroupsResult")
                   .child("ReplicationGroups")
                   .child("ReplicationGroup")
                   .child_value("ReplicationGroupId"),
               "rg-1");
  EXPECT_EQ(out.request_id, root.child("ResponseMetadata").child_value("RequestId"));
}

TEST_F(RequestHandlerTest, VersionMayBeAbsentButNotDifferent) {
  EXPECT_EQ(Handle(Signed("Action=DescribeReplicationGroups")).status, 200);
  auto out = Handle(Signed("Action=DescribeReplicationGroups&Version=2014-09-30"));
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "InvalidParameterValue");
}

TEST_F(RequestHandlerTest, MissingAndUnknownAction) {
  auto out = Handle(Signed("Version=2015-02-02"));
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "MissingAction");
  out = Handle(Signed("Action=&Version=2015-02-02"));
  EXPECT_EQ(Code(out), "MissingAction");
  out = Handle(Signed("Action=LaunchRockets&Version=2015-02-02"));
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "InvalidAction");
}

TEST_F(RequestHandlerTest, EmptyResultRemoved) {
  auto out = Handle(Signed("Action=DeleteThing&Version=2015-02-02"));
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(out.body.find("DeleteThingResult"), std::string::npos) << out.body;
  EXPECT_NE(out.body.find("<ResponseMetadata><RequestId>" + out.request_id), std::string::npos);
}

TEST_F(RequestHandlerTest, HandlerErrorDropsPartialResult) {
  auto out = Handle(Signed("Action=NotFound&Version=2015-02-02"));
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(Code(out), "ReplicationGroupNotFoundFault");
  EXPECT_EQ(out.body.find("Partial"), std::string::npos);
  EXPECT_EQ(out.error_code, "ReplicationGroupNotFoundFault");
}

TEST_F(RequestHandlerTest, HandlerThatThrowsIsInternalFailure) {
  auto out = Handle(Signed("Action=Throws&Version=2015-02-02"));
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(Code(out), "InternalFailure");
  EXPECT_EQ(out.body.find("kaboom"), std::string::npos);  // no internals leak to clients
  // A handler returning an error with a success status is turned into a 500.
  out = Handle(Signed("Action=BadStatus&Version=2015-02-02"));
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(Code(out), "Oops");
}

TEST_F(RequestHandlerTest, AuthFailures) {
  auto unsigned_req = Signed("Action=DescribeReplicationGroups");
  unsigned_req.headers.pop_back();
  auto out = Handle(unsigned_req);
  EXPECT_EQ(out.status, 403);
  EXPECT_EQ(Code(out), "MissingAuthenticationToken");
  out = Handle(Signed("Action=DescribeReplicationGroups", "us-east-1", "wrong-secret"));
  EXPECT_EQ(out.status, 403);
  EXPECT_EQ(Code(out), "SignatureDoesNotMatch");
  options_.credentials.clear();
  out = Handle(Signed("Action=DescribeReplicationGroups"));
  EXPECT_EQ(out.status, 403);
  EXPECT_EQ(Code(out), "InvalidClientTokenId");
  EXPECT_EQ(seen_.calls, 0);
}

TEST_F(RequestHandlerTest, ExpiredRequest) {
  RequestHandler h(options_, dispatcher_);
  auto out = h.Handle(Signed("Action=DescribeReplicationGroups"), kNow + 3600);
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "RequestExpired");
}

TEST_F(RequestHandlerTest, FormErrors) {
  auto out = Handle(Signed("Action=DescribeReplicationGroups&A=1&A=2"));
  EXPECT_EQ(Code(out), "InvalidQueryParameter");
  out = Handle(Signed("Action=DescribeReplicationGroups&A=%ZZ"));
  EXPECT_EQ(Code(out), "InvalidQueryParameter");
  out = Handle(Signed("Action=DescribeReplicationGroups&Description=a%0Ab"));
  EXPECT_EQ(Code(out), "InvalidParameterValue");
  out = Handle(Signed("Action=DescribeReplicationGroups&L.Item.1=a&L.Item.3=b"));
  EXPECT_EQ(Code(out), "InvalidParameterValue");
  out = Handle(Signed("Action=DescribeReplicationGroups&L.Item.0=a"));
  EXPECT_EQ(Code(out), "InvalidParameterValue");
  EXPECT_EQ(seen_.calls, 0);
}

TEST_F(RequestHandlerTest, RoutingAndMethods) {
  HttpRequestIn get;
  get.method = "GET";
  get.target = "/";
  auto out = Handle(get);
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "InvalidHttpRequest");

  get.target = "/nope";
  out = Handle(get);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(Code(out), "NotFound");

  auto q = Signed("Action=DescribeReplicationGroups");
  q.target = "/?Action=DescribeReplicationGroups";
  out = Handle(q);
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "InvalidQueryParameter");

  auto json = Signed("Action=DescribeReplicationGroups");
  json.headers[1].second = "application/json";
  out = Handle(json);
  EXPECT_EQ(out.status, 400);
  EXPECT_EQ(Code(out), "InvalidQueryParameter");
}

TEST_F(RequestHandlerTest, HealthEndpoint) {
  HttpRequestIn get;
  get.method = "GET";
  get.target = "/cachefleet/health";
  auto out = Handle(get);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(Code(out), "NotFound");

  options_.health_json = [] { return std::string(R"({"ok":true})"); };
  out = Handle(get);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.content_type, "application/json");
  EXPECT_EQ(out.body, R"({"ok":true})");

  get.target = "/cachefleet/health?verbose=1";
  EXPECT_EQ(Handle(get).status, 200);

  get.method = "POST";
  out = Handle(get);
  EXPECT_EQ(out.status, 400);

  options_.health_json = []() -> std::string { throw std::runtime_error("x"); };
  get.method = "GET";
  out = Handle(get);
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(Code(out), "InternalFailure");
}

TEST_F(RequestHandlerTest, ExtraGetJsonEndpoints) {
  std::string seen_query = "unset";
  options_.extra_get_json["/cachefleet/operations"] = [&](const std::string& q) {
    seen_query = q;
    return std::string(R"({"operations":[]})");
  };
  HttpRequestIn get;
  get.method = "GET";
  get.target = "/cachefleet/operations?group=rs-1";
  auto out = Handle(get);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.content_type, "application/json");
  EXPECT_EQ(out.body, R"({"operations":[]})");
  EXPECT_EQ(seen_query, "group=rs-1");

  get.target = "/cachefleet/operations";
  EXPECT_EQ(Handle(get).status, 200);
  EXPECT_EQ(seen_query, "");

  get.target = "/cachefleet/operationz";
  EXPECT_EQ(Handle(get).status, 404);

  get.target = "/cachefleet/operations";
  get.method = "POST";
  EXPECT_EQ(Handle(get).status, 400);

  options_.extra_get_json["/cachefleet/operations"] = [](const std::string&) -> std::string {
    throw std::runtime_error("x");
  };
  get.method = "GET";
  out = Handle(get);
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(Code(out), "InternalFailure");
}

}  // namespace
}  // namespace cf::api
