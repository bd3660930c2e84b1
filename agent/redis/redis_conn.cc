#include "agent/redis/redis_conn.h"

#include <sys/time.h>

#include <hiredis/hiredis.h>

#include <cstring>

namespace cf::agent {
namespace {

timeval ToTimeval(uint32_t ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = static_cast<suseconds_t>(ms % 1000) * 1000;
  return tv;
}

bool StartsWithWord(std::string_view text, std::string_view word) {
  return text.size() >= word.size() && text.substr(0, word.size()) == word &&
         (text.size() == word.size() || text[word.size()] == ' ');
}

}  // namespace

void RedisContextDeleter::operator()(redisContext* c) const {
  if (c) redisFree(c);
}
void RedisReplyDeleter::operator()(redisReply* r) const {
  if (r) freeReplyObject(r);
}

RedisErrorKind ClassifyRedisError(std::string_view t) {
  if (StartsWithWord(t, "MOVED")) return RedisErrorKind::kMoved;
  if (StartsWithWord(t, "ASK")) return RedisErrorKind::kAsk;
  if (StartsWithWord(t, "BUSYKEY")) return RedisErrorKind::kBusyKey;
  if (StartsWithWord(t, "TRYAGAIN")) return RedisErrorKind::kTryAgain;
  if (StartsWithWord(t, "LOADING")) return RedisErrorKind::kLoading;
  if (StartsWithWord(t, "BUSY")) return RedisErrorKind::kBusy;
  if (StartsWithWord(t, "OOM")) return RedisErrorKind::kOom;
  if (StartsWithWord(t, "READONLY")) return RedisErrorKind::kReadOnly;
  if (StartsWithWord(t, "MASTERDOWN")) return RedisErrorKind::kMasterDown;
  if (StartsWithWord(t, "NOAUTH")) return RedisErrorKind::kNoAuth;
  return RedisErrorKind::kOther;
}

cf::Error TranslateRedisError(std::string_view where, const redisContext* ctx,
                              const redisReply* reply) {
  std::string prefix = "redis " + std::string(where) + ": ";
  if (ctx && ctx->err) {
    std::string text = ctx->errstr[0] ? ctx->errstr : "unknown connection error";
    switch (ctx->err) {
      case REDIS_ERR_IO:
      case REDIS_ERR_OTHER:
        // hiredis reports a read timeout as EAGAIN ("Resource temporarily unavailable") and a
        // connect timeout as ETIMEDOUT ("Connection timed out").
        if (text.find("timed out") != std::string::npos ||
            text.find("temporarily unavailable") != std::string::npos) {
          return MakeError(Errc::kTimeout, prefix + "timeout (" + text + ")");
        }
        return MakeError(Errc::kUnavailable, prefix + text);
      case REDIS_ERR_EOF:
        return MakeError(Errc::kUnavailable, prefix + "connection closed (" + text + ")");
      case REDIS_ERR_PROTOCOL:
      case REDIS_ERR_OOM:
      default:
        return MakeError(Errc::kInternal, prefix + text);
    }
  }
  if (!reply) return MakeError(Errc::kUnavailable, prefix + "no reply");
  if (reply->type != REDIS_REPLY_ERROR) {
    return MakeError(Errc::kInternal, prefix + "unexpected reply type " +
                                          std::to_string(reply->type));
  }
  std::string text(reply->str ? reply->str : "", reply->str ? reply->len : 0);
  Errc code = Errc::kFailedPrecondition;
  switch (ClassifyRedisError(text)) {
    case RedisErrorKind::kBusyKey: code = Errc::kAlreadyExists; break;
    case RedisErrorKind::kTryAgain:
    case RedisErrorKind::kLoading:
    case RedisErrorKind::kBusy:
    case RedisErrorKind::kMasterDown: code = Errc::kUnavailable; break;
    case RedisErrorKind::kOom: code = Errc::kResourceExhausted; break;
    case RedisErrorKind::kMoved:
    case RedisErrorKind::kAsk:
    case RedisErrorKind::kReadOnly:
    case RedisErrorKind::kNoAuth:
    case RedisErrorKind::kOther:
    case RedisErrorKind::kNone: code = Errc::kFailedPrecondition; break;
  }
  return MakeError(code, prefix + text);
}

// ---------------------------------------------------------------------------------------------
// RedisReply

RedisReply::RedisReply(RedisReplyPtr root)
    : root_(root.release(), [](const redisReply* r) {
        freeReplyObject(const_cast<redisReply*>(r));
      }) {
  r_ = root_.get();
}

bool RedisReply::is_string() const {
  return r_ && (r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS);
}
bool RedisReply::is_integer() const { return r_ && r_->type == REDIS_REPLY_INTEGER; }
bool RedisReply::is_array() const { return r_ && r_->type == REDIS_REPLY_ARRAY; }
bool RedisReply::is_nil() const { return !r_ || r_->type == REDIS_REPLY_NIL; }
std::string RedisReply::str() const {
  if (!is_string() || !r_->str) return {};
  return std::string(r_->str, r_->len);
}
long long RedisReply::integer() const { return is_integer() ? r_->integer : 0; }
size_t RedisReply::size() const { return is_array() ? r_->elements : 0; }
RedisReply RedisReply::at(size_t i) const {
  if (i >= size()) return RedisReply();
  return RedisReply(root_, r_->element[i]);
}

// ---------------------------------------------------------------------------------------------
// RedisConn

RedisConn::RedisConn(RedisConnOptions opts) : opts_(std::move(opts)) {}
RedisConn::~RedisConn() = default;
RedisConn::RedisConn(RedisConn&&) noexcept = default;
RedisConn& RedisConn::operator=(RedisConn&&) noexcept = default;

std::string RedisConn::where() const { return opts_.host + ":" + std::to_string(opts_.port); }

bool RedisConn::connected() const { return ctx_ && ctx_->err == 0; }

void RedisConn::Close() {
  ctx_.reset();
  pending_ = 0;
}

cf::Status RedisConn::Connect() {
  if (connected()) return {};
  Close();
  RedisContextPtr c(
      redisConnectWithTimeout(opts_.host.c_str(), opts_.port, ToTimeval(opts_.connect_timeout_ms)));
  if (!c) return MakeError(Errc::kInternal, "redis " + where() + ": cannot allocate context");
  if (c->err) return TranslateRedisError(where(), c.get(), nullptr);
  if (redisSetTimeout(c.get(), ToTimeval(opts_.command_timeout_ms)) != REDIS_OK) {
    return TranslateRedisError(where(), c.get(), nullptr);
  }
  ctx_ = std::move(c);
  return {};
}

void RedisConn::SetCommandTimeout(uint32_t command_timeout_ms) {
  opts_.command_timeout_ms = command_timeout_ms;
  if (connected()) redisSetTimeout(ctx_.get(), ToTimeval(command_timeout_ms));
}

cf::Error RedisConn::ContextError() {
  cf::Error e = TranslateRedisError(where(), ctx_.get(), nullptr);
  Close();  // a context with err set is dead in hiredis; the next call reconnects
  return e;
}

cf::Result<RedisReply> RedisConn::TakeReply(redisReply* raw) {
  RedisReplyPtr r(raw);
  if (r->type == REDIS_REPLY_ERROR) return TranslateRedisError(where(), nullptr, r.get());
  return RedisReply(std::move(r));
}

cf::Status RedisConn::Append(const std::vector<std::string>& argv) {
  if (!connected()) {
    if (pending_ > 0) return MakeError(Errc::kUnavailable, "redis " + where() + ": connection lost");
    if (auto s = Connect(); !s.ok()) return s;
  }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(argv.size()), ptrs.data(),
                             lens.data()) != REDIS_OK) {
    return ContextError();
  }
  ++pending_;
  return {};
}

cf::Result<RedisReply> RedisConn::GetReply() {
  if (!connected()) return MakeError(Errc::kUnavailable, "redis " + where() + ": not connected");
  if (pending_ == 0) return MakeError(Errc::kInternal, "redis " + where() + ": no pending reply");
  void* raw = nullptr;
  if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
    if (raw) freeReplyObject(raw);
    return ContextError();
  }
  --pending_;
  return TakeReply(static_cast<redisReply*>(raw));
}

cf::Status RedisConn::Flush() {
  if (!connected()) return MakeError(Errc::kUnavailable, "redis " + where() + ": not connected");
  int done = 0;
  while (!done) {
    if (redisBufferWrite(ctx_.get(), &done) != REDIS_OK) return ContextError();
  }
  return {};
}

cf::Result<RedisReply> RedisConn::Command(const std::vector<std::string>& argv) {
  if (pending_ > 0) {
    return MakeError(Errc::kInternal, "redis " + where() + ": command while pipeline pending");
  }
  if (auto s = Append(argv); !s.ok()) return s.error();
  return GetReply();
}

cf::Result<RedisReply> RedisConn::Command(std::initializer_list<std::string_view> argv) {
  std::vector<std::string> v;
  v.reserve(argv.size());
  for (auto a : argv) v.emplace_back(a);
  return Command(v);
}

cf::Result<std::vector<cf::Result<RedisReply>>> RedisConn::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (pending_ > 0) {
    return MakeError(Errc::kInternal, "redis " + where() + ": pipeline while replies pending");
  }
  for (const auto& c : commands) {
    if (auto s = Append(c); !s.ok()) return s.error();
  }
  std::vector<cf::Result<RedisReply>> out;
  out.reserve(commands.size());
  while (pending_ > 0) {
    auto r = GetReply();
    if (!r.ok() && !connected()) return r.error();  // connection error: the rest is lost
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cf::agent
