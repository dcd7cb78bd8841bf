#include "change_consumer.h"

#include <algorithm>

#include "msp/common/log.h"
#include "msp/common/resource_names.h"
#include "msp/common/trace.h"

namespace msp::reporting {
namespace {

redis::Options WithLongCommands(redis::Options options, std::chrono::milliseconds block) {
  // XREADGROUP BLOCK waits server-side: the client must wait longer than that.
  options.command_timeout = std::max(options.command_timeout, block + std::chrono::seconds(2));
  return options;
}

// An event that came with a trace: a line in that trace once applied.
struct TracedEvent {
  const change_stream::Entry* entry;
  std::string event;     // its type's short name
  std::string customer;  // msps/{msp}/customers/{customer}
  int64_t version;
};

template <typename Event>
TracedEvent TracedOf(const change_stream::Entry& entry, const Event& event) {
  return {&entry, Event::descriptor()->name(), CustomerName(event.msp_id(), event.customer_id()),
          event.version()};
}

void LogApplied(const std::vector<TracedEvent>& traced) {
  for (const auto& t : traced) {
    trace::Scope span(trace::FromHeader(t.entry->traceparent));
    log::TraceStep("change event applied",
                   {{"event", t.event}, {"customer", t.customer}, {"version", t.version}});
  }
}

}  // namespace

ChangeConsumer::ChangeConsumer(pg::Pool* pool, const redis::Options& redis, Options options,
                               prometheus::Registry& registry)
    : pool_(pool),
      options_(std::move(options)),
      redis_(WithLongCommands(redis, options_.block)),
      group_(&redis_, options_.stream, options_.group, options_.consumer) {
  lag_ = &prometheus::BuildHistogram()
              .Name("reporting_read_model_lag_seconds")
              .Help("From a change's commit at its source to its application to the read model")
              .Register(registry)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.002, 0.005, 0.01, 0.02,
                                                               0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30,
                                                               60, 300});
  auto& events = prometheus::BuildCounter()
                     .Name("reporting_change_events_total")
                     .Help("Change events read, by outcome")
                     .Register(registry);
  applied_ = &events.Add({{"outcome", "applied"}});
  stale_ = &events.Add({{"outcome", "stale"}});
  unreadable_ = &events.Add({{"outcome", "unreadable"}});
  batch_sizes_ =
      &prometheus::BuildHistogram()
           .Name("reporting_change_batch_events")
           .Help("Change events a transaction of the read model applied")
           .Register(registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{1, 4, 16, 64, 256, 1024, 4096, 16384});
  read_count_ = std::max(1, options_.batch_size);
  backlog_ = &prometheus::BuildGauge()
                  .Name("reporting_change_stream_backlog")
                  .Help("Change events published but not yet applied (unread + unacknowledged)")
                  .Register(registry)
                  .Add({});
}

ChangeConsumer::~ChangeConsumer() { Stop(); }

void ChangeConsumer::Start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { Loop(); });
}

void ChangeConsumer::Stop() {
  if (!running_.exchange(false)) return;
  if (thread_.joinable()) thread_.join();
}

void ChangeConsumer::Loop() {
  bool group_ready = false;
  while (running_) {
    try {
      if (!group_ready) {
        group_.Ensure();
        group_ready = true;
      }
      RunOnce();
    } catch (const std::exception& e) {
      log::Warn("change events not applied; retrying", {{"error", e.what()}});
      group_.RewindToPending();
      group_ready = false;
      const auto until = std::chrono::steady_clock::now() + options_.retry_backoff;
      while (running_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
}

int ChangeConsumer::RunOnce() {
  const auto now = std::chrono::steady_clock::now();
  int handled = 0;
  if (now - last_claim_ >= options_.claim_idle) {
    last_claim_ = now;
    handled += Handle(group_.ClaimStale(options_.claim_idle, options_.batch_size));
  }
  const int asked = read_count_;
  auto entries = group_.Read(asked, options_.block);
  if (options_.gather.count() > 0 && !entries.empty() && static_cast<int>(entries.size()) < asked) {
    const auto until = std::min(change_stream::AppendTime(entries.front()) + options_.gather,
                                std::chrono::system_clock::now() + options_.gather);
    std::this_thread::sleep_until(until);
    auto more = group_.Read(asked - static_cast<int>(entries.size()), std::chrono::milliseconds(1));
    std::move(more.begin(), more.end(), std::back_inserter(entries));
  }
  const int got = Handle(entries);
  read_count_ = NextReadCount(options_, asked, got);
  handled += got;
  if (now - last_backlog_ >= std::chrono::seconds(1)) {
    last_backlog_ = now;
    const auto backlog = group_.CurrentBacklog();
    backlog_->Set(static_cast<double>(std::max<int64_t>(backlog.undelivered, 0) + backlog.pending));
  }
  return handled;
}

int ChangeConsumer::NextReadCount(const Options& options, int asked, int got) {
  const int floor = std::max(1, options.batch_size);
  const int ceiling = std::max(floor, options.max_batch_size);
  if (got >= asked) return std::min(ceiling, asked * 2);
  return std::max(floor, asked / 2);
}

int ChangeConsumer::Handle(const std::vector<change_stream::Entry>& entries) {
  if (entries.empty()) return 0;
  ChangeBatch batch;
  std::vector<TracedEvent> traced;
  std::vector<std::string> ids;
  for (const auto& entry : entries) {
    ids.push_back(entry.id);
    bool ok = false;
    if (entry.type == events::v1::CustomerChanged::descriptor()->full_name()) {
      ok = batch.customers.emplace_back().ParseFromString(entry.data);
      if (!ok) batch.customers.pop_back();
      if (ok && !entry.traceparent.empty())
        traced.push_back(TracedOf(entry, batch.customers.back()));
    } else if (entry.type == events::v1::CustomerServicesChanged::descriptor()->full_name()) {
      ok = batch.services.emplace_back().ParseFromString(entry.data);
      if (!ok) batch.services.pop_back();
      if (ok && !entry.traceparent.empty())
        traced.push_back(TracedOf(entry, batch.services.back()));
    }
    // Another reader's event type, or an entry trimmed while pending: nothing to apply, and
    // nothing a retry could change.
    if (!ok) unreadable_->Increment();
  }
  ApplyOutcome outcome = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
    ApplyOutcome o = store_.Apply(tx.conn(), batch);
    tx.Commit();
    return o;
  });
  group_.Ack(ids);
  LogApplied(traced);
  batch_sizes_->Observe(static_cast<double>(entries.size()));
  applied_->Increment(outcome.applied);
  stale_->Increment(outcome.stale);
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (int64_t at : outcome.applied_change_us) {
    lag_->Observe(static_cast<double>(std::max<int64_t>(now_us - at, 0)) / 1e6);
  }
  return static_cast<int>(entries.size());
}

}  // namespace msp::reporting
