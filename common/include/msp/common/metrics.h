#pragma once

#include <memory>
#include <string>

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

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* pool_in_use_;
  prometheus::Gauge* pool_size_;
  prometheus::Gauge* serving_;
};

std::string StatusCodeName(grpc::StatusCode code);

}  // namespace msp
