#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

struct redisContext;
struct redisReply;

namespace msp::redis {

class RedisError : public std::runtime_error {
 public:
  RedisError(const std::string& message, bool connection_lost)
      : std::runtime_error(message), connection_lost_(connection_lost) {}
  // The connection was lost, or the server cannot serve yet (-LOADING while it replays its
  // append-only file, -MASTERDOWN, -TRYAGAIN): the same command may succeed later.
  bool connection_lost() const { return connection_lost_; }

 private:
  bool connection_lost_;
};

// A reply or one element of it, not owned: valid while the Reply it came from lives.
class ReplyView {
 public:
  explicit ReplyView(const redisReply* reply) : reply_(reply) {}
  bool IsNil() const;
  bool IsInteger() const;
  bool IsString() const;  // bulk string or status
  bool IsArray() const;
  int64_t Integer() const;
  std::string String() const;
  size_t ArraySize() const;
  // The i-th element of an array reply (a nil view when out of range).
  ReplyView At(size_t i) const;

 private:
  const redisReply* reply_;
};

// Owns one hiredis reply and frees it.
class Reply {
 public:
  explicit Reply(redisReply* reply);
  ~Reply();
  Reply(Reply&& other) noexcept : reply_(other.reply_) { other.reply_ = nullptr; }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  bool IsNil() const;
  bool IsInteger() const;
  bool IsString() const;  // bulk string or status
  bool IsArray() const;
  int64_t Integer() const;
  std::string String() const;
  size_t ArraySize() const;
  // Copies the string elements of an array reply (nil elements become "").
  std::vector<std::string> Strings() const;
  // For nested replies (XREADGROUP, XAUTOCLAIM).
  ReplyView View() const { return ReplyView(reply_); }

 private:
  redisReply* reply_;
};

struct Endpoint {
  std::string host;
  int port = 0;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  // Sentinel mode (when `sentinels` is not empty; host and port are then unused): the master is
  // the one the Sentinels name `master_name`, asked again on every new connection, so the
  // client follows a failover.
  std::vector<Endpoint> sentinels;
  std::string master_name;
};

// Options for "host:port" (port 6379 when left out), or for Sentinel mode
// "sentinel://host:port,host:port,.../master-name" (a Sentinel's port is 26379 when left out).
// Throws std::invalid_argument for a Sentinel address without Sentinels or master name.
Options OptionsFromAddress(const std::string& address);

// One connection with timeouts. A command that finds the connection lost reconnects once and
// is sent again only if it never reached the server; otherwise the caller gets RedisError.
// In Sentinel mode a connection goes to the server the Sentinels name as master, once it says
// it is one (ROLE); a write refused by a server demoted since (-READONLY) drops the connection
// and fails with connection_lost, so that the caller's retry reaches the new master.
class Client {
 public:
  explicit Client(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Binary-safe: every argument is sent with its length.
  Reply Command(const std::vector<std::string>& args);
  // Several commands in one round trip, their replies in order. Never sent again: on a lost
  // connection some may have been applied (RedisError, connection_lost). An error reply to any
  // of them throws RedisError after every reply was read.
  std::vector<Reply> Pipeline(const std::vector<std::vector<std::string>>& commands);
  bool Ping();
  // Where the current connection goes (empty host when none is open).
  Endpoint connected_to();
  // Whether the client finds its master through Sentinels (a replicated Redis).
  bool replicated() const { return !options_.sentinels.empty(); }
  // Connections opened so far: two calls saw the same number only if they went over the same
  // connection (a WAIT speaks only for the writes of its own connection).
  uint64_t connections_opened() const { return connections_opened_.load(); }

 private:
  void Connect();
  void ConnectTo(const Endpoint& server);
  Endpoint MasterFromSentinels();
  void Disconnect();
  // An error reply: RedisError, after dropping a connection to a server no longer master.
  [[noreturn]] void Fail(const std::string& error);

  Options options_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  Endpoint connected_;
  std::atomic<uint64_t> connections_opened_{0};
  size_t sentinel_ = 0;  // the Sentinel that answered last, asked first next time
};

// Writes that must survive a failover. With Sentinels, `commands` go in one round trip with an
// INFO replication; if the master has a replica online, a WAIT for it follows on the same
// connection, and the writes are confirmed only once a replica holds them. With no replica
// online (none connected, or one still making its first copy: a failover now would have
// nothing to promote) there is nothing to wait for. A write not confirmed throws RedisError
// (connection_lost: the caller writes again later), because the master could lose what it
// acknowledged alone. Without Sentinels, the commands as they are. The commands' replies, in
// order.
inline constexpr std::chrono::milliseconds kReplicaWait{500};
// Whether a master's INFO replication names a replica in sync (state=online).
bool ReplicaOnline(const std::string& info_replication);
std::vector<Reply> WriteReplicated(Client& client, std::vector<std::vector<std::string>> commands);

}  // namespace msp::redis
