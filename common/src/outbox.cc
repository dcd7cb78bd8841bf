#include "msp/common/outbox.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <stdexcept>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/log.h"
#include "msp/common/trace.h"

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

Migration LeaseMigration(int version) {
  // Neither column is indexed and pages keep room, so that a claim updates its rows in place
  // (heap-only tuples): no new index entries for the claims walk past.
  static const char* kSql = R"sql(
ALTER TABLE outbox ADD COLUMN claimed_by text, ADD COLUMN lease_until timestamptz;
ALTER TABLE outbox SET (fillfactor = 70);
)sql";
  return Migration{version, "outbox_lease", kSql};
}

Migration TraceMigration(int version) {
  // current_setting(..., true) is NULL where the setting was never made in the session.
  static const std::string kSql = absl::StrCat(
      "ALTER TABLE outbox ADD COLUMN traceparent text NOT NULL DEFAULT coalesce(current_setting('",
      pg::kTraceparentSetting, "', true), '');");
  return Migration{version, "outbox_traceparent", kSql.c_str()};
}

std::string InsertRows(std::string_view rows) {
  return "INSERT INTO outbox (msp_id, topic, message_key, payload, on_behalf_of) " +
         std::string(rows);
}

std::string TopicLiteral(std::string_view topic) {
  // Topics are declared constants of letters and '-': nothing to escape, which is checked.
  for (char c : topic) {
    if (!(absl::ascii_islower(c) || c == '-')) {
      throw std::invalid_argument("not a topic name: " + std::string(topic));
    }
  }
  return "'" + std::string(topic) + "'";
}

void Enqueue(pg::Connection& conn, const std::string& msp_id, const std::string& topic,
             const std::string& key, const std::string& payload, const std::string& on_behalf_of) {
  static const std::string kSql = InsertRows("VALUES ($1, $2, $3, $4::bytea, $5)");
  conn.Exec(kSql, {msp_id, topic, key, pg::ToHex(payload), on_behalf_of});
}

namespace {

std::map<std::string, TopicHandler> OneByOne(std::map<std::string, Handler> handlers) {
  std::map<std::string, TopicHandler> topics;
  for (auto& [topic, handler] : handlers) topics[topic].one = std::move(handler);
  return topics;
}

std::map<std::string, TopicHandler> Batched(std::map<std::string, BatchHandler> handlers) {
  std::map<std::string, TopicHandler> topics;
  for (auto& [topic, handler] : handlers) topics[topic].batch = std::move(handler);
  return topics;
}

std::string RandomId() {
  std::random_device device;
  return absl::StrCat(absl::Hex(device(), absl::kZeroPad8), absl::Hex(device(), absl::kZeroPad8));
}

std::string ErrorOf(const std::exception& e) {
  std::string error = e.what();
  return error.empty() ? "delivery failed" : error;
}

}  // namespace

Relay::Relay(pg::Pool* pool, std::map<std::string, TopicHandler> topics, RelayOptions options)
    : pool_(pool), topics_(std::move(topics)), options_(options), relay_id_(RandomId()) {}

Relay::Relay(pg::Pool* pool, std::map<std::string, Handler> handlers, RelayOptions options)
    : Relay(pool, OneByOne(std::move(handlers)), options) {}

Relay::Relay(pg::Pool* pool, std::map<std::string, BatchHandler> batch_handlers,
             RelayOptions options)
    : Relay(pool, Batched(std::move(batch_handlers)), options) {}

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

std::vector<Relay::Delivery> Relay::Claim(pg::Transaction& tx, int limit) {
  const std::string claim = absl::StrCat(relay_id_, ":", ++claims_);
  std::vector<Message> messages;
  // Topic by topic, each claim an index range scan of outbox_due_by_topic. A message nobody
  // records an outcome for is due again when its lease ends.
  for (const auto& [topic, handler] : topics_) {
    const int wanted = limit - static_cast<int>(messages.size());
    if (wanted <= 0) break;
    const pg::Result due = tx.Exec(
        // id = ANY(ARRAY(...)): the claimed rows by primary key (a join with the subquery
        // can be planned as a scan of the whole table).
        "UPDATE outbox SET claimed_by = $3, "
        "lease_until = now() + $4::bigint * interval '1 millisecond' "
        "WHERE id = ANY(ARRAY(SELECT id FROM outbox WHERE delivered_at IS NULL AND topic = $2 "
        "AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now()) "
        "ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)) "
        "RETURNING id, msp_id, topic, message_key, payload, attempts, "
        "(extract(epoch from create_time) * 1000000)::bigint, on_behalf_of, traceparent",
        {std::to_string(wanted), topic, claim, std::to_string(options_.lease.count())});
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
      message.traceparent = due.String(i, 8);
    }
  }
  // Commit order within a topic (UPDATE ... RETURNING keeps none).
  std::stable_sort(messages.begin(), messages.end(), [](const Message& a, const Message& b) {
    return std::tie(a.topic, a.id) < std::tie(b.topic, b.id);
  });
  std::vector<Delivery> deliveries;
  std::map<std::tuple<std::string, std::string, std::string>, size_t> batch_of;
  for (auto& message : messages) {
    const TopicHandler& handler = topics_.at(message.topic);
    if (!handler.batch) {
      deliveries.push_back({&handler, {std::move(message)}, claim});
      continue;
    }
    auto key = handler.batch_per_actor
                   ? std::make_tuple(message.topic, message.msp_id, message.on_behalf_of)
                   : std::make_tuple(message.topic, std::string(), std::string());
    auto [it, added] = batch_of.emplace(std::move(key), deliveries.size());
    if (added) deliveries.push_back({&handler, {}, claim});
    deliveries[it->second].messages.push_back(std::move(message));
  }
  return deliveries;
}

void Relay::Deliver(const Delivery& delivery, std::vector<Outcome>* outcomes) {
  std::vector<std::string> errors(delivery.messages.size());
  // The delivery continues the trace of the work that wrote its messages, when they share one.
  const std::string& traceparent = delivery.messages.front().traceparent;
  const bool one_trace =
      std::all_of(delivery.messages.begin(), delivery.messages.end(),
                  [&](const Message& message) { return message.traceparent == traceparent; });
  std::optional<trace::Scope> span;
  if (one_trace && !traceparent.empty()) span.emplace(trace::FromHeader(traceparent));
  try {
    if (delivery.handler->batch) {
      delivery.handler->batch(delivery.messages, &errors);
      errors.resize(delivery.messages.size());
    } else {
      delivery.handler->one(delivery.messages.front());
    }
  } catch (const std::exception& e) {
    std::fill(errors.begin(), errors.end(), ErrorOf(e));
  }
  if (span) {
    log::TraceStep("outbox messages delivered",
                   {{"topic", delivery.messages.front().topic},
                    {"messages", delivery.messages.size()},
                    {"failed", std::count_if(errors.begin(), errors.end(),
                                             [](const std::string& e) { return !e.empty(); })}});
  }
  for (size_t i = 0; i < delivery.messages.size(); ++i) {
    const Message& message = delivery.messages[i];
    outcomes->push_back(
        {message.id, delivery.claim, std::move(errors[i]), message.attempts, message.topic});
  }
}

void Relay::Record(pg::Transaction& tx, const std::vector<Outcome>& outcomes) {
  std::vector<std::string> done_ids, done_claims;
  std::vector<std::string> failed_ids, failed_claims, failed_errors, failed_waits;
  for (const Outcome& outcome : outcomes) {
    if (outcome.error.empty()) {
      done_ids.push_back(std::to_string(outcome.id));
      done_claims.push_back(outcome.claim);
      continue;
    }
    const auto wait = Backoff(outcome.attempts + 1);
    failed_ids.push_back(std::to_string(outcome.id));
    failed_claims.push_back(outcome.claim);
    failed_errors.push_back(outcome.error.substr(0, 500));
    failed_waits.push_back(std::to_string(wait.count()));
    log::Warn("outbox delivery failed; will retry", {{"topic", outcome.topic},
                                                     {"id", outcome.id},
                                                     {"attempts", outcome.attempts + 1},
                                                     {"retry_in_ms", wait.count()},
                                                     {"error", outcome.error}});
  }
  // Only while the lease is still this claim's: after it ended, another relay may hold the
  // message, and its outcome is the one that counts.
  if (!done_ids.empty()) {
    tx.Exec(
        "UPDATE outbox o SET delivered_at = now(), attempts = o.attempts + 1, claimed_by = NULL, "
        "lease_until = NULL "
        "FROM unnest($1::bigint[], $2::text[]) AS d(id, claim) "
        "WHERE o.id = d.id AND o.claimed_by = d.claim",
        {pg::ArrayLiteral(done_ids), pg::TextArrayLiteral(done_claims)});
  }
  if (!failed_ids.empty()) {
    tx.Exec(
        "UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.error, claimed_by = NULL, "
        "lease_until = NULL, "
        "next_attempt_at = now() + f.wait_ms * interval '1 millisecond' "
        "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) "
        "AS f(id, claim, error, wait_ms) WHERE o.id = f.id AND o.claimed_by = f.claim",
        {pg::ArrayLiteral(failed_ids), pg::TextArrayLiteral(failed_claims),
         pg::TextArrayLiteral(failed_errors), pg::ArrayLiteral(failed_waits)});
  }
}

std::vector<Relay::Delivery> Relay::Pass(const std::vector<Outcome>& outcomes, int claim_limit) {
  pg::Lease conn = pool_->Acquire();
  std::vector<Delivery> deliveries;
  {
    pg::Transaction tx(*conn);
    // A lost claim or record only makes its messages due again, which receivers absorb
    // (idempotent by key): no need to wait for the disk. A queue table's statistics lag
    // behind it (empty an hour ago, a backlog now), and a plan made from them can be a scan of
    // every delivered row: claims and records go by index.
    tx.Exec(
        "SELECT set_config('synchronous_commit', 'off', true), "
        "set_config('enable_seqscan', 'off', true)");
    if (!outcomes.empty()) Record(tx, outcomes);
    if (claim_limit > 0) deliveries = Claim(tx, claim_limit);
    tx.Commit();
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_cleanup_ > std::chrono::minutes(10)) {
    last_cleanup_ = now;
    conn->Exec("DELETE FROM outbox WHERE delivered_at < now() - $1::bigint * interval '1 hour'",
               {std::to_string(options_.keep_delivered.count())});
  }
  return deliveries;
}

int Relay::RunOnce() {
  std::vector<Delivery> deliveries = Pass({}, options_.batch_size);
  // No connection or transaction is held while the receivers answer. The deliveries go out in
  // parallel, so one slow receiver does not hold up the rest by a whole timeout each.
  std::vector<std::vector<Outcome>> outcomes(deliveries.size());
  const size_t workers =
      std::min(deliveries.size(), static_cast<size_t>(std::max(1, options_.parallelism)));
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t k = w; k < deliveries.size(); k += workers) Deliver(deliveries[k], &outcomes[k]);
    });
  }
  for (size_t k = 0; k < deliveries.size(); k += std::max<size_t>(workers, 1)) {
    Deliver(deliveries[k], &outcomes[k]);
  }
  for (auto& t : threads) t.join();
  std::vector<Outcome> all;
  for (auto& o : outcomes) std::move(o.begin(), o.end(), std::back_inserter(all));
  if (all.empty()) return 0;
  Pass(all, 0);
  return static_cast<int>(
      std::count_if(all.begin(), all.end(), [](const Outcome& o) { return o.error.empty(); }));
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
  stopping_ = false;
  for (int w = 0; w < std::max(1, options_.parallelism); ++w) {
    workers_.emplace_back([this] { Work(); });
  }
  dispatcher_ = std::thread([this] { Dispatch(); });
}

void Relay::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    ++idle_workers_;
    dispatcher_cv_.notify_one();
    worker_cv_.wait(lock, [this] { return !queued_.empty() || stopping_; });
    --idle_workers_;
    // Stopping: what was claimed is still delivered, then the worker ends.
    if (queued_.empty()) return;
    Delivery delivery = std::move(queued_.front());
    queued_.pop_front();
    lock.unlock();
    std::vector<Outcome> outcomes;
    Deliver(delivery, &outcomes);
    lock.lock();
    std::move(outcomes.begin(), outcomes.end(), std::back_inserter(outcomes_));
  }
}

void Relay::Dispatch() {
  bool more_due = false;  // the last claim was full
  auto next_poll = std::chrono::steady_clock::now();
  while (true) {
    std::vector<Outcome> done;
    bool claim = false;
    bool last = false;
    {
      std::unique_lock lock(mu_);
      // A claim waits for a free worker: claimed messages wait for nobody, and other relays
      // take what this one cannot deliver yet.
      auto can_claim = [this] { return !stopping_ && idle_workers_ > 0 && queued_.empty(); };
      dispatcher_cv_.wait_until(lock, next_poll, [&] {
        return workers_stopped_ || !outcomes_.empty() || (can_claim() && (woken_ || more_due));
      });
      if (!stopping_ && options_.wake_linger.count() > 0 && !more_due &&
          (woken_ || !outcomes_.empty())) {
        // Woken by a commit or a delivery: the ones right behind it join the same pass (one
        // transaction records them all and claims what is due).
        dispatcher_cv_.wait_for(lock, options_.wake_linger, [this] { return stopping_; });
      }
      done.swap(outcomes_);
      claim = can_claim() && (woken_ || more_due || std::chrono::steady_clock::now() >= next_poll);
      if (claim) woken_ = false;
      last = workers_stopped_;
    }
    try {
      // The outcomes and the next claim in one short transaction.
      std::vector<Delivery> deliveries;
      if (!done.empty() || claim) deliveries = Pass(done, claim ? options_.batch_size : 0);
      if (claim) {
        size_t claimed = 0;
        for (const auto& d : deliveries) claimed += d.messages.size();
        more_due = claimed >= static_cast<size_t>(options_.batch_size);
        if (!deliveries.empty()) {
          std::lock_guard lock(mu_);
          std::move(deliveries.begin(), deliveries.end(), std::back_inserter(queued_));
        }
        worker_cv_.notify_all();
        next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
      } else if (std::chrono::steady_clock::now() >= next_poll) {
        next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
      }
    } catch (const std::exception& e) {
      // Outcomes not recorded: their leases end and the messages are delivered again.
      log::Warn("outbox relay pass failed", {{"error", e.what()}});
      more_due = false;
      next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
    }
    if (last) return;
  }
}

void Relay::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  dispatcher_cv_.notify_one();
}

void Relay::Stop() {
  if (!running_.exchange(false)) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  worker_cv_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  {
    std::lock_guard lock(mu_);
    workers_stopped_ = true;
    idle_workers_ = 0;
  }
  dispatcher_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  std::lock_guard lock(mu_);
  workers_stopped_ = false;
}

}  // namespace msp::outbox
