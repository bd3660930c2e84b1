// RedisConn: the one place the agent talks to hiredis (STYLE.md #10).
//
// A blocking RESP2 connection to one redis-server with a connect timeout and a per-command
// timeout (both named settings, see RedisConnOptions). Every failure comes back as a cf::Error
// built by TranslateRedisError(), the only function that interprets hiredis context errors and
// Redis error replies (-MOVED, -ASK, -BUSYKEY, -TRYAGAIN, -LOADING, ...).
//
// Lifecycle: the context is created lazily by the first command (or Connect()). After any
// context error (timeout, EOF, reset) hiredis leaves the context unusable; RedisConn drops it
// and the next call reconnects. Error *replies* do not break the connection.
//
// Pipelining: Append() queues commands in the output buffer, GetReply() flushes and reads
// replies in order. Pipeline() does both for a batch. If a context error happens mid-pipeline
// the remaining replies are lost and the connection is dropped.
//
// Threading: not thread-safe; one owner at a time (callers guard it with a mutex).
//
// Example:
//   RedisConn c({.host = "127.0.0.1", .port = 30001});
//   auto r = c.Command({"CLUSTER", "NODES"});
//   if (!r.ok()) return r.error();          // e.g. {kUnavailable, "redis 127.0.0.1:30001: ..."}
//   std::string text = r->str();
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct redisContext;
struct redisReply;

namespace cf::agent {

struct RedisContextDeleter {
  void operator()(redisContext* c) const;
};
struct RedisReplyDeleter {
  void operator()(redisReply* r) const;
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// What kind of Redis error reply a text is ("MOVED 3999 127.0.0.1:6381" -> kMoved).
enum class RedisErrorKind {
  kNone,        // not an error reply (context error or no error)
  kMoved,
  kAsk,
  kBusyKey,
  kTryAgain,
  kLoading,
  kBusy,        // a script or function is running
  kOom,
  kReadOnly,    // write to a replica
  kMasterDown,
  kNoAuth,
  kOther,       // "ERR ..." and anything else
};

RedisErrorKind ClassifyRedisError(std::string_view error_text);

// The one translation from hiredis/Redis failures to cf::Error. `where` names the peer
// ("127.0.0.1:30001") for the message. If `ctx` carries an error (ctx->err != 0) that wins;
// otherwise `reply` must be an error reply. Mapping:
//   timeouts -> kTimeout; connection refused/reset/EOF/other I/O -> kUnavailable;
//   protocol/OOM -> kInternal; LOADING, TRYAGAIN, BUSY, MASTERDOWN -> kUnavailable;
//   MOVED, ASK, READONLY, generic ERR -> kFailedPrecondition; BUSYKEY -> kAlreadyExists;
//   OOM -> kResourceExhausted. The message always contains the Redis error text verbatim.
cf::Error TranslateRedisError(std::string_view where, const redisContext* ctx,
                              const redisReply* reply);

// An owned reply with read-only accessors. Elements share ownership of the root reply.
class RedisReply {
 public:
  RedisReply() = default;
  explicit RedisReply(RedisReplyPtr root);

  bool is_string() const;   // bulk string or status
  bool is_integer() const;
  bool is_array() const;
  bool is_nil() const;
  std::string str() const;  // bulk/status text; "" otherwise
  long long integer() const;
  size_t size() const;      // array length; 0 otherwise
  RedisReply at(size_t i) const;  // element i of an array
  const redisReply* raw() const { return r_; }

 private:
  RedisReply(std::shared_ptr<const redisReply> root, const redisReply* r)
      : root_(std::move(root)), r_(r) {}
  std::shared_ptr<const redisReply> root_;
  const redisReply* r_ = nullptr;
};

struct RedisConnOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  uint32_t connect_timeout_ms = 500;
  uint32_t command_timeout_ms = 2000;  // per read/write on the socket
};

class RedisConn {
 public:
  explicit RedisConn(RedisConnOptions opts);
  ~RedisConn();
  RedisConn(RedisConn&&) noexcept;
  RedisConn& operator=(RedisConn&&) noexcept;
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Connects if not connected. Idempotent.
  cf::Status Connect();
  bool connected() const;
  void Close();
  // Changes the per-command timeout (applies to the live context too).
  void SetCommandTimeout(uint32_t command_timeout_ms);
  const RedisConnOptions& options() const { return opts_; }
  std::string where() const;

  // Sends one command and waits for its reply. An error reply is returned as cf::Error.
  cf::Result<RedisReply> Command(const std::vector<std::string>& argv);
  cf::Result<RedisReply> Command(std::initializer_list<std::string_view> argv);

  // Pipelining: queue commands, then read replies in order.
  cf::Status Append(const std::vector<std::string>& argv);
  cf::Result<RedisReply> GetReply();
  // Writes the queued commands now, without reading replies (GetReply reads them later).
  cf::Status Flush();
  size_t pending() const { return pending_; }
  // Sends all commands in one write and reads all replies. The outer Result fails on a
  // connection error; each inner Result carries that command's reply or error reply.
  cf::Result<std::vector<cf::Result<RedisReply>>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);

 private:
  cf::Error ContextError();  // translates and drops the dead context
  cf::Result<RedisReply> TakeReply(redisReply* r);

  RedisConnOptions opts_;
  RedisContextPtr ctx_;
  size_t pending_ = 0;  // appended commands whose replies were not read yet
};

}  // namespace cf::agent
