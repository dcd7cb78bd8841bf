// The hiredis wrapper against a real redis-server.
#include <thread>

#include <gtest/gtest.h>

#include "msp/common/redis.h"
#include "processes.h"

namespace msp::redis {
namespace {

using testing::SharedRedis;

Options OptionsFor(int port) {
  Options options;
  options.port = port;
  options.command_timeout = std::chrono::milliseconds(500);
  options.connect_timeout = std::chrono::milliseconds(500);
  return options;
}

TEST(RedisTest, CommandsAreBinarySafe) {
  Client client(OptionsFor(SharedRedis().port()));
  const std::string value("a\0b\r\nc", 6);
  EXPECT_EQ(client.Command({"SET", "k1", value, "PX", "60000"}).String(), "OK");
  EXPECT_EQ(client.Command({"GET", "k1"}).String(), value);
  EXPECT_TRUE(client.Command({"GET", "missing"}).IsNil());
  EXPECT_EQ(client.Command({"INCR", "counter"}).Integer(), 1);
  client.Command({"RPUSH", "list", "x", "y"});
  EXPECT_EQ(client.Command({"LRANGE", "list", "0", "-1"}).Strings(),
            (std::vector<std::string>{"x", "y"}));
  EXPECT_THROW(client.Command({"NOSUCHCOMMAND"}), RedisError);
}

TEST(RedisTest, APipelineAnswersEveryCommandInOrder) {
  Client client(OptionsFor(SharedRedis().port()));
  auto replies = client.Pipeline({{"SET", "p1", "one"}, {"INCR", "p-counter"}, {"GET", "p1"}});
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].String(), "OK");
  EXPECT_EQ(replies[1].Integer(), 1);
  EXPECT_EQ(replies[2].String(), "one");
  // An error reply throws once every reply was read: the others were applied and the
  // connection stays in step for the next command.
  EXPECT_THROW(client.Pipeline({{"INCR", "p-counter"}, {"NOSUCHCOMMAND"}, {"INCR", "p-counter"}}),
               RedisError);
  EXPECT_EQ(client.Command({"GET", "p-counter"}).String(), "3");
  EXPECT_TRUE(client.Pipeline({}).empty());
}

TEST(RedisTest, UnreachableServerFailsFast) {
  Client client(OptionsFor(testing::FreePort()));
  EXPECT_FALSE(client.Ping());
  try {
    client.Command({"PING"});
    FAIL() << "no error";
  } catch (const RedisError& e) {
    EXPECT_TRUE(e.connection_lost());
  }
}

// A server of its own that writes its append-only file before it answers: with Redis' default
// `appendfsync everysec` a write may wait up to 2 s behind a slow background fsync after its
// reply has gone, and a kill -9 in that window loses it (seen once on a loaded CI machine).
TEST(RedisTest, ReconnectsAfterARestartAndKeepsAofData) {
  testing::RedisServer server({"--appendfsync", "always"});
  Client client(OptionsFor(server.port()));
  client.Command({"SET", "durable", "yes"});
  server.Kill();
  EXPECT_FALSE(client.Ping());
  server.Start();
  EXPECT_TRUE(client.Ping());
  EXPECT_EQ(client.Command({"GET", "durable"}).String(), "yes");
}

// A restarted server answers -LOADING until its data is back. The harness waits for PONG (the
// test above once saw Ping fail right after Start), and the client treats LOADING like a lost
// connection: the same command succeeds later.
TEST(RedisTest, ARestartedServerServesOnlyOnceItsDataIsLoaded) {
  testing::RedisServer slow({"--key-load-delay", "3000"});  // 3 ms a key while loading
  Client client(OptionsFor(slow.port()));
  client.Command({"EVAL", "for i = 1, 300 do redis.call('SET', 'k' .. i, 'v') end", "0"});
  // Into the append-only file's RDB base, whose loading the delay slows down.
  client.Command({"BGREWRITEAOF"});
  for (int i = 0; i < 500; ++i) {
    const std::string info = client.Command({"INFO", "persistence"}).String();
    if (info.find("aof_rewrite_in_progress:0") != std::string::npos &&
        info.find("aof_rewrite_scheduled:0") != std::string::npos &&
        info.find("aof_last_bgrewrite_status:ok") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  slow.Kill();
  slow.Start(/*wait_until_ready=*/false);
  bool loading_seen = false;
  for (int i = 0; i < 1000; ++i) {
    try {
      EXPECT_EQ(client.Command({"DBSIZE"}).Integer(), 300);
      break;
    } catch (const RedisError& e) {
      EXPECT_TRUE(e.connection_lost()) << e.what();
      loading_seen = loading_seen || std::string(e.what()).find("LOADING") != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_TRUE(loading_seen) << "the server never answered LOADING: the test proves nothing";

  slow.Kill();
  slow.Start();  // waits for PONG
  EXPECT_TRUE(client.Ping());
  EXPECT_EQ(client.Command({"DBSIZE"}).Integer(), 300);
}

}  // namespace
}  // namespace msp::redis
