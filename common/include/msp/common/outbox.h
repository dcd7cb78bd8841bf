#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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

struct Message {
  int64_t id = 0;
  std::string msp_id;
  std::string topic;  // which handler delivers it: "assign-services", "email", ...
  std::string key;    // the receiver's idempotency key
  std::string payload;
  // Whom the delivery is for, as the enqueuing service verified it (Principal::Actor()); the
  // relay names them in its token (auth::OnBehalfOf). Empty: the service's own work.
  std::string on_behalf_of;
  int attempts = 0;                                   // failed deliveries so far
  std::chrono::system_clock::time_point create_time;  // when the change it belongs to committed
};

// Writes a message inside the caller's transaction: it exists exactly if the change commits.
void Enqueue(pg::Connection& conn, const std::string& msp_id, const std::string& topic,
             const std::string& key, const std::string& payload,
             const std::string& on_behalf_of = "");

// Delivers one message; throws to have it retried later (with backoff and jitter).
using Handler = std::function<void(const Message&)>;
// Delivers all of a pass's messages of one topic at once (fewer round trips than one by one);
// throws to have them all retried.
using BatchHandler = std::function<void(const std::vector<Message>&)>;

struct RelayOptions {
  int batch_size = 32;
  // Deliveries of one batch in flight at once.
  int parallelism = 8;
  std::chrono::milliseconds poll_interval{200};
  // How long a pass woken by a commit waits for more commits to join it: a few milliseconds of
  // delivery latency for far fewer passes (each a claim and a commit) under a steady load.
  std::chrono::milliseconds wake_linger{0};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::hours keep_delivered{24};
};

class Relay {
 public:
  Relay(pg::Pool* pool, std::map<std::string, Handler> handlers, RelayOptions options = {});
  // A relay whose topics are delivered batch by batch.
  Relay(pg::Pool* pool, std::map<std::string, BatchHandler> batch_handlers,
        RelayOptions options = {});
  ~Relay();

  // Claims due messages of its handlers' topics (FOR UPDATE SKIP LOCKED, so several relays
  // share the work without delivering one message twice at the same time), delivers them,
  // records the outcome. Returns how many were delivered. Relays with different topics on one
  // outbox do not wait for each other (quick change events beside slow service calls).
  int RunOnce();
  // Undelivered messages of the whole outbox (every topic, whichever relay delivers it, or
  // none) and the age of the oldest, in one query (gauges for metrics).
  struct Backlog {
    int64_t pending = 0;
    double oldest_age_seconds = 0;
  };
  Backlog CurrentBacklog();

  // Runs RunOnce on a thread of its own until Stop (or destruction).
  void Start();
  void Stop();
  // Runs a pass now rather than at the next poll (call after committing a message).
  void Wake();

 private:
  std::chrono::milliseconds Backoff(int attempts) const;

  pg::Pool* pool_;
  std::map<std::string, Handler> handlers_;
  std::map<std::string, BatchHandler> batch_handlers_;
  std::vector<std::string> topics_;  // of both kinds
  RelayOptions options_;
  std::atomic<bool> running_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  std::thread thread_;
  std::chrono::steady_clock::time_point last_cleanup_{};
};

}  // namespace msp::outbox
