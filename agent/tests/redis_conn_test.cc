#include "agent/redis/redis_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstring>

#include <gtest/gtest.h>

namespace cf::agent {
namespace {

redisReply ErrorReply(const char* text) {
  redisReply r{};
  r.type = REDIS_REPLY_ERROR;
  r.str = const_cast<char*>(text);
  r.len = std::strlen(text);
  return r;
}

TEST(RedisErrorTest, Classify) {
  EXPECT_EQ(ClassifyRedisError("MOVED 3999 127.0.0.1:6381"), RedisErrorKind::kMoved);
  EXPECT_EQ(ClassifyRedisError("ASK 3999 127.0.0.1:6381"), RedisErrorKind::kAsk);
  EXPECT_EQ(ClassifyRedisError("BUSYKEY Target key name already exists."), RedisErrorKind::kBusyKey);
  EXPECT_EQ(ClassifyRedisError("TRYAGAIN Multiple keys request during rehashing of slot"),
            RedisErrorKind::kTryAgain);
  EXPECT_EQ(ClassifyRedisError("LOADING Redis is loading the dataset in memory"),
            RedisErrorKind::kLoading);
  EXPECT_EQ(ClassifyRedisError("BUSY Redis is busy running a script."), RedisErrorKind::kBusy);
  EXPECT_EQ(ClassifyRedisError("OOM command not allowed"), RedisErrorKind::kOom);
  EXPECT_EQ(ClassifyRedisError("READONLY You can't write against a read only replica."),
            RedisErrorKind::kReadOnly);
  EXPECT_EQ(ClassifyRedisError("ERR Unknown node abc"), RedisErrorKind::kOther);
  EXPECT_EQ(ClassifyRedisError("ASKING"), RedisErrorKind::kOther);  // word match, not prefix
}

TEST(RedisErrorTest, TranslateReplies) {
  struct Case {
    const char* text;
    Errc code;
  } cases[] = {
      {"MOVED 1 127.0.0.1:1", Errc::kFailedPrecondition},
      {"ASK 1 127.0.0.1:1", Errc::kFailedPrecondition},
      {"BUSYKEY Target key name already exists.", Errc::kAlreadyExists},
      {"TRYAGAIN Multiple keys", Errc::kUnavailable},
      {"LOADING Redis is loading", Errc::kUnavailable},
      {"OOM command not allowed", Errc::kResourceExhausted},
      {"ERR Slot 5 is already busy", Errc::kFailedPrecondition},
  };
  for (const auto& c : cases) {
    redisReply r = ErrorReply(c.text);
    Error e = TranslateRedisError("127.0.0.1:1", nullptr, &r);
    EXPECT_EQ(e.code, c.code) << c.text;
    EXPECT_NE(e.message.find(c.text), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("127.0.0.1:1"), std::string::npos);
  }
}

TEST(RedisErrorTest, TranslateContextErrors) {
  redisContext ctx{};
  ctx.err = REDIS_ERR_IO;
  std::strcpy(ctx.errstr, "Connection refused");
  EXPECT_EQ(TranslateRedisError("h:1", &ctx, nullptr).code, Errc::kUnavailable);
  std::strcpy(ctx.errstr, "Resource temporarily unavailable");
  EXPECT_EQ(TranslateRedisError("h:1", &ctx, nullptr).code, Errc::kTimeout);
  std::strcpy(ctx.errstr, "Connection timed out");
  EXPECT_EQ(TranslateRedisError("h:1", &ctx, nullptr).code, Errc::kTimeout);
  ctx.err = REDIS_ERR_EOF;
  std::strcpy(ctx.errstr, "Server closed the connection");
  EXPECT_EQ(TranslateRedisError("h:1", &ctx, nullptr).code, Errc::kUnavailable);
  ctx.err = REDIS_ERR_PROTOCOL;
  std::strcpy(ctx.errstr, "Protocol error");
  EXPECT_EQ(TranslateRedisError("h:1", &ctx, nullptr).code, Errc::kInternal);
}

// A listening socket that never answers: exercises connect refusal and command timeouts
// without a redis-server.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(RedisConnTest, RefusedConnectionIsUnavailable) {
  uint16_t port;
  {
    SilentServer s;
    port = s.port();
  }  // closed: nothing listens there now
  RedisConn c({.host = "127.0.0.1", .port = port, .connect_timeout_ms = 200});
  auto r = c.Command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable) << r.error().message;
  EXPECT_FALSE(c.connected());
}

TEST(RedisConnTest, CommandTimeoutIsTimeoutAndDropsTheConnection) {
  SilentServer s;
  RedisConn c({.host = "127.0.0.1", .port = s.port(), .connect_timeout_ms = 200,
               .command_timeout_ms = 100});
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.Command({"PING"});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().message;
  EXPECT_GE(ms, 90);
  EXPECT_LT(ms, 2000);
  EXPECT_FALSE(c.connected());
  auto p = c.Pipeline({{"PING"}, {"PING"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(c.pending(), 0u);
}

}  // namespace
}  // namespace cf::agent
