// The hiredis wrapper against a real redis-server.
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

TEST(RedisTest, ReconnectsAfterARestartAndKeepsAofData) {
  Client client(OptionsFor(SharedRedis().port()));
  client.Command({"SET", "durable", "yes"});
  SharedRedis().Kill();
  EXPECT_FALSE(client.Ping());
  SharedRedis().Start();
  EXPECT_TRUE(client.Ping());
  EXPECT_EQ(client.Command({"GET", "durable"}).String(), "yes");
}

}  // namespace
}  // namespace msp::redis
