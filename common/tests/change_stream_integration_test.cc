// Change events on a real redis-server: publish, consume in a group, redelivery of what was not
// acknowledged, takeover from a crashed consumer, backlog figures.
#include <gtest/gtest.h>

#include <thread>

#include "msp/common/change_stream.h"
#include "msp/events/v1/change_events.pb.h"
#include "processes.h"

namespace msp::change_stream {
namespace {

redis::Options OptionsFor(int port) {
  redis::Options options;
  options.port = port;
  options.command_timeout = std::chrono::milliseconds(2000);
  return options;
}

events::v1::CustomerChanged Event(const std::string& id, int64_t version) {
  events::v1::CustomerChanged e;
  e.set_customer_id(id);
  e.set_msp_id("msp-1");
  e.set_version(version);
  return e;
}

int64_t VersionOf(const Entry& entry) {
  events::v1::CustomerChanged e;
  EXPECT_TRUE(e.ParseFromString(entry.data));
  return e.version();
}

TEST(ChangeStreamTest, GroupReadsFromTheBeginningAndRedeliversUnacknowledged) {
  redis::Client client(OptionsFor(testing::SharedRedis().port()));
  const std::string stream = "test:changes:redeliver";
  // Published before the group exists: still read.
  Publish(client, Event("c1", 1), stream);
  ConsumerGroup reader(&client, stream, "g", "reader-a");
  reader.Ensure();
  reader.Ensure();  // twice is harmless
  Publish(client, Event("c1", 2), stream);

  std::vector<Entry> first = reader.Read(10, std::chrono::milliseconds(100));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].type, "msp.events.v1.CustomerChanged");
  EXPECT_EQ(VersionOf(first[0]), 1);
  EXPECT_EQ(VersionOf(first[1]), 2);
  // The append time Redis put in the id: a moment ago on this machine's clock.
  const auto age = std::chrono::system_clock::now() - AppendTime(first[1]);
  EXPECT_GE(age, std::chrono::milliseconds(-1000));
  EXPECT_LE(age, std::chrono::seconds(30));
  EXPECT_LE(AppendTime(first[0]), AppendTime(first[1]));
  EXPECT_EQ(reader.CurrentBacklog().pending, 2);
  EXPECT_EQ(reader.CurrentBacklog().undelivered, 0);

  // A reader restarting under the same name gets its unacknowledged entries again.
  ConsumerGroup restarted(&client, stream, "g", "reader-a");
  std::vector<Entry> again = restarted.Read(10, std::chrono::milliseconds(100));
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].id, first[0].id);
  restarted.Ack({again[0].id, again[1].id});
  EXPECT_EQ(restarted.CurrentBacklog().pending, 0);
  // Nothing new: an empty read after the block time.
  EXPECT_TRUE(restarted.Read(10, std::chrono::milliseconds(50)).empty());
  Publish(client, Event("c2", 1), stream);
  EXPECT_EQ(restarted.CurrentBacklog().undelivered, 1);
  ASSERT_EQ(restarted.Read(10, std::chrono::milliseconds(50)).size(), 1u);
}

// An event's trace travels beside it, like a message header; events without one have none.
TEST(ChangeStreamTest, AnEventsTraceparentReachesItsReader) {
  redis::Client client(OptionsFor(testing::SharedRedis().port()));
  const std::string stream = "test:changes:traced";
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto traced = Event("c1", 1);
  const auto untraced = Event("c2", 1);
  PublishAll(client, {{&traced, traceparent}, {&untraced, ""}}, stream);
  ConsumerGroup reader(&client, stream, "g", "reader");
  reader.Ensure();
  const auto entries = reader.Read(10, std::chrono::milliseconds(100));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].traceparent, traceparent);
  EXPECT_EQ(VersionOf(entries[0]), 1);
  EXPECT_EQ(entries[1].traceparent, "");
}

TEST(ChangeStreamTest, StaleEntriesOfACrashedConsumerAreTakenOver) {
  redis::Client client(OptionsFor(testing::SharedRedis().port()));
  const std::string stream = "test:changes:claim";
  ConsumerGroup crashed(&client, stream, "g", "replica-1");
  crashed.Ensure();
  for (int v = 1; v <= 3; ++v) Publish(client, Event("c", v), stream);
  ASSERT_EQ(crashed.Read(10, std::chrono::milliseconds(50)).size(), 3u);

  ConsumerGroup survivor(&client, stream, "g", "replica-2");
  // Not idle long enough yet: nothing to take.
  EXPECT_TRUE(survivor.ClaimStale(std::chrono::minutes(5), 10).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  std::vector<Entry> taken = survivor.ClaimStale(std::chrono::milliseconds(50), 10);
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_EQ(VersionOf(taken[2]), 3);
  survivor.Ack({taken[0].id, taken[1].id, taken[2].id});
  EXPECT_EQ(survivor.CurrentBacklog().pending, 0);
}

TEST(ChangeStreamTest, TheStreamIsCapped) {
  redis::Client client(OptionsFor(testing::SharedRedis().port()));
  const std::string stream = "test:changes:capped";
  for (int v = 1; v <= 500; ++v) Publish(client, Event("c", v), stream, 100);
  const int64_t length = client.Command({"XLEN", stream}).Integer();
  // Approximate trimming keeps whole macro nodes: at least the cap, far below what was added.
  EXPECT_GE(length, 100);
  EXPECT_LT(length, 500);
}

}  // namespace
}  // namespace msp::change_stream
