// The transactional outbox against a real PostgreSQL: a message exists exactly when its
// transaction commits, is delivered at least once, is retried with backoff, and is shared
// between concurrent relays without being delivered twice at once.
#include "msp/common/outbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "msp/common/trace.h"
#include "processes.h"

namespace msp::outbox {
namespace {

class OutboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    conninfo_ = new std::string(testing::NewDatabase("outbox"));
    pg::Connection conn(*conninfo_, 10000);
    ApplyMigrations(conn, "svc",
                    {TableMigration(1), TopicIndexMigration(2), OnBehalfOfMigration(3),
                     LeaseMigration(4), TraceMigration(5)});
  }
  void SetUp() override {
    pool_ = std::make_unique<pg::Pool>(
        pg::PoolOptions{*conninfo_, 4, std::chrono::milliseconds(2000), 5000, "svc, public"});
    auto conn = pool_->Acquire();
    conn->Exec("TRUNCATE outbox");
  }
  void EnqueueCommitted(const std::string& key, const std::string& topic = "t") {
    pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      Enqueue(tx.conn(), "acme", topic, key, "payload-" + key);
      tx.Commit();
      return 0;
    });
  }
  static RelayOptions Fast() {
    RelayOptions options;
    options.initial_backoff = std::chrono::milliseconds(20);
    options.max_backoff = std::chrono::milliseconds(50);
    options.poll_interval = std::chrono::milliseconds(10);
    return options;
  }

  static std::string* conninfo_;
  std::unique_ptr<pg::Pool> pool_;
};
std::string* OutboxTest::conninfo_ = nullptr;

TEST_F(OutboxTest, OnlyCommittedMessagesAreDelivered) {
  EnqueueCommitted("kept");
  try {
    pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      Enqueue(tx.conn(), "acme", "t", "rolled-back", "x");
      throw std::runtime_error("the change failed");
      return 0;
    });
  } catch (const std::runtime_error&) {
  }
  std::vector<Message> seen;
  Relay relay(pool_.get(), {{"t", [&](const Message& m) { seen.push_back(m); }}}, Fast());
  EXPECT_EQ(relay.CurrentBacklog().pending, 1);
  const auto backlog = relay.CurrentBacklog();
  EXPECT_EQ(backlog.pending, 1);
  EXPECT_GE(backlog.oldest_age_seconds, 0.0);
  EXPECT_EQ(relay.RunOnce(), 1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].key, "kept");
  EXPECT_EQ(seen[0].payload, "payload-kept");
  EXPECT_EQ(seen[0].msp_id, "acme");
  EXPECT_EQ(relay.RunOnce(), 0);  // delivered once, not again
  EXPECT_EQ(relay.CurrentBacklog().pending, 0);
  EXPECT_EQ(relay.CurrentBacklog().oldest_age_seconds, 0.0);
}

// A delivery hours later still names the person it relays for.
TEST_F(OutboxTest, AMessageKeepsWhomItIsFor) {
  pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    Enqueue(tx.conn(), "acme", "t", "for-alice", "p", "msp-admin:alice");
    Enqueue(tx.conn(), "acme", "t", "own-work", "p");
    tx.Commit();
    return 0;
  });
  std::mutex mu;  // a batch's deliveries run in parallel
  std::map<std::string, std::string> seen;
  Relay relay(pool_.get(),
              {{"t",
                [&](const Message& m) {
                  std::lock_guard lock(mu);
                  seen[m.key] = m.on_behalf_of;
                }}},
              Fast());
  EXPECT_EQ(relay.RunOnce(), 2);
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"for-alice", "msp-admin:alice"},
                                                      {"own-work", ""}}));
}

TEST_F(OutboxTest, ABatchTopicGetsItsMessagesInOneCallAndFailsThemTogether) {
  for (int i = 0; i < 5; ++i) EnqueueCommitted("b" + std::to_string(i), "batched");
  EnqueueCommitted("other", "elsewhere");  // not this relay's topic
  std::vector<std::vector<std::string>> calls;
  bool fail = true;
  Relay relay(pool_.get(),
              std::map<std::string, BatchHandler>{
                  {"batched",
                   [&](const std::vector<Message>& batch, std::vector<std::string>*) {
                     std::vector<std::string> keys;
                     for (const auto& m : batch) keys.push_back(m.key);
                     calls.push_back(keys);
                     if (fail) throw std::runtime_error("receiver down");
                   }}},
              Fast());
  EXPECT_EQ(relay.RunOnce(), 0);  // the whole batch failed
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"b0", "b1", "b2", "b3", "b4"}));
  {
    auto conn = pool_->Acquire();
    EXPECT_EQ(conn->Exec("SELECT count(*) FROM outbox WHERE topic = 'batched' AND attempts = 1 "
                         "AND delivered_at IS NULL AND last_error = 'receiver down'")
                  .Int64(0, 0),
              5);
  }
  fail = false;
  int delivered = 0;
  for (int pass = 0; pass < 100 && delivered < 5; ++pass) {
    delivered += relay.RunOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(delivered, 5);
  EXPECT_EQ(relay.RunOnce(), 0);
  EXPECT_EQ(relay.CurrentBacklog().pending, 1);  // "elsewhere" waits for its own relay
}

// A message carries the trace of the transaction that wrote it (the span current when it
// began), and is delivered in a child span of it; a batch of messages of different traces is
// delivered in none of them, each message naming its own.
TEST_F(OutboxTest, AMessageCarriesTheTraceOfTheWorkThatWroteIt) {
  const trace::Context create = trace::NewTrace();
  const trace::Context other = trace::NewTrace();
  for (const auto* span : {&create, &other}) {
    trace::Scope scope(*span);
    EnqueueCommitted(span == &create ? "traced" : "other-trace", span == &create ? "t" : "batched");
  }
  EnqueueCommitted("untraced", "batched");
  std::optional<trace::Context> delivered_in;
  std::string delivered_traceparent;
  std::map<std::string, std::string> batch_traces;
  bool batch_had_span = true;
  std::map<std::string, TopicHandler> topics;
  topics["t"].one = [&](const Message& m) {
    delivered_traceparent = m.traceparent;
    if (trace::Current() != nullptr) delivered_in = *trace::Current();
  };
  topics["batched"].batch = [&](const std::vector<Message>& batch, std::vector<std::string>*) {
    batch_had_span = trace::Current() != nullptr;
    for (const auto& m : batch) batch_traces[m.key] = m.traceparent;
  };
  Relay relay(pool_.get(), topics, Fast());
  EXPECT_EQ(relay.RunOnce(), 3);
  EXPECT_EQ(delivered_traceparent, trace::Format(create));
  ASSERT_TRUE(delivered_in.has_value()) << "the delivery ran in no span";
  EXPECT_EQ(delivered_in->trace_id, create.trace_id);
  EXPECT_EQ(delivered_in->parent_span_id, create.span_id);
  EXPECT_FALSE(batch_had_span);
  EXPECT_EQ(batch_traces["other-trace"], trace::Format(other));
  EXPECT_EQ(batch_traces["untraced"], "");
}

TEST_F(OutboxTest, FailedDeliveriesAreRetriedWithBackoffUntilTheyWork) {
  EnqueueCommitted("flaky");
  int calls = 0;
  RelayOptions options = Fast();
  options.initial_backoff = std::chrono::milliseconds(400);  // well above a slow machine's gap
  options.max_backoff = std::chrono::milliseconds(800);
  Relay relay(pool_.get(),
              {{"t",
                [&](const Message& m) {
                  ++calls;
                  if (m.attempts < 2) throw std::runtime_error("receiver down");
                }}},
              options);
  EXPECT_EQ(relay.RunOnce(), 0);
  EXPECT_EQ(relay.RunOnce(), 0) << "retried before its backoff";
  EXPECT_EQ(calls, 1);
  for (int i = 0; i < 500 && relay.CurrentBacklog().pending > 0; ++i) {
    relay.RunOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(relay.CurrentBacklog().pending, 0);
  EXPECT_EQ(calls, 3);
  auto conn = pool_->Acquire();
  auto row = conn->Exec("SELECT attempts, last_error FROM outbox WHERE message_key = 'flaky'");
  EXPECT_EQ(row.Int64(0, 0), 3);
  EXPECT_EQ(row.String(0, 1), "receiver down");
}

TEST_F(OutboxTest, UnknownTopicsWaitInsteadOfVanishing) {
  EnqueueCommitted("orphan", "nobody-listens");
  Relay relay(pool_.get(), {{"t", [](const Message&) {}}}, Fast());
  EXPECT_EQ(relay.RunOnce(), 0);
  EXPECT_EQ(relay.CurrentBacklog().pending, 1);
}

TEST_F(OutboxTest, ConcurrentRelaysDeliverEachMessageOnce) {
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) EnqueueCommitted("m" + std::to_string(i));
  std::mutex mu;
  std::multiset<std::string> delivered;
  auto handler = [&](const Message& m) {
    std::lock_guard<std::mutex> lock(mu);
    delivered.insert(m.key);
  };
  Relay a(pool_.get(), {{"t", handler}}, Fast());
  Relay b(pool_.get(), {{"t", handler}}, Fast());
  a.Start();
  b.Start();
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (delivered.size() >= kMessages) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  a.Stop();
  b.Stop();
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kMessages));
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(),
            static_cast<size_t>(kMessages));
  EXPECT_EQ(a.CurrentBacklog().pending, 0);
}

// A relay that claimed messages and then hung or died delivers nothing and records nothing:
// when its lease ends another relay delivers them. The first relay's late outcome, whatever it
// says, does not undo the second's.
TEST_F(OutboxTest, AMessageWhoseLeaseEndedIsDeliveredByAnotherRelay) {
  EnqueueCommitted("again");
  RelayOptions short_lease = Fast();
  short_lease.lease = std::chrono::milliseconds(300);
  std::atomic<int> calls{0};
  std::atomic<bool> taken_over{false};
  Relay hung(pool_.get(),
             {{"t",
               [&](const Message&) {
                 ++calls;
                 for (int i = 0; i < 500 && !taken_over; ++i) {
                   std::this_thread::sleep_for(std::chrono::milliseconds(10));
                 }
                 throw std::runtime_error("late failure");
               }}},
             short_lease);
  std::thread hung_pass([&] { EXPECT_EQ(hung.RunOnce(), 0); });
  Relay other(pool_.get(),
              {{"t",
                [&](const Message& m) {
                  ++calls;
                  EXPECT_EQ(m.key, "again");
                }}},
              short_lease);
  // Not before the lease ends.
  while (calls == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(other.RunOnce(), 0) << "delivered while another relay's lease held it";
  int delivered = 0;
  for (int i = 0; i < 200 && delivered == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    delivered = other.RunOnce();
  }
  EXPECT_EQ(delivered, 1);
  taken_over = true;
  hung_pass.join();
  EXPECT_EQ(calls, 2);
  auto conn = pool_->Acquire();
  auto row = conn->Exec(
      "SELECT delivered_at IS NOT NULL, last_error FROM outbox WHERE message_key = 'again'");
  EXPECT_TRUE(row.Bool(0, 0));
  EXPECT_EQ(row.String(0, 1), "");
  EXPECT_EQ(other.RunOnce(), 0);
}

// A delivery waits on a receiver with no transaction open and no pooled connection held.
TEST_F(OutboxTest, ADeliveryHoldsNoConnection) {
  EnqueueCommitted("one");
  pg::Pool single({*conninfo_, 1, std::chrono::milliseconds(500), 5000, "svc, public"});
  bool queried = false;
  Relay relay(&single,
              {{"t",
                [&](const Message&) {
                  auto conn = single.Acquire();  // times out if the relay held the only one
                  queried = conn->Exec("SELECT 1").Int64(0, 0) == 1;
                }}},
              Fast());
  EXPECT_EQ(relay.RunOnce(), 1);
  EXPECT_TRUE(queried);
}

TEST_F(OutboxTest, ABatchHandlerRetriesOnlyTheMessagesItFailed) {
  for (int i = 0; i < 4; ++i) EnqueueCommitted("p" + std::to_string(i), "batched");
  std::vector<std::string> seen;
  Relay relay(pool_.get(),
              std::map<std::string, BatchHandler>{
                  {"batched",
                   [&](const std::vector<Message>& batch, std::vector<std::string>* errors) {
                     for (size_t i = 0; i < batch.size(); ++i) {
                       seen.push_back(batch[i].key);
                       if (batch[i].key == "p2" && batch[i].attempts == 0) {
                         (*errors)[i] = "not yet";
                       }
                     }
                   }}},
              Fast());
  EXPECT_EQ(relay.RunOnce(), 3);
  int delivered = 0;
  for (int i = 0; i < 100 && delivered == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    delivered = relay.RunOnce();
  }
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(seen, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p2"}));
}

// A topic batched per actor: a call's token names one person, so each batch is one MSP's and
// one person's.
TEST_F(OutboxTest, BatchesPerActorHoldOneMspAndOnePerson) {
  pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    Enqueue(tx.conn(), "acme", "batched", "a1", "p", "msp-admin:alice");
    Enqueue(tx.conn(), "acme", "batched", "b1", "p", "msp-admin:bob");
    Enqueue(tx.conn(), "acme", "batched", "a2", "p", "msp-admin:alice");
    Enqueue(tx.conn(), "other", "batched", "o1", "p", "msp-admin:alice");
    tx.Commit();
    return 0;
  });
  std::mutex mu;
  std::set<std::vector<std::string>> batches;
  TopicHandler topic;
  topic.batch_per_actor = true;
  topic.batch = [&](const std::vector<Message>& batch, std::vector<std::string>*) {
    std::vector<std::string> keys;
    for (const auto& m : batch) keys.push_back(m.key);
    std::lock_guard lock(mu);
    batches.insert(keys);
  };
  Relay relay(pool_.get(), std::map<std::string, TopicHandler>{{"batched", topic}}, Fast());
  EXPECT_EQ(relay.RunOnce(), 4);
  EXPECT_EQ(batches, (std::set<std::vector<std::string>>{{"a1", "a2"}, {"b1"}, {"o1"}}));
}

}  // namespace
}  // namespace msp::outbox

namespace msp::outbox {
namespace {

// A step of a bigger statement writes its messages the same way Enqueue does.
TEST_F(OutboxTest, RowsWrittenInAStatementOfTheChangeAreMessagesLikeAnyOther) {
  auto conn = pool_->Acquire();
  conn->Exec(
      "WITH changed AS (SELECT 'acme' AS msp, 'k' || g AS key FROM generate_series(1, 2) g) " +
      InsertRows("SELECT msp, " + TopicLiteral("t") +
                 ", key, 'p'::bytea, 'msp-admin:alice' FROM changed"));
  std::mutex mu;  // a claim's messages are delivered in parallel
  std::map<std::string, Message> seen;
  Relay relay(pool_.get(),
              {{"t",
                [&](const Message& m) {
                  std::lock_guard lock(mu);
                  seen[m.key] = m;
                }}},
              Fast());
  EXPECT_EQ(relay.RunOnce(), 2);
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& [key, message] : seen) {
    EXPECT_EQ(message.msp_id, "acme") << key;
    EXPECT_EQ(message.on_behalf_of, "msp-admin:alice") << key;
    EXPECT_EQ(message.payload, "p") << key;
  }
  EXPECT_EQ(TopicLiteral("assign-services"), "'assign-services'");
  EXPECT_THROW(TopicLiteral("t'; DROP TABLE outbox; --"), std::invalid_argument);
}

TEST_F(OutboxTest, RelaysOnOneOutboxDeliverOnlyTheirOwnTopics) {
  EnqueueCommitted("slow-1", "slow");
  EnqueueCommitted("quick-1", "quick");
  std::vector<std::string> quick_seen;
  Relay quick(pool_.get(), {{"quick", [&](const Message& m) { quick_seen.push_back(m.key); }}},
              Fast());
  // The quick relay leaves the other topic alone: it has no handler for it, and it is not a
  // failure.
  EXPECT_EQ(quick.RunOnce(), 1);
  EXPECT_EQ(quick_seen, std::vector<std::string>{"quick-1"});
  EXPECT_EQ(quick.RunOnce(), 0);
  EXPECT_EQ(quick.CurrentBacklog().pending, 1);  // the whole outbox's backlog
  auto conn = pool_->Acquire();
  EXPECT_EQ(conn->Exec("SELECT attempts FROM outbox WHERE message_key = 'slow-1'").Int64(0, 0), 0);
  Relay slow(pool_.get(), {{"slow", [](const Message&) {}}}, Fast());
  EXPECT_EQ(slow.RunOnce(), 1);
  EXPECT_EQ(quick.CurrentBacklog().pending, 0);
}

}  // namespace
}  // namespace msp::outbox
