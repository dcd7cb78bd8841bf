// The Redis client in Sentinel mode against real servers on loopback: a master, a replica and
// three Sentinels (quorum 2). The client finds the master through the Sentinels, follows a
// failover after the master is killed, and follows a switchover away from a master left running
// (its clients are cut off or refused READONLY, and the next connection asks the Sentinels).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "msp/common/change_stream.h"
#include "msp/common/redis.h"
#include "msp/events/v1/change_events.pb.h"
#include "processes.h"
#include "redis_ha.h"

namespace msp::redis {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Within;
constexpr const char* kMaster = testing::RedisHa::kMasterName;

Options Direct(int port) {
  Options options;
  options.port = port;
  return options;
}

// What the Sentinel at `port` answers to `args` (an empty reply when it cannot be asked).
std::vector<std::string> AskSentinel(int port, const std::vector<std::string>& args) {
  try {
    Client sentinel(Direct(port));
    const Reply reply = sentinel.Command(args);
    return reply.IsArray() ? reply.Strings() : std::vector<std::string>{reply.String()};
  } catch (const RedisError&) {
    return {};
  }
}

class RedisSentinelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ha_ = std::make_unique<testing::RedisHa>();
    master_ = &ha_->server(0);
    replica_ = &ha_->server(1);
  }

  Options ViaSentinels() const {
    Options options;
    options.master_name = kMaster;
    for (const int port : ha_->SentinelPorts()) options.sentinels.push_back({"127.0.0.1", port});
    return options;
  }

  // Writes `key` until the master takes it (a failover may be under way): how long it took.
  static std::optional<std::chrono::milliseconds> WriteThrough(Client& client,
                                                               const std::string& key) {
    return Within(std::chrono::seconds(30), [&] {
      try {
        return client.Command({"SET", key, "v"}).String() == "OK";
      } catch (const RedisError&) {
        return false;  // connection_lost or not ready: the retry the caller would make
      }
    });
  }

  std::unique_ptr<testing::RedisHa> ha_;
  testing::RedisServer* master_ = nullptr;
  testing::RedisServer* replica_ = nullptr;
};

TEST_F(RedisSentinelTest, TheClientFindsTheMasterAndFollowsAFailover) {
  Client client(ViaSentinels());
  ASSERT_EQ(client.Command({"SET", "before", "1"}).String(), "OK");
  EXPECT_EQ(client.connected_to().port, master_->port());
  // Replicated before the fault: WAIT for one replica's acknowledgement (within the client's
  // 1 s command timeout).
  ASSERT_TRUE(Within(std::chrono::seconds(10), [&] {
    return client.Command({"WAIT", "1", "500"}).Integer() == 1;
  }));

  master_->Kill();
  const auto failover = WriteThrough(client, "after");
  ASSERT_TRUE(failover.has_value()) << ha_->Logs();
  std::printf("writes went through again %lld ms after the master was killed\n",
              static_cast<long long>(failover->count()));
  EXPECT_EQ(client.connected_to().port, replica_->port());
  EXPECT_EQ(client.Command({"GET", "before"}).String(), "1");
  // The other Sentinels learn the new master from the one that promoted it, a moment later.
  EXPECT_TRUE(Within(std::chrono::seconds(10), [&] {
    for (const int port : ha_->SentinelPorts()) {
      const auto master = AskSentinel(port, {"SENTINEL", "get-master-addr-by-name", kMaster});
      if (master.size() != 2 || master[1] != std::to_string(replica_->port())) return false;
    }
    return true;
  }));
}

// A switchover with the old master left running (SENTINEL FAILOVER, as an operator moves the
// master): the client's connection to it is cut, or its writes refused READONLY; either way the
// next connection asks the Sentinels and the writes land on the new master.
TEST_F(RedisSentinelTest, TheClientFollowsASwitchoverAwayFromARunningMaster) {
  Client client(ViaSentinels());
  ASSERT_EQ(client.Command({"SET", "before", "1"}).String(), "OK");
  ASSERT_EQ(client.connected_to().port, master_->port());
  ASSERT_TRUE(Within(std::chrono::seconds(10), [&] {
    return client.Command({"WAIT", "1", "500"}).Integer() == 1;
  }));
  ASSERT_TRUE(Within(std::chrono::seconds(30), [&] {
    // -NOGOODSLAVE until a Sentinel sees the replica in sync.
    const auto answer = AskSentinel(ha_->SentinelPorts()[0], {"SENTINEL", "FAILOVER", kMaster});
    return !answer.empty() && answer[0] == "OK";
  }));
  const auto switched = Within(std::chrono::seconds(30), [&] {
    try {
      return client.Command({"SET", "switched", "1"}).String() == "OK" &&
             client.connected_to().port == replica_->port();
    } catch (const RedisError& e) {
      EXPECT_TRUE(e.connection_lost()) << e.what();  // never a refusal the caller keeps
      return false;
    }
  });
  ASSERT_TRUE(switched.has_value()) << ha_->Logs();
  std::printf("writes reached the new master %lld ms after the switchover began\n",
              static_cast<long long>(switched->count()));
  EXPECT_EQ(client.Command({"GET", "before"}).String(), "1");
  Client old_master(Direct(master_->port()));
  EXPECT_EQ(old_master.Command({"ROLE"}).View().At(0).String(), "slave");
}

// A change event published through the Sentinels is on the replica when Publish returns, so a
// failover cannot lose it; with the replica connected but silent Publish fails (the outbox
// publishes again later); with no replica at all there is nothing to wait for.
TEST_F(RedisSentinelTest, AChangeEventIsOnTheReplicaWhenPublishReturns) {
  Client client(ViaSentinels());
  Client on_replica(Direct(replica_->port()));
  events::v1::CustomerChanged event;
  event.set_customer_id("c1");
  ASSERT_NO_THROW(change_stream::Publish(client, event, "test:changes"));
  EXPECT_EQ(on_replica.Command({"XLEN", "test:changes"}).Integer(), 1);

  replica_->Signal(SIGSTOP);
  const auto start = Clock::now();
  try {
    change_stream::Publish(client, event, "test:changes");
    ADD_FAILURE() << "a publication no replica acknowledged returned";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("not yet on a replica"), std::string::npos) << e.what();
  }
  EXPECT_GE(Clock::now() - start, kReplicaWait);
  replica_->Signal(SIGCONT);

  replica_->Kill();
  ASSERT_TRUE(Within(std::chrono::seconds(10), [&] {
    const std::string info = client.Command({"INFO", "replication"}).String();
    return info.find("connected_slaves:0") != std::string::npos;
  }));
  EXPECT_NO_THROW(change_stream::Publish(client, event, "test:changes"));
  EXPECT_EQ(client.Command({"XLEN", "test:changes"}).Integer(), 3);
}

TEST_F(RedisSentinelTest, NoSentinelReachableIsAConnectionLost) {
  Options options = ViaSentinels();
  options.master_name = "no-such-master";
  Client client(options);
  try {
    client.Command({"PING"});
    ADD_FAILURE() << "a master no Sentinel knows answered";
  } catch (const RedisError& e) {
    EXPECT_TRUE(e.connection_lost()) << e.what();
    EXPECT_NE(std::string(e.what()).find("no-such-master"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(client.Ping());
}

}  // namespace
}  // namespace msp::redis
