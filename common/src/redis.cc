#include "msp/common/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <memory>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

namespace {

Endpoint ParseEndpoint(const std::string& address, int default_port) {
  Endpoint endpoint{address, default_port};
  const size_t colon = address.rfind(':');
  if (colon != std::string::npos) {
    endpoint.host = address.substr(0, colon);
    if (colon + 1 < address.size()) endpoint.port = std::stoi(address.substr(colon + 1));
  }
  return endpoint;
}

}  // namespace

Options OptionsFromAddress(const std::string& address) {
  Options options;
  constexpr std::string_view kSentinel = "sentinel://";
  if (address.rfind(kSentinel, 0) != 0) {
    const Endpoint server = ParseEndpoint(address, 6379);
    options.host = server.host;
    options.port = server.port;
    return options;
  }
  const std::string rest = address.substr(kSentinel.size());
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) options.master_name = rest.substr(slash + 1);
  for (const auto sentinel : absl::StrSplit(rest.substr(0, slash), ',', absl::SkipEmpty())) {
    options.sentinels.push_back(ParseEndpoint(std::string(sentinel), 26379));
  }
  if (options.sentinels.empty() || options.master_name.empty()) {
    throw std::invalid_argument(
        "a Sentinel address is sentinel://host:port,host:port,.../master-name: " + address);
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
  connected_ = {};
}

Endpoint Client::connected_to() {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

void Client::Connect() {
  Disconnect();
  connections_opened_.fetch_add(1);
  if (options_.sentinels.empty()) {
    ConnectTo({options_.host, options_.port});
    return;
  }
  ConnectTo(MasterFromSentinels());
  // The Sentinels' answer lags a failover by a moment: a server that is not master (not yet,
  // or no more) is not used.
  Reply role(static_cast<redisReply*>(redisCommand(ctx_, "ROLE")));
  if (role.View().At(0).String() != "master") {
    const Endpoint server = connected_;
    Disconnect();
    throw RedisError(absl::StrCat("Redis at ", server.host, ":", server.port, " is not the master ",
                                  options_.master_name),
                     true);
  }
}

void Client::ConnectTo(const Endpoint& server) {
  ctx_ = redisConnectWithTimeout(server.host.c_str(), server.port,
                                 ToTimeval(options_.connect_timeout));
  if (ctx_ == nullptr || ctx_->err != 0) {
    std::string message = ctx_ != nullptr ? ctx_->errstr : "out of memory";
    Disconnect();
    throw RedisError(
        absl::StrCat("cannot connect to Redis at ", server.host, ":", server.port, ": ", message),
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
  connected_ = server;
}

// Asks the Sentinels in turn, the one that answered last first, where the master is.
Endpoint Client::MasterFromSentinels() {
  std::string errors;
  for (size_t i = 0; i < options_.sentinels.size(); ++i) {
    const size_t index = (sentinel_ + i) % options_.sentinels.size();
    const Endpoint& sentinel = options_.sentinels[index];
    std::unique_ptr<redisContext, void (*)(redisContext*)> ctx(
        redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port,
                                ToTimeval(options_.connect_timeout)),
        &redisFree);
    if (ctx == nullptr || ctx->err != 0) {
      absl::StrAppend(&errors, " ", sentinel.host, ":", sentinel.port, " unreachable;");
      continue;
    }
    redisSetTimeout(ctx.get(), ToTimeval(options_.command_timeout));
    Reply master(static_cast<redisReply*>(redisCommand(
        ctx.get(), "SENTINEL get-master-addr-by-name %s", options_.master_name.c_str())));
    int port = 0;
    if (master.View().ArraySize() == 2 && absl::SimpleAtoi(master.View().At(1).String(), &port)) {
      sentinel_ = index;
      return {master.View().At(0).String(), port};
    }
    absl::StrAppend(&errors, " ", sentinel.host, ":", sentinel.port, " names no master;");
  }
  throw RedisError(
      absl::StrCat("no Sentinel named the Redis master ", options_.master_name, ":", errors), true);
}

void Client::Fail(const std::string& error) {
  // A server a failover demoted refuses writes: the master is elsewhere now, and the next
  // connection asks the Sentinels again.
  const bool demoted = !options_.sentinels.empty() && error.rfind("READONLY", 0) == 0;
  if (demoted) Disconnect();
  throw RedisError(absl::StrCat("Redis error: ", error), demoted || NotReady(error));
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
    if (raw->type == REDIS_REPLY_ERROR) Fail(std::string(raw->str, raw->len));
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
  if (!error.empty()) Fail(error);
  return replies;
}

bool Client::Ping() {
  try {
    return Command({"PING"}).String() == "PONG";
  } catch (const RedisError&) {
    return false;
  }
}

bool ReplicaOnline(const std::string& info_replication) {
  return info_replication.find(",state=online,") != std::string::npos;
}

std::vector<Reply> WriteReplicated(Client& client, std::vector<std::vector<std::string>> commands) {
  if (!client.replicated()) {
    if (commands.size() != 1) return client.Pipeline(commands);
    std::vector<Reply> replies;
    replies.push_back(client.Command(commands.front()));
    return replies;
  }
  // Asked after the writes, so that WAIT is sent only when there is a replica to wait for (it
  // would otherwise take its whole timeout on every write).
  commands.push_back({"INFO", "replication"});
  auto replies = client.Pipeline(commands);
  const uint64_t connection = client.connections_opened();
  const std::string info = replies.back().String();
  replies.pop_back();
  if (!ReplicaOnline(info)) return replies;
  const int64_t acknowledged =
      client.Command({"WAIT", "1", std::to_string(kReplicaWait.count())}).Integer();
  if (acknowledged >= 1 && client.connections_opened() == connection) return replies;
  throw RedisError("written, but not yet on a replica: write again later",
                   /*connection_lost=*/true);
}

}  // namespace msp::redis
