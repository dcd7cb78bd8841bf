#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "msp/common/change_stream.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"
#include "store/read_model_store.h"

namespace msp::reporting {

// Keeps the read model up to date from the change stream: reads batches in the `reporting`
// consumer group, applies each batch in one transaction, acknowledges it after the commit (at
// least once; the versions make a repeat harmless). After a failure it backs off and starts
// again with what it had not acknowledged; entries a crashed replica left behind are taken
// over after `claim_idle`.
class ChangeConsumer {
 public:
  struct Options {
    std::string stream = change_stream::kStream;
    std::string group = "reporting";
    std::string consumer;  // unique per replica (pod name): its pending entries are its own
    int batch_size = 500;
    std::chrono::milliseconds block{1000};
    std::chrono::milliseconds claim_idle{30000};
    std::chrono::milliseconds retry_backoff{1000};
  };

  ChangeConsumer(pg::Pool* pool, const redis::Options& redis, Options options,
                 prometheus::Registry& registry);
  ~ChangeConsumer();

  void Start();
  void Stop();
  // One read-apply-acknowledge pass; returns the entries it handled. Throws on failure.
  int RunOnce();

 private:
  void Loop();
  int Handle(const std::vector<change_stream::Entry>& entries);

  pg::Pool* pool_;
  Options options_;
  redis::Client redis_;
  change_stream::ConsumerGroup group_;
  ReadModelStore store_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::chrono::steady_clock::time_point last_claim_{};
  std::chrono::steady_clock::time_point last_backlog_{};
  // Metrics: how far behind the sources the table is.
  prometheus::Histogram* lag_;
  prometheus::Counter* applied_;
  prometheus::Counter* stale_;
  prometheus::Counter* unreadable_;
  prometheus::Gauge* backlog_;
};

}  // namespace msp::reporting
