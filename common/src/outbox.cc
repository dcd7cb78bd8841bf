#include "msp/common/outbox.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "msp/common/log.h"

namespace msp::outbox {

Migration TableMigration(int version) {
  static const char* kSql = R"sql(
CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  msp_id          text NOT NULL,
  topic           text NOT NULL,
  message_key     text NOT NULL,
  payload         bytea NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text NOT NULL DEFAULT '',
  create_time     timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
)sql";
  return Migration{version, "outbox", kSql};
}

Migration TopicIndexMigration(int version) {
  // One relay per topic group scanned the due rows of every topic (a change-event backlog made
  // the assignment relay's claim ~0.9 ms); by topic, each claim is an index range scan. The
  // delivered rows stay a day, so the default vacuum trigger (20% of the table) would let dead
  // entries pile up at the head of the due index, which every claim walks.
  static const char* kSql = R"sql(
CREATE INDEX outbox_due_by_topic ON outbox (topic, next_attempt_at, id) WHERE delivered_at IS NULL;
DROP INDEX outbox_due;
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                        autovacuum_vacuum_insert_scale_factor = 0,
                        autovacuum_vacuum_insert_threshold = 5000);
)sql";
  return Migration{version, "outbox_due_by_topic", kSql};
}

Migration OnBehalfOfMigration(int version) {
  static const char* kSql = R"sql(
ALTER TABLE outbox ADD COLUMN on_behalf_of text NOT NULL DEFAULT '';
)sql";
  return Migration{version, "outbox_on_behalf_of", kSql};
}

void Enqueue(pg::Connection& conn, const std::string& msp_id, const std::string& topic,
             const std::string& key, const std::string& payload, const std::string& on_behalf_of) {
  conn.Exec(
      "INSERT INTO outbox (msp_id, topic, message_key, payload, on_behalf_of) "
      "VALUES ($1, $2, $3, $4::bytea, $5)",
      {msp_id, topic, key, pg::ToHex(payload), on_behalf_of});
}

Relay::Relay(pg::Pool* pool, std::map<std::string, Handler> handlers, RelayOptions options)
    : pool_(pool), handlers_(std::move(handlers)), options_(options) {
  for (const auto& [topic, handler] : handlers_) topics_.push_back(topic);
}

Relay::Relay(pg::Pool* pool, std::map<std::string, BatchHandler> batch_handlers,
             RelayOptions options)
    : pool_(pool), batch_handlers_(std::move(batch_handlers)), options_(options) {
  for (const auto& [topic, handler] : batch_handlers_) topics_.push_back(topic);
}

Relay::~Relay() { Stop(); }

std::chrono::milliseconds Relay::Backoff(int attempts) const {
  // Exponential with full jitter: retries of many messages do not arrive in lockstep.
  const double exp = std::min(30, attempts);
  const double ceiling =
      std::min(static_cast<double>(options_.max_backoff.count()),
               static_cast<double>(options_.initial_backoff.count()) * std::pow(2.0, exp - 1));
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(ceiling * jitter(rng)));
}

int Relay::RunOnce() {
  int delivered = 0;
  pg::Lease conn = pool_->Acquire();
  pg::Transaction tx(*conn);
  // Recording a delivery need not wait for the disk: if a crash loses the record, the message
  // is delivered again, which receivers absorb (idempotent by key). One fsync fewer per pass,
  // and the passes follow the service's own commits one for one at low load.
  tx.Exec("SET LOCAL synchronous_commit = off");
  // Topic by topic, each claim an index range scan of outbox_due_by_topic.
  std::vector<pg::Result> claimed;
  int rows = 0;
  for (const auto& topic : topics_) {
    if (rows >= options_.batch_size) break;
    claimed.push_back(
        tx.Exec("SELECT id, msp_id, topic, message_key, payload, attempts, "
                "(extract(epoch from create_time) * 1000000)::bigint, on_behalf_of FROM outbox "
                "WHERE delivered_at IS NULL AND topic = $2 AND next_attempt_at <= now() "
                "ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
                {std::to_string(options_.batch_size - rows), topic}));
    rows += claimed.back().rows();
  }
  std::vector<Message> messages;
  messages.reserve(static_cast<size_t>(rows));
  for (const auto& due : claimed) {
    for (int i = 0; i < due.rows(); ++i) {
      Message& message = messages.emplace_back();
      message.id = due.Int64(i, 0);
      message.msp_id = due.String(i, 1);
      message.topic = due.String(i, 2);
      message.key = due.String(i, 3);
      message.payload = due.Bytes(i, 4);
      message.attempts = static_cast<int>(due.Int64(i, 5));
      message.create_time =
          std::chrono::system_clock::time_point(std::chrono::microseconds(due.Int64(i, 6)));
      message.on_behalf_of = due.String(i, 7);
    }
  }
  std::vector<std::string> errors(messages.size());
  // Batch topics: one call per topic with all its messages; the others one by one.
  std::map<std::string, std::vector<size_t>> by_batch_topic;
  std::vector<size_t> one_by_one;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (batch_handlers_.count(messages[i].topic) > 0) {
      by_batch_topic[messages[i].topic].push_back(i);
    } else {
      one_by_one.push_back(i);
    }
  }
  for (const auto& [topic, indexes] : by_batch_topic) {
    std::vector<Message> batch;
    for (size_t i : indexes) batch.push_back(messages[i]);
    std::string error;
    try {
      batch_handlers_.at(topic)(batch);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "delivery failed";
    }
    for (size_t i : indexes) errors[i] = error;
  }
  // Deliveries are calls to other services: a batch goes out in parallel, so one slow
  // receiver does not hold up the rest by a whole timeout each.
  auto deliver = [&](size_t i) {
    const Message& message = messages[i];
    auto handler = handlers_.find(message.topic);
    if (handler == handlers_.end()) {
      errors[i] = "no handler for topic " + message.topic;
      return;
    }
    try {
      handler->second(message);
    } catch (const std::exception& e) {
      errors[i] = e.what();
      if (errors[i].empty()) errors[i] = "delivery failed";
    }
  };
  const size_t workers =
      std::min(one_by_one.size(), static_cast<size_t>(std::max(1, options_.parallelism)));
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t k = w; k < one_by_one.size(); k += workers) deliver(one_by_one[k]);
    });
  }
  for (size_t k = 0; k < one_by_one.size(); k += std::max<size_t>(workers, 1)) {
    deliver(one_by_one[k]);
  }
  for (auto& t : threads) t.join();

  std::vector<std::string> done_ids;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& message = messages[i];
    const std::string& error = errors[i];
    if (error.empty()) {
      done_ids.push_back(std::to_string(message.id));
      ++delivered;
      continue;
    }
    const auto wait = Backoff(message.attempts + 1);
    tx.Exec(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = now() + "
        "$3::bigint * interval '1 millisecond' WHERE id = $1",
        {std::to_string(message.id), error.substr(0, 500), std::to_string(wait.count())});
    log::Warn("outbox delivery failed; will retry", {{"topic", message.topic},
                                                     {"id", message.id},
                                                     {"attempts", message.attempts + 1},
                                                     {"retry_in_ms", wait.count()},
                                                     {"error", error}});
  }
  if (!done_ids.empty()) {
    tx.Exec(
        absl::StrCat("UPDATE outbox SET delivered_at = now(), attempts = attempts + 1 "
                     "WHERE id = ANY('{",
                     absl::StrJoin(done_ids, ","), "}'::bigint[])"));
  }
  tx.Commit();
  const auto now = std::chrono::steady_clock::now();
  if (now - last_cleanup_ > std::chrono::minutes(10)) {
    last_cleanup_ = now;
    conn->Exec("DELETE FROM outbox WHERE delivered_at < now() - $1::bigint * interval '1 hour'",
               {std::to_string(options_.keep_delivered.count())});
  }
  return delivered;
}

Relay::Backlog Relay::CurrentBacklog() {
  pg::Lease conn = pool_->Acquire();
  auto r = conn->Exec(
      "SELECT count(*), coalesce(extract(epoch from now() - min(create_time)), 0)::float8 FROM "
      "outbox WHERE delivered_at IS NULL");
  return {r.Int64(0, 0), std::stod(r.String(0, 1))};
}

void Relay::Start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] {
    while (running_.load()) {
      int delivered = 0;
      try {
        delivered = RunOnce();
      } catch (const std::exception& e) {
        log::Warn("outbox relay pass failed", {{"error", e.what()}});
      }
      // A full batch means more may be due: go again at once. Otherwise wait for the poll
      // interval or a Wake (a commit in this process that enqueued something).
      if (delivered < options_.batch_size) {
        std::unique_lock lock(wake_mu_);
        const bool woken = wake_cv_.wait_for(lock, options_.poll_interval,
                                             [this] { return woken_ || !running_.load(); });
        // Woken by a commit: let the commits right behind it join the same pass.
        if (woken && options_.wake_linger.count() > 0) {
          wake_cv_.wait_for(lock, options_.wake_linger, [this] { return !running_.load(); });
        }
        woken_ = false;
      }
    }
  });
}

void Relay::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

void Relay::Stop() {
  if (!running_.exchange(false)) return;
  Wake();
  if (thread_.joinable()) thread_.join();
}

}  // namespace msp::outbox
