#include "msp/common/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include "absl/strings/str_cat.h"

namespace msp::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// A command's arguments as hiredis takes them: pointers and lengths (binary-safe).
struct Argv {
  explicit Argv(const std::vector<std::string>& args) {
    for (const auto& a : args) {
      pointers.push_back(a.data());
      lengths.push_back(a.size());
    }
  }
  int count() const { return static_cast<int>(pointers.size()); }
  std::vector<const char*> pointers;
  std::vector<size_t> lengths;
};

// Errors of a server that cannot serve yet (replaying its append-only file, a replica without
// its master, a failover under way): the same command succeeds later, like after a lost
// connection.
bool NotReady(std::string_view error) {
  for (std::string_view prefix : {"LOADING", "MASTERDOWN", "TRYAGAIN", "BUSY "}) {
    if (error.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace

Reply::Reply(redisReply* reply) : reply_(reply) {}
Reply::~Reply() {
  if (reply_ != nullptr) freeReplyObject(reply_);
}
bool Reply::IsNil() const { return View().IsNil(); }
bool Reply::IsInteger() const { return View().IsInteger(); }
bool Reply::IsString() const { return View().IsString(); }
bool Reply::IsArray() const { return View().IsArray(); }
int64_t Reply::Integer() const { return View().Integer(); }
std::string Reply::String() const { return View().String(); }
size_t Reply::ArraySize() const { return View().ArraySize(); }
std::vector<std::string> Reply::Strings() const {
  std::vector<std::string> out;
  const ReplyView view = View();
  for (size_t i = 0; i < view.ArraySize(); ++i) out.push_back(view.At(i).String());
  return out;
}

bool ReplyView::IsNil() const { return reply_ == nullptr || reply_->type == REDIS_REPLY_NIL; }
bool ReplyView::IsInteger() const {
  return reply_ != nullptr && reply_->type == REDIS_REPLY_INTEGER;
}
bool ReplyView::IsString() const {
  return reply_ != nullptr &&
         (reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS);
}
bool ReplyView::IsArray() const { return reply_ != nullptr && reply_->type == REDIS_REPLY_ARRAY; }
int64_t ReplyView::Integer() const { return IsInteger() ? reply_->integer : 0; }
std::string ReplyView::String() const {
  return IsString() ? std::string(reply_->str, reply_->len) : std::string();
}
size_t ReplyView::ArraySize() const { return IsArray() ? reply_->elements : 0; }
ReplyView ReplyView::At(size_t i) const {
  return ReplyView(i < ArraySize() ? reply_->element[i] : nullptr);
}

Options OptionsFromAddress(const std::string& address) {
  Options options;
  const size_t colon = address.rfind(':');
  options.host = address.substr(0, colon);
  if (colon != std::string::npos && colon + 1 < address.size()) {
    options.port = std::stoi(address.substr(colon + 1));
  }
  return options;
}

Client::Client(Options options) : options_(std::move(options)) {}

Client::~Client() { Disconnect(); }

void Client::Disconnect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

void Client::Connect() {
  Disconnect();
  ctx_ = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                 ToTimeval(options_.connect_timeout));
  if (ctx_ == nullptr || ctx_->err != 0) {
    std::string message = ctx_ != nullptr ? ctx_->errstr : "out of memory";
    Disconnect();
    throw RedisError(absl::StrCat("cannot connect to Redis at ", options_.host, ":", options_.port,
                                  ": ", message),
                     true);
  }
  redisSetTimeout(ctx_, ToTimeval(options_.command_timeout));
  redisEnableKeepAlive(ctx_);
  if (!options_.password.empty()) {
    auto* reply =
        static_cast<redisReply*>(redisCommand(ctx_, "AUTH %s", options_.password.c_str()));
    Reply auth(reply);
    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
      Disconnect();
      throw RedisError("Redis AUTH failed", false);
    }
  }
}

Reply Client::Command(const std::vector<std::string>& args) {
  Argv argv(args);
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = ctx_ == nullptr;
    if (fresh) Connect();
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(ctx_, argv.count(), argv.pointers.data(), argv.lengths.data()));
    if (raw == nullptr) {
      const int err = ctx_->err;
      std::string message = ctx_->errstr;
      Disconnect();
      // A write that timed out may have been applied: only a command that failed on a stale
      // connection before reaching the server (EOF on a reused socket) is sent again.
      if (!fresh && err == REDIS_ERR_EOF && attempt == 0) continue;
      throw RedisError(absl::StrCat("Redis command failed: ", message), true);
    }
    Reply reply(raw);
    if (raw->type == REDIS_REPLY_ERROR) {
      const std::string error(raw->str, raw->len);
      throw RedisError(absl::StrCat("Redis error: ", error), NotReady(error));
    }
    return reply;
  }
  throw RedisError("Redis command failed after reconnect", true);
}

std::vector<Reply> Client::Pipeline(const std::vector<std::vector<std::string>>& commands) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ctx_ == nullptr) Connect();
  for (const auto& args : commands) {
    Argv argv(args);
    redisAppendCommandArgv(ctx_, argv.count(), argv.pointers.data(), argv.lengths.data());
  }
  std::vector<Reply> replies;
  std::string error;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      std::string message = ctx_->errstr;
      Disconnect();
      throw RedisError(absl::StrCat("Redis pipeline failed: ", message), true);
    }
    auto* reply = static_cast<redisReply*>(raw);
    if (reply->type == REDIS_REPLY_ERROR && error.empty()) {
      error = std::string(reply->str, reply->len);
    }
    replies.emplace_back(reply);
  }
  if (!error.empty()) throw RedisError(absl::StrCat("Redis error: ", error), NotReady(error));
  return replies;
}

bool Client::Ping() {
  try {
    return Command({"PING"}).String() == "PONG";
  } catch (const RedisError&) {
    return false;
  }
}

}  // namespace msp::redis
