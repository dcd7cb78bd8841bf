#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "processes.h"

namespace msp::testing {

// Redis as the design runs it highly available, on loopback: a master, a replica and three
// Sentinels (quorum 2), each a real redis-server. The Sentinels hold a master down after
// `down_after` without an answer. Returns from the constructor once every Sentinel knows the
// replica and the other two (a failover needs both) and the replica is in sync.
class RedisHa {
 public:
  static constexpr char kMasterName[] = "msp-ha";

  explicit RedisHa(std::chrono::milliseconds down_after = std::chrono::milliseconds(1000));
  RedisHa(const RedisHa&) = delete;
  RedisHa& operator=(const RedisHa&) = delete;

  // The services' --redis_address: sentinel://127.0.0.1:p1,...,/msp-ha.
  std::string Address() const;
  // The Sentinels' ports.
  std::vector<int> SentinelPorts() const;
  // The server (0: started as master, 1: started as replica) whose port the first Sentinel
  // that answers names as master, or -1.
  int Master() const;
  // Whether the server at `index` says it is a master (ROLE).
  bool SaysMaster(int index) const;
  // The master the Sentinels name says it is one, and a replica of it is in sync (online).
  bool Healthy() const;
  RedisServer& server(int index) { return *servers_.at(index); }
  // Every Sentinel's log, for a failing test's message.
  std::string Logs() const;

 private:
  std::vector<std::unique_ptr<RedisServer>> servers_;
  std::vector<std::unique_ptr<RedisSentinel>> sentinels_;
};

}  // namespace msp::testing
