#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "msp/common/migrations.h"
#include "msp/common/pg.h"

// The transactional outbox: work that crosses services (assign services, send an email,
// publish a change event) is written as a row in the same transaction as the change it
// belongs to, and a relay delivers it at least once. Receivers are idempotent by the message
// key, so a crash at any point converges to the same end state after restart.
namespace msp::outbox {

// The outbox table, as a migration a service appends to its own list (in its own schema).
Migration TableMigration(int version);
// The due-message index by topic, and vacuum settings for a queue table; follows
// TableMigration in every service's list.
Migration TopicIndexMigration(int version);
// The on_behalf_of column; follows TopicIndexMigration.
Migration OnBehalfOfMigration(int version);
// Claimed messages carry a lease: the relay that claimed them, until when. Follows
// OnBehalfOfMigration.
Migration LeaseMigration(int version);
// Each message carries the trace of the work that wrote it (its `traceparent` column, whose
// default is the transaction's pg::kTraceparentSetting), so a trigger's rows carry it too.
// Follows LeaseMigration.
Migration TraceMigration(int version);

struct Message {
  int64_t id = 0;
  std::string msp_id;
  std::string topic;  // which handler delivers it: "assign-services", "email", ...
  std::string key;    // the receiver's idempotency key
  std::string payload;
  // Whom the delivery is for, as the enqueuing service verified it (Principal::Actor()); the
  // relay names them in its token (auth::OnBehalfOf). Empty: the service's own work.
  std::string on_behalf_of;
  // The W3C traceparent of the work that wrote it (empty: none): its delivery continues that
  // trace.
  std::string traceparent;
  int attempts = 0;                                   // failed deliveries so far
  std::chrono::system_clock::time_point create_time;  // when the change it belongs to committed
};

// The one way to write outbox rows: `rows` (a VALUES list or a SELECT) gives, in order, the
// MSP id, the topic (a service's declared constant, see TopicLiteral), the message key, the
// payload (bytea) and whom it is for (text, '' for the service's own work). As a statement of
// its own (Enqueue), or as a step of a bigger one (a data-modifying CTE), so that a message
// is written by the same statement as the change it belongs to. The change-event triggers are
// the exception: a trigger writes its rows in its own SQL, so that no write path can forget
// them (migrations of the customer and service-assignment services).
std::string InsertRows(std::string_view rows);
// A topic constant as a SQL string literal, for `rows`.
std::string TopicLiteral(std::string_view topic);

// Writes a message inside the caller's transaction: it exists exactly if the change commits.
void Enqueue(pg::Connection& conn, const std::string& msp_id, const std::string& topic,
             const std::string& key, const std::string& payload,
             const std::string& on_behalf_of = "");

// Delivers one message (in its trace's span); throws to have it retried later (with backoff
// and jitter).
using Handler = std::function<void(const Message&)>;
// Delivers a batch of one topic's messages in one go (fewer calls and commits than one by
// one). `errors` comes sized to the batch, all empty: the handler sets errors[i] to have
// message i retried, or throws to have them all retried. A batch whose messages share a trace
// is delivered in its span; otherwise the handler hands each message's traceparent on.
using BatchHandler =
    std::function<void(const std::vector<Message>& batch, std::vector<std::string>* errors)>;

struct TopicHandler {
  Handler one;         // delivers message by message, or
  BatchHandler batch;  // batch by batch
  // A batch holds messages for one MSP and one person (Message::on_behalf_of) only: a
  // receiver authorises a call by whom its token says it is for.
  bool batch_per_actor = false;
};

struct RelayOptions {
  // Messages one claim takes, at most.
  int batch_size = 32;
  // Deliveries in flight at once (a message, or a batch of a batch topic), each on a worker
  // thread of the relay's own.
  int parallelism = 8;
  std::chrono::milliseconds poll_interval{200};
  // How long a relay woken by a commit or a finished delivery waits for more to join its pass
  // (one transaction records outcomes and claims): a few milliseconds of delivery latency for
  // far fewer transactions, claims and deliveries under a steady load.
  std::chrono::milliseconds wake_linger{10};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{60000};
  // How long a claimed message is the claimer's: longer than a delivery can take (its calls'
  // deadlines). When it ends without an outcome (the relay died) the message is due again.
  std::chrono::milliseconds lease{15000};
  std::chrono::hours keep_delivered{24};
};

// The options --outbox_poll_ms, --outbox_linger_ms and --outbox_lease_ms say.
RelayOptions RelayOptionsFromFlags();

// Delivers an outbox's messages at least once. A pass is one short transaction that records the
// outcomes of finished deliveries and claims what is due (FOR UPDATE SKIP LOCKED: relays
// sharing an outbox never take the same message at once); deliveries run outside any
// transaction; a claim is a lease, so messages a dead relay held become due again when it ends.
// Relays with different topics on one outbox do not wait for each other (quick change
// events beside slow service calls).
class Relay {
 public:
  Relay(pg::Pool* pool, std::map<std::string, TopicHandler> topics, RelayOptions options = {});
  // Every topic delivered message by message.
  Relay(pg::Pool* pool, std::map<std::string, Handler> handlers, RelayOptions options = {});
  // Every topic delivered batch by batch.
  Relay(pg::Pool* pool, std::map<std::string, BatchHandler> batch_handlers,
        RelayOptions options = {});
  ~Relay();

  // One claim, its deliveries (on the calling thread), their outcomes. Returns how many were
  // delivered. For tests and tools; Start runs the relay for a service.
  int RunOnce();
  // Undelivered messages of the whole outbox (every topic, whichever relay delivers it, or
  // none) and the age of the oldest, in one query (gauges for metrics).
  struct Backlog {
    int64_t pending = 0;
    double oldest_age_seconds = 0;
  };
  Backlog CurrentBacklog();

  // Claims and records on a thread of its own, delivers on `parallelism` workers, until Stop
  // (or destruction). Stop waits for the deliveries in flight and records their outcomes.
  void Start();
  void Stop();
  // Claims now rather than at the next poll (call after committing a message).
  void Wake();

 private:
  // A delivery: one message, or a batch of a batch topic.
  struct Delivery {
    const TopicHandler* handler = nullptr;
    std::vector<Message> messages;
    std::string claim;  // the lease's holder
  };
  struct Outcome {
    int64_t id = 0;
    std::string claim;
    std::string error;  // empty: delivered
    int attempts = 0;
    std::string topic;
  };

  // One short transaction: records `outcomes`, then claims up to `claim_limit` messages.
  std::vector<Delivery> Pass(const std::vector<Outcome>& outcomes, int claim_limit);
  std::vector<Delivery> Claim(pg::Transaction& tx, int limit);
  void Record(pg::Transaction& tx, const std::vector<Outcome>& outcomes);
  static void Deliver(const Delivery& delivery, std::vector<Outcome>* outcomes);
  void Dispatch();
  void Work();
  std::chrono::milliseconds Backoff(int attempts) const;

  pg::Pool* pool_;
  std::map<std::string, TopicHandler> topics_;
  RelayOptions options_;
  std::string relay_id_;  // random, per relay object
  std::atomic<uint64_t> claims_{0};
  std::atomic<bool> running_{false};

  std::mutex mu_;
  std::condition_variable dispatcher_cv_;  // woken, outcomes, a free worker
  std::condition_variable worker_cv_;      // deliveries queued, stopping
  bool woken_ = false;
  bool stopping_ = false;
  bool workers_stopped_ = false;
  std::deque<Delivery> queued_;
  int idle_workers_ = 0;
  std::vector<Outcome> outcomes_;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
  std::chrono::steady_clock::time_point last_cleanup_{};
};

}  // namespace msp::outbox
