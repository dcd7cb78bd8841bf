#include "redis_ha.h"

#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "msp/common/redis.h"

namespace msp::testing {
namespace {

redis::Options Direct(int port) {
  redis::Options options;
  options.port = port;
  return options;
}

// What the server at `port` answers to `args` (an empty reply when it cannot be asked).
std::vector<std::string> Ask(int port, const std::vector<std::string>& args) {
  try {
    redis::Client client(Direct(port));
    const redis::Reply reply = client.Command(args);
    if (reply.IsArray()) {
      std::vector<std::string> out;
      for (size_t i = 0; i < reply.ArraySize(); ++i) {
        const auto item = reply.View().At(i);
        out.push_back(item.IsString() ? item.String() : "");
      }
      return out;
    }
    return {reply.IsString() ? reply.String() : ""};
  } catch (const redis::RedisError&) {
    return {};
  }
}

}  // namespace

RedisHa::RedisHa(std::chrono::milliseconds down_after) {
  servers_.push_back(std::make_unique<RedisServer>());
  servers_.push_back(std::make_unique<RedisServer>(
      std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(servers_[0]->port())}));
  for (int i = 0; i < 3; ++i) {
    sentinels_.push_back(std::make_unique<RedisSentinel>(kMasterName, servers_[0]->port(),
                                                         /*quorum=*/2, down_after, down_after * 3));
  }
  // Each Sentinel finds the replica and the other Sentinels through the master.
  const bool ready =
      Within(std::chrono::seconds(30), [&] {
        for (const auto& s : sentinels_) {
          try {
            redis::Client sentinel(Direct(s->port()));
            if (sentinel.Command({"SENTINEL", "replicas", kMasterName}).ArraySize() != 1 ||
                sentinel.Command({"SENTINEL", "sentinels", kMasterName}).ArraySize() != 2) {
              return false;
            }
          } catch (const redis::RedisError&) {
            return false;
          }
        }
        return true;
      }).has_value();
  if (!ready) throw std::runtime_error("the Sentinels never found each other: " + Logs());
  // The first full copy waits for the master's diskless sync delay (5 s by default).
  if (!Within(std::chrono::seconds(30), [&] { return Healthy(); })) {
    throw std::runtime_error("the replica never came in sync: " + Logs());
  }
}

bool RedisHa::Healthy() const {
  const int master = Master();
  if (master < 0 || !SaysMaster(master)) return false;
  const auto info = Ask(servers_[master]->port(), {"INFO", "replication"});
  return !info.empty() && redis::ReplicaOnline(info[0]);
}

std::string RedisHa::Address() const {
  std::string address = "sentinel://";
  for (size_t i = 0; i < sentinels_.size(); ++i) {
    absl::StrAppend(&address, i == 0 ? "" : ",", "127.0.0.1:", sentinels_[i]->port());
  }
  return absl::StrCat(address, "/", kMasterName);
}

std::vector<int> RedisHa::SentinelPorts() const {
  std::vector<int> ports;
  for (const auto& s : sentinels_) ports.push_back(s->port());
  return ports;
}

int RedisHa::Master() const {
  for (const auto& s : sentinels_) {
    const auto master = Ask(s->port(), {"SENTINEL", "get-master-addr-by-name", kMasterName});
    if (master.size() != 2) continue;
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (master[1] == std::to_string(servers_[i]->port())) return static_cast<int>(i);
    }
  }
  return -1;
}

bool RedisHa::SaysMaster(int index) const {
  const auto role = Ask(servers_.at(index)->port(), {"ROLE"});
  return !role.empty() && role[0] == "master";
}

std::string RedisHa::Logs() const {
  std::string logs;
  for (size_t i = 0; i < sentinels_.size(); ++i) {
    absl::StrAppend(&logs, "sentinel ", i, ":\n", sentinels_[i]->log(), "\n");
  }
  return logs.size() > 20000 ? logs.substr(logs.size() - 20000) : logs;
}

}  // namespace msp::testing
