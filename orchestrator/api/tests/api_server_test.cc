// In-process ApiServer tests: real sockets on an ephemeral port, a fake Dispatcher, and real
// clients (/usr/bin/python3 + boto3, /usr/bin/aws = AWS CLI v2) run as subprocesses with a
// deadline. Also raw HTTP checks (keep-alive, headers, limits, routing, graceful stop).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "orchestrator/api/server/api_server.h"
#include "orchestrator/api/sigv4.h"
#include "orchestrator/api/xml_util.h"

namespace cf::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;

constexpr char kAkid[] = "AKIDTEST";
constexpr char kSecret[] = "secret-1";
constexpr char kSessionAkid[] = "ASIATEST";
constexpr char kSessionSecret[] = "secret-2";
constexpr char kPython[] = "/usr/bin/python3";
constexpr char kAwsCli[] = "/usr/bin/aws";
constexpr size_t kMaxBody = 64 * 1024;

// ---------------------------------------------------------------- fake action handlers

class FakeBackend {
 public:
  void Register(Dispatcher& d) {
    d.Register("DescribeReplicationGroups", [this](const ApiRequest& req, pugi::xml_node result) {
      Record(req);
      const std::string id = req.params.Get("ReplicationGroupId").value_or("rg-1");
      if (id == "missing") {
        return std::optional<ApiError>(
            ApiError{404, "ReplicationGroupNotFoundFault", "ReplicationGroup missing not found."});
      }
      auto rg = result.append_child("ReplicationGroups").append_child("ReplicationGroup");
      AppendText(rg, "ReplicationGroupId", id);
      AppendText(rg, "Description", "fake group \xC3\xBC");
      AppendText(rg, "Status", "available");
      auto pending = rg.append_child("PendingModifiedValues");
      AppendDouble(pending.append_child("Resharding").append_child("SlotMigration"),
                   "ProgressPercentage", 42.5);
      AppendList(rg, "MemberClusters", "ClusterId", {id + "-001", id + "-002"});
      auto ng = rg.append_child("NodeGroups").append_child("NodeGroup");
      AppendText(ng, "NodeGroupId", "0001");
      AppendText(ng, "Status", "available");
      auto ep = ng.append_child("PrimaryEndpoint");
      AppendText(ep, "Address", "127.0.0.1");
      AppendInt(ep, "Port", 6379);
      auto member = ng.append_child("NodeGroupMembers").append_child("NodeGroupMember");
      AppendText(member, "CacheClusterId", id + "-001");
      AppendText(member, "CacheNodeId", "0001");
      AppendText(member, "CurrentRole", "primary");
      AppendText(rg, "AutomaticFailover", "enabled");
      AppendBool(rg, "ClusterEnabled", false);
      AppendBool(rg, "AuthTokenEnabled", true);
      AppendInt(rg, "SnapshotRetentionLimit", 1);
      AppendTimestamp(rg, "ReplicationGroupCreateTime", 1714566896789);
      AppendList(rg, "UserGroupIds", "member", {});
      return std::optional<ApiError>();
    });
    d.Register("CreateReplicationGroup", [this](const ApiRequest& req, pugi::xml_node result) {
      Record(req);
      auto ngs =
          req.params.GetStructListChecked("NodeGroupConfiguration", "NodeGroupConfiguration");
      if (auto* e = std::get_if<ApiError>(&ngs)) return std::optional<ApiError>(*e);
      auto rg = result.append_child("ReplicationGroup");
      AppendText(rg, "ReplicationGroupId", req.params.Get("ReplicationGroupId").value_or(""));
      AppendText(rg, "Status", "creating");
      return std::optional<ApiError>();
    });
    d.Register("TestFailover",
               [this](const ApiRequest& req, pugi::xml_node) -> std::optional<ApiError> {
                 Record(req);
                 throw std::runtime_error("fake handler failure");
               });
    d.Register("DescribeEvents", [this](const ApiRequest& req, pugi::xml_node result) {
      Record(req);
      std::this_thread::sleep_for(slow_handler_delay);
      AppendList(result, "Events", "Event", {});
      return std::optional<ApiError>();
    });
  }

  std::vector<ApiRequest> Requests(const std::string& action) {
    std::lock_guard lk(mu_);
    std::vector<ApiRequest> out;
    for (const auto& r : requests_) {
      if (r.action == action) out.push_back(r);
    }
    return out;
  }

  std::chrono::milliseconds slow_handler_delay{0};  // set before the server starts

 private:
  void Record(const ApiRequest& req) {
    std::lock_guard lk(mu_);
    requests_.push_back(req);
  }

  std::mutex mu_;
  std::vector<ApiRequest> requests_;  // guarded by mu_
};

// ---------------------------------------------------------------- subprocesses

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs argv under `env -i` with `env` and a 120 s deadline (coreutils timeout).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
  char err_path[] = "/tmp/cf_api_test_stderr_XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  std::string cmd = "env -i";
  for (const auto& [k, v] : env) cmd += " " + ShellQuote(k + "=" + v);
  cmd += " timeout 120";
  for (const auto& a : argv) cmd += " " + ShellQuote(a);
  cmd += " 2>" + ShellQuote(err_path);
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  r.err = ss.str();
  std::remove(err_path);
  return r;
}

class TempHome {
 public:
  TempHome() {
    char tmpl[] = "/tmp/cf_api_test_home_XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempHome() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::map<std::string, std::string> BaseEnv(const TempHome& home) {
  return {{"PATH", "/usr/bin:/bin"},
          {"HOME", home.path()},
          {"LANG", "C.UTF-8"},
          {"AWS_CONFIG_FILE", home.path() + "/config"},
          {"AWS_SHARED_CREDENTIALS_FILE", home.path() + "/credentials"},
          {"AWS_EC2_METADATA_DISABLED", "true"},
          {"AWS_PAGER", ""}};
}

// ---------------------------------------------------------------- raw HTTP client

class RawClient {
 public:
  explicit RawClient(uint16_t port) : stream_(ioc_) {
    stream_.expires_after(std::chrono::seconds(10));
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  void Write(http::request<http::string_body>& req) {
    stream_.expires_after(std::chrono::seconds(10));
    http::write(stream_, req);
  }

  http::response<http::string_body> Read() {
    stream_.expires_after(std::chrono::seconds(10));
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }

  http::response<http::string_body> Send(http::request<http::string_body> req) {
    Write(req);
    return Read();
  }

  // True if the server closed the connection (EOF or reset) within the deadline.
  bool PeerClosed(std::chrono::milliseconds deadline) {
    stream_.expires_after(deadline);
    char c;
    beast::error_code ec;
    stream_.socket().read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

http::request<http::string_body> SignedPost(uint16_t port, const std::string& body,
                                            const std::string& akid = kAkid,
                                            const std::string& secret = kSecret) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string amz_date = FormatAmzDate(now);
  const std::string host = "127.0.0.1:" + std::to_string(port);
  const std::string ct = "application/x-www-form-urlencoded; charset=utf-8";
  SigV4Request s{
      "POST", "/", "", {{"host", host}, {"content-type", ct}, {"x-amz-date", amz_date}}, body};
  http::request<http::string_body> req{http::verb::post, "/", 11};
  req.set(http::field::host, host);
  req.set(http::field::content_type, ct);
  req.set("X-Amz-Date", amz_date);
  req.set(http::field::authorization,
          SignAuthorization(s, {"content-type", "host", "x-amz-date"}, akid, secret, amz_date,
                            "us-west-2", "elasticache"));
  req.body() = body;
  req.prepare_payload();
  return req;
}

// Error code from an ErrorResponse body; "" if the body is not one.
std::string XmlErrorCode(const std::string& body, std::string* request_id = nullptr) {
  pugi::xml_document doc;
  if (!doc.load_string(body.c_str())) return "";
  auto err = doc.child("ErrorResponse");
  if (request_id) *request_id = err.child_value("RequestId");
  return err.child("Error").child_value("Code");
}

// ---------------------------------------------------------------- fixture

class ApiServerTest : public ::testing::Test {
 protected:
  void StartServer(std::function<void(ApiServerOptions&)> tweak = nullptr) {
    ApiServerOptions opts;
    opts.listen_host = "127.0.0.1";
    opts.port = 0;
    opts.threads = 2;
    opts.credentials = {{kAkid, kSecret}, {kSessionAkid, kSessionSecret}};
    opts.max_body_bytes = kMaxBody;
    opts.health_json = [] { return std::string(R"({"status":"ok","agents":[]})"); };
    if (tweak) tweak(opts);
    backend_.Register(dispatcher_);
    server_ = std::make_unique<ApiServer>(opts, dispatcher_);
    const Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  static void RequireBoto3() {
    if (access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " not installed";
  }
  static void RequireAwsCli() {
    if (access(kAwsCli, X_OK) != 0) GTEST_SKIP() << kAwsCli << " not installed";
  }

  // Runs boto_call.py; returns the list of per-call results.
  json Boto(const json& calls, const std::string& region = "eu-west-1",
            const std::string& akid = kAkid, const std::string& secret = kSecret,
            int max_attempts = 1, const std::string& session_token = "") {
    json spec = {{"endpoint", Endpoint()}, {"access_key", akid},           {"secret", secret},
                 {"region", region},       {"max_attempts", max_attempts}, {"calls", calls}};
    if (!session_token.empty()) spec["session_token"] = session_token;
    TempHome home;
    const auto r =
        RunCommand({kPython, std::string(CF_API_TEST_DIR) + "/clients/boto_call.py", spec.dump()},
                   BaseEnv(home));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json out = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(out.is_array()) << "stdout: " << r.out << "\nstderr: " << r.err;
    return out.is_array() ? out : json::array();
  }

  CommandResult Cli(const std::vector<std::string>& args, const std::string& region,
                    const std::string& secret = kSecret) {
    TempHome home;
    auto env = BaseEnv(home);
    env["AWS_ACCESS_KEY_ID"] = kAkid;
    env["AWS_SECRET_ACCESS_KEY"] = secret;
    env["AWS_DEFAULT_REGION"] = region;
    std::vector<std::string> argv = {kAwsCli, "elasticache"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--endpoint-url", Endpoint(), "--output", "json"});
    return RunCommand(argv, env);
  }

  FakeBackend backend_;
  Dispatcher dispatcher_;
  std::unique_ptr<ApiServer> server_;
};

// ---------------------------------------------------------------- boto3

TEST_F(ApiServerTest, Boto3DescribeReplicationGroups) {
  RequireBoto3();
  StartServer();
  const json res = Boto(json::array({{{"operation", "describe_replication_groups"},
                                      {"params", {{"ReplicationGroupId", "rg-7"}}}}}));
  ASSERT_EQ(res.size(), 1u);
  const json& r = res[0];
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  EXPECT_EQ(r["http_status"], 200);
  // The request id reaches boto3 from the body and equals the x-amzn-RequestId header.
  EXPECT_EQ(r["request_id"].get<std::string>().size(), 36u);
  EXPECT_EQ(r["request_id"], r["header_request_id"]);

  const json& rg = r["response"]["ReplicationGroups"][0];
  EXPECT_EQ(rg["ReplicationGroupId"], "rg-7");
  EXPECT_EQ(rg["Description"], "fake group \xC3\xBC");
  EXPECT_EQ(rg["Status"], "available");
  EXPECT_EQ(rg["MemberClusters"], json({"rg-7-001", "rg-7-002"}));
  EXPECT_EQ(rg["ClusterEnabled"], false);
  EXPECT_EQ(rg["AuthTokenEnabled"], true);
  EXPECT_EQ(rg["SnapshotRetentionLimit"], 1);
  EXPECT_EQ(rg["PendingModifiedValues"]["Resharding"]["SlotMigration"]["ProgressPercentage"], 42.5);
  EXPECT_EQ(rg["NodeGroups"][0]["PrimaryEndpoint"]["Port"], 6379);
  EXPECT_EQ(rg["NodeGroups"][0]["NodeGroupMembers"][0]["CurrentRole"], "primary");
  EXPECT_EQ(rg["UserGroupIds"], json::array());
  EXPECT_EQ(rg["ReplicationGroupCreateTime"].get<std::string>().rfind("2024-05-01 12:34:56.789", 0),
            0u)
      << rg["ReplicationGroupCreateTime"];

  const auto seen = backend_.Requests("DescribeReplicationGroups");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].region, "eu-west-1");
  EXPECT_EQ(seen[0].access_key_id, kAkid);
  EXPECT_EQ(seen[0].version, "2015-02-02");
  EXPECT_EQ(seen[0].params.all(),
            (std::map<std::string, std::string>{{"ReplicationGroupId", "rg-7"}}));
  EXPECT_EQ(seen[0].request_id, r["request_id"]);
}

TEST_F(ApiServerTest, Boto3CreateReplicationGroupWithLists) {
  RequireBoto3();
  StartServer();
  const json params = {
      {"ReplicationGroupId", "rg-cme"},
      {"ReplicationGroupDescription", "cluster mode on"},
      {"NumNodeGroups", 2},
      {"NodeGroupConfiguration",
       {{{"NodeGroupId", "0001"},
         {"Slots", "0-8191"},
         {"ReplicaCount", 1},
         {"ReplicaAvailabilityZones", {"us-east-1b"}}},
        {{"NodeGroupId", "0002"},
         {"Slots", "8192-16383"},
         {"ReplicaAvailabilityZones", {"us-east-1a", "us-east-1c"}}}}},
      {"SecurityGroupIds", {"sg-1", "sg-2"}},
      {"PreferredCacheClusterAZs", json::array()},
      {"Tags", {{{"Key", "env"}, {"Value", "prod"}}, {{"Key", "team"}, {"Value", ""}}}}};
  const json res =
      Boto(json::array({{{"operation", "create_replication_group"}, {"params", params}}}));
  ASSERT_EQ(res.size(), 1u);
  ASSERT_TRUE(res[0]["ok"].get<bool>()) << res[0].dump();
  EXPECT_EQ(res[0]["response"]["ReplicationGroup"]["Status"], "creating");

  const auto seen = backend_.Requests("CreateReplicationGroup");
  ASSERT_EQ(seen.size(), 1u);
  const QueryParams& p = seen[0].params;
  EXPECT_EQ(p.Get("ReplicationGroupDescription").value(), "cluster mode on");
  const auto ngs = p.GetStructList("NodeGroupConfiguration", "NodeGroupConfiguration").value();
  ASSERT_EQ(ngs.size(), 2u);
  EXPECT_EQ(ngs[1].Get("Slots").value(), "8192-16383");
  EXPECT_EQ(ngs[1].GetList("ReplicaAvailabilityZones", "AvailabilityZone").value(),
            (std::vector<std::string>{"us-east-1a", "us-east-1c"}));
  EXPECT_EQ(p.GetList("SecurityGroupIds", "SecurityGroupId").value(),
            (std::vector<std::string>{"sg-1", "sg-2"}));
  EXPECT_EQ(p.GetList("PreferredCacheClusterAZs", "AvailabilityZone").value(),
            std::vector<std::string>{});
  const auto tags = p.GetStructList("Tags", "Tag").value();
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[1].Get("Value").value(), "");
}

TEST_F(ApiServerTest, Boto3FaultCodeReachesTheException) {
  RequireBoto3();
  StartServer();
  const json res = Boto(json::array({{{"operation", "describe_replication_groups"},
                                      {"params", {{"ReplicationGroupId", "missing"}}}}}));
  ASSERT_EQ(res.size(), 1u);
  const json& r = res[0];
  EXPECT_FALSE(r["ok"].get<bool>());
  EXPECT_EQ(r["code"], "ReplicationGroupNotFoundFault");
  EXPECT_EQ(r["exception"], "ReplicationGroupNotFoundFault");  // the modeled exception class
  EXPECT_EQ(r["message"], "ReplicationGroup missing not found.");
  EXPECT_EQ(r["type"], "Sender");
  EXPECT_EQ(r["http_status"], 404);
  EXPECT_EQ(r["request_id"], r["header_request_id"]);
  EXPECT_EQ(r["request_id"].get<std::string>().size(), 36u);
}

TEST_F(ApiServerTest, Boto3WrongSecretAndUnknownKey) {
  RequireBoto3();
  StartServer();
  const json calls = json::array({{{"operation", "describe_replication_groups"}}});
  json r = Boto(calls, "us-east-1", kAkid, "not-the-secret")[0];
  EXPECT_EQ(r["code"], "SignatureDoesNotMatch") << r.dump();
  EXPECT_EQ(r["http_status"], 403);
  r = Boto(calls, "us-east-1", "AKIDUNKNOWN", kSecret)[0];
  EXPECT_EQ(r["code"], "InvalidClientTokenId") << r.dump();
  EXPECT_EQ(r["http_status"], 403);
  EXPECT_TRUE(backend_.Requests("DescribeReplicationGroups").empty());
}

TEST_F(ApiServerTest, Boto3SessionCredentials) {
  RequireBoto3();
  StartServer();
  const json r = Boto(json::array({{{"operation", "describe_replication_groups"}}}), "ap-south-1",
                      kSessionAkid, kSessionSecret, 1, "FQoGZXIvYXdzEXAMPLE+/=")[0];
  ASSERT_TRUE(r["ok"].get<bool>()) << r.dump();
  const auto seen = backend_.Requests("DescribeReplicationGroups");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].access_key_id, kSessionAkid);
  EXPECT_EQ(seen[0].region, "ap-south-1");
}

TEST_F(ApiServerTest, Boto3HandlerThatThrowsIsInternalFailureAndServerKeepsRunning) {
  RequireBoto3();
  StartServer();
  const json calls =
      json::array({{{"operation", "test_failover"},
                    {"params", {{"ReplicationGroupId", "rg-1"}, {"NodeGroupId", "0001"}}}},
                   {{"operation", "describe_replication_groups"}}});
  const json res = Boto(calls, "us-east-1", kAkid, kSecret, /*max_attempts=*/2);
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0]["code"], "InternalFailure") << res[0].dump();
  EXPECT_EQ(res[0]["type"], "Receiver");
  EXPECT_EQ(res[0]["http_status"], 500);
  EXPECT_EQ(res[0]["retries"], 1);  // clients retry 5xx: the handler ran twice
  EXPECT_EQ(backend_.Requests("TestFailover").size(), 2u);
  EXPECT_TRUE(res[1]["ok"].get<bool>()) << res[1].dump();
}

// ---------------------------------------------------------------- AWS CLI v2

TEST_F(ApiServerTest, AwsCliDescribeReplicationGroups) {
  RequireAwsCli();
  StartServer();
  const auto r =
      Cli({"describe-replication-groups", "--replication-group-id", "rg-cli"}, "ap-southeast-2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["ReplicationGroups"][0]["ReplicationGroupId"], "rg-cli");
  EXPECT_EQ(out["ReplicationGroups"][0]["MemberClusters"], json({"rg-cli-001", "rg-cli-002"}));
  EXPECT_EQ(out["ReplicationGroups"][0]["ClusterEnabled"], false);
  const auto seen = backend_.Requests("DescribeReplicationGroups");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].region, "ap-southeast-2");
  EXPECT_EQ(seen[0].params.Get("ReplicationGroupId").value(), "rg-cli");
}

TEST_F(ApiServerTest, AwsCliCreateReplicationGroupWithLists) {
  RequireAwsCli();
  StartServer();
  const auto r =
      Cli({"create-replication-group", "--replication-group-id", "rg-cli",
           "--replication-group-description", "from the cli", "--num-node-groups", "2",
           "--node-group-configuration",
           R"([{"NodeGroupId":"0001","Slots":"0-8191","ReplicaAvailabilityZones":["a","b"]},)"
           R"({"NodeGroupId":"0002","Slots":"8192-16383"}])",
           "--tags", "Key=env,Value=prod", "Key=team,Value=cache", "--preferred-cache-cluster-a-zs",
           "us-east-1a", "us-east-1b"},
          "eu-central-1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ReplicationGroup"]["ReplicationGroupId"], "rg-cli");
  const auto seen = backend_.Requests("CreateReplicationGroup");
  ASSERT_EQ(seen.size(), 1u);
  const QueryParams& p = seen[0].params;
  EXPECT_EQ(p.Get("ReplicationGroupDescription").value(), "from the cli");
  const auto ngs = p.GetStructList("NodeGroupConfiguration", "NodeGroupConfiguration").value();
  ASSERT_EQ(ngs.size(), 2u);
  EXPECT_EQ(ngs[0].GetList("ReplicaAvailabilityZones", "AvailabilityZone").value(),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ngs[1].Get("NodeGroupId").value(), "0002");
  EXPECT_EQ(p.GetStructList("Tags", "Tag").value().size(), 2u);
  EXPECT_EQ(p.GetList("PreferredCacheClusterAZs", "AvailabilityZone").value(),
            (std::vector<std::string>{"us-east-1a", "us-east-1b"}));
}

TEST_F(ApiServerTest, AwsCliReportsFaultsAndBadSignatures) {
  RequireAwsCli();
  StartServer();
  auto r = Cli({"describe-replication-groups", "--replication-group-id", "missing"}, "us-east-1");
  EXPECT_EQ(r.exit_code, 254) << r.out << r.err;
  EXPECT_NE(r.err.find("An error occurred (ReplicationGroupNotFoundFault) when calling the "
                       "DescribeReplicationGroups operation: ReplicationGroup missing not found."),
            std::string::npos)
      << r.err;
  r = Cli({"describe-replication-groups"}, "us-east-1", "wrong-secret");
  EXPECT_EQ(r.exit_code, 254);
  EXPECT_NE(r.err.find("(SignatureDoesNotMatch)"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- raw HTTP

TEST_F(ApiServerTest, KeepAliveHeadersAndRequestId) {
  StartServer();
  RawClient c(server_->port());
  for (int i = 0; i < 3; ++i) {  // one connection, three requests
    auto res =
        c.Send(SignedPost(server_->port(), "Action=DescribeReplicationGroups&Version=2015-02-02"));
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_TRUE(res.keep_alive());
    EXPECT_EQ(res[http::field::content_type], "text/xml");
    EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_string(res.body().c_str()));
    const std::string body_id = doc.child("DescribeReplicationGroupsResponse")
                                    .child("ResponseMetadata")
                                    .child_value("RequestId");
    EXPECT_EQ(std::string(res["x-amzn-RequestId"]), body_id);
    EXPECT_EQ(body_id.size(), 36u);
  }
  EXPECT_EQ(backend_.Requests("DescribeReplicationGroups")[0].region, "us-west-2");

  // Errors carry the same id in both places too.
  auto res = c.Send(SignedPost(server_->port(), "Action=Nope&Version=2015-02-02"));
  EXPECT_EQ(res.result_int(), 400);
  std::string body_id;
  EXPECT_EQ(XmlErrorCode(res.body(), &body_id), "InvalidAction");
  EXPECT_EQ(std::string(res["x-amzn-RequestId"]), body_id);

  // Connection: close is honoured.
  auto req = SignedPost(server_->port(), "Action=DescribeReplicationGroups");
  req.keep_alive(false);
  res = c.Send(req);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.PeerClosed(std::chrono::seconds(5)));
}

TEST_F(ApiServerTest, ProtocolErrorsOverTheWire) {
  StartServer();
  const uint16_t port = server_->port();
  // Unsigned.
  http::request<http::string_body> unsigned_req{http::verb::post, "/", 11};
  unsigned_req.set(http::field::host, "127.0.0.1");
  unsigned_req.set(http::field::content_type, "application/x-www-form-urlencoded");
  unsigned_req.body() = "Action=DescribeReplicationGroups&Version=2015-02-02";
  unsigned_req.prepare_payload();
  auto res = RawClient(port).Send(unsigned_req);
  EXPECT_EQ(res.result_int(), 403);
  EXPECT_EQ(XmlErrorCode(res.body()), "MissingAuthenticationToken");
  // Missing Action, wrong Version, list gap, control character.
  res = RawClient(port).Send(SignedPost(port, "Version=2015-02-02"));
  EXPECT_EQ(XmlErrorCode(res.body()), "MissingAction");
  res =
      RawClient(port).Send(SignedPost(port, "Action=DescribeReplicationGroups&Version=2012-01-01"));
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(XmlErrorCode(res.body()), "InvalidParameterValue");
  res = RawClient(port).Send(SignedPost(port, "Action=CreateReplicationGroup&L.member.2=x"));
  EXPECT_EQ(XmlErrorCode(res.body()), "InvalidParameterValue");
  res = RawClient(port).Send(SignedPost(port, "Action=CreateReplicationGroup&D=%01"));
  EXPECT_EQ(XmlErrorCode(res.body()), "InvalidParameterValue");
  EXPECT_TRUE(backend_.Requests("CreateReplicationGroup").empty());
}

TEST_F(ApiServerTest, RoutingAndHealth) {
  StartServer();
  const uint16_t port = server_->port();
  http::request<http::string_body> get{http::verb::get, "/cachefleet/health", 11};
  get.set(http::field::host, "127.0.0.1");
  auto res = RawClient(port).Send(get);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"status":"ok","agents":[]})");

  get.target("/elsewhere");
  res = RawClient(port).Send(get);
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(XmlErrorCode(res.body()), "NotFound");

  get.target("/");
  res = RawClient(port).Send(get);
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(XmlErrorCode(res.body()), "InvalidHttpRequest");
}

TEST_F(ApiServerTest, HealthNotConfiguredIs404) {
  StartServer([](ApiServerOptions& o) { o.health_json = nullptr; });
  http::request<http::string_body> get{http::verb::get, "/cachefleet/health", 11};
  get.set(http::field::host, "127.0.0.1");
  auto res = RawClient(server_->port()).Send(get);
  EXPECT_EQ(res.result_int(), 404);
}

TEST_F(ApiServerTest, BodyOverLimitIs413) {
  StartServer();
  RawClient c(server_->port());
  auto req = SignedPost(server_->port(),
                        "Action=DescribeReplicationGroups&Pad=" + std::string(kMaxBody + 100, 'x'));
  auto res = c.Send(req);
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(XmlErrorCode(res.body()), "RequestEntityTooLarge");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.PeerClosed(std::chrono::seconds(5)));
  // A body just under the limit is fine.
  auto ok = SignedPost(server_->port(),
                       "Action=DescribeReplicationGroups&Pad=" + std::string(kMaxBody - 100, 'x'));
  EXPECT_EQ(RawClient(server_->port()).Send(ok).result_int(), 200);
}

TEST_F(ApiServerTest, Expect100Continue) {
  StartServer();
  net::io_context ioc;
  beast::tcp_stream s(ioc);
  s.expires_after(std::chrono::seconds(10));
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  auto req =
      SignedPost(server_->port(), "Action=DescribeReplicationGroups&Pad=" + std::string(4000, 'x'));
  req.set(http::field::expect, "100-continue");
  http::request_serializer<http::string_body> sr{req};
  http::write_header(s, sr);
  beast::flat_buffer buf;
  http::response<http::empty_body> cont;
  http::read(s, buf, cont);
  EXPECT_EQ(cont.result(), http::status::continue_);
  http::write(s, sr);  // the body
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 200) << res.body();
}

TEST_F(ApiServerTest, MalformedHttpIs400) {
  StartServer();
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
  const std::string junk = "THIS IS NOT HTTP\r\n\r\n";
  net::write(s, net::buffer(junk));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(s, buf, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(XmlErrorCode(res.body()), "InvalidHttpRequest");
}

TEST_F(ApiServerTest, StopClosesIdleConnectionsQuickly) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_EQ(c.Send(SignedPost(server_->port(), "Action=DescribeReplicationGroups")).result_int(),
            200);
  const auto t0 = std::chrono::steady_clock::now();
  server_->Stop();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(ms, 1000);
  EXPECT_TRUE(c.PeerClosed(std::chrono::seconds(2)));
}

TEST_F(ApiServerTest, StopLetsInFlightRequestFinish) {
  backend_.slow_handler_delay = std::chrono::milliseconds(500);
  StartServer();
  RawClient c(server_->port());
  auto req = SignedPost(server_->port(), "Action=DescribeEvents&Version=2015-02-02");
  c.Write(req);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // handler is now running
  std::thread stopper([this] { server_->Stop(); });
  auto res = c.Read();
  stopper.join();
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_FALSE(res.keep_alive());  // stopping: the server closes after this response
  EXPECT_TRUE(c.PeerClosed(std::chrono::seconds(2)));
}

TEST_F(ApiServerTest, RestartAndPortInUse) {
  StartServer();
  server_->Stop();
  ASSERT_TRUE(server_->Start().ok());
  EXPECT_EQ(RawClient(server_->port())
                .Send(SignedPost(server_->port(), "Action=DescribeReplicationGroups"))
                .result_int(),
            200);
  ApiServerOptions opts;
  opts.port = server_->port();
  ApiServer second(opts, dispatcher_);
  const Status st = second.Start();
  EXPECT_FALSE(st.ok());
  // Starting twice is refused.
  EXPECT_FALSE(server_->Start().ok());
}

}  // namespace
}  // namespace cf::api
