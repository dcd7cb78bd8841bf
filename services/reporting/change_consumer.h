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
// consumer group (sized to the backlog), applies each batch in one transaction, acknowledges it
// after the commit (at least once; the versions make a repeat harmless). After a failure it backs
// off and starts again with what it had not acknowledged; entries a crashed replica left behind are
// taken over after `claim_idle`.
class ChangeConsumer {
 public:
  struct Options {
    std::string stream = change_stream::kStream;
    std::string group = "reporting";
    std::string consumer;  // unique per replica (pod name): its pending entries are its own
    // Events applied per transaction: batch_size while the consumer keeps up; while a read
    // comes back full (a backlog), the next asks for twice as many, up to max_batch_size, and
    // back down by halves as the backlog shrinks. Fewer commits and row writes an event when
    // behind (a customer's create and its services in one write), no waiting when not.
    int batch_size = 500;
    int max_batch_size = 8000;
    // A short read waits until its first event is this old and takes what came meanwhile: a
    // customer's create and its services, a moment apart, become one row write.
    std::chrono::milliseconds gather{0};
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
  // The size of the next read after one that got `got` of the `asked` entries.
  static int NextReadCount(const Options& options, int asked, int got);

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
  int read_count_ = 0;  // the next read's size
  // Metrics: how far behind the sources the table is.
  prometheus::Histogram* lag_;
  prometheus::Counter* applied_;
  prometheus::Counter* stale_;
  prometheus::Counter* unreadable_;
  prometheus::Gauge* backlog_;
  prometheus::Histogram* batch_sizes_;
};

}  // namespace msp::reporting
