#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include <grpcpp/support/status_code_enum.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace msp {

// The Prometheus metrics every server exports on its HTTP metrics port.
class ServerMetrics {
 public:
  explicit ServerMetrics(std::string service_name);
  // Starts the HTTP exposer on 127.0.0.1 or 0.0.0.0:<port> (port 0: no HTTP endpoint).
  void Serve(const std::string& bind_address, int port);
  void RecordRpc(const std::string& full_method, grpc::StatusCode code, double seconds);
  prometheus::Registry& registry() { return *registry_; }
  prometheus::Gauge& pool_in_use() { return *pool_in_use_; }
  prometheus::Gauge& pool_size() { return *pool_size_; }
  prometheus::Gauge& serving() { return *serving_; }
  // The transactional outbox's undelivered messages and the age of the oldest (the lag of
  // everything that follows a commit: service assignment, emails, change events).
  prometheus::Gauge& outbox_pending() { return *outbox_pending_; }
  prometheus::Gauge& outbox_oldest_age() { return *outbox_oldest_age_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* pool_in_use_;
  prometheus::Gauge* pool_size_;
  prometheus::Gauge* serving_;
  prometheus::Gauge* outbox_pending_;
  prometheus::Gauge* outbox_oldest_age_;
  // Per-method series, looked up once: Family::Add builds label maps under a lock on every call.
  struct MethodSeries {
    prometheus::Histogram* latency = nullptr;
    std::atomic<prometheus::Counter*> by_code[17] = {};
  };
  std::shared_mutex series_mu_;
  std::unordered_map<std::string, std::unique_ptr<MethodSeries>> series_;
};

std::string StatusCodeName(grpc::StatusCode code);

}  // namespace msp
