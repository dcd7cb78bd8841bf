#include "msp/common/metrics.h"

#include <mutex>

#include "absl/strings/str_cat.h"

namespace msp {

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

ServerMetrics::ServerMetrics(std::string service_name)
    : registry_(std::make_shared<prometheus::Registry>()) {
  const prometheus::Labels service_label{{"service", service_name}};
  handled_ = &prometheus::BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help("RPCs completed on the server, by method and status code")
                  .Labels(service_label)
                  .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("grpc_server_handling_seconds")
                  .Help("Time from receiving a request to sending its answer")
                  .Labels(service_label)
                  .Register(*registry_);
  auto& pool = prometheus::BuildGauge()
                   .Name("db_pool_connections")
                   .Help("PostgreSQL pool connections")
                   .Labels(service_label)
                   .Register(*registry_);
  pool_in_use_ = &pool.Add({{"state", "in_use"}});
  pool_size_ = &pool.Add({{"state", "max"}});
  serving_ = &prometheus::BuildGauge()
                  .Name("health_serving")
                  .Help("1 while the health service says SERVING")
                  .Labels(service_label)
                  .Register(*registry_)
                  .Add({});
  outbox_pending_ = &prometheus::BuildGauge()
                         .Name("outbox_pending_messages")
                         .Help("Outbox messages not delivered yet")
                         .Labels(service_label)
                         .Register(*registry_)
                         .Add({});
  outbox_oldest_age_ = &prometheus::BuildGauge()
                            .Name("outbox_oldest_pending_age_seconds")
                            .Help("Age of the oldest undelivered outbox message (0: none)")
                            .Labels(service_label)
                            .Register(*registry_)
                            .Add({});
}

void ServerMetrics::Serve(const std::string& bind_address, int port) {
  if (port <= 0) return;
  exposer_ = std::make_unique<prometheus::Exposer>(absl::StrCat(bind_address, ":", port));
  exposer_->RegisterCollectable(registry_);
}

void ServerMetrics::RecordRpc(const std::string& full_method, grpc::StatusCode code,
                              double seconds) {
  const int code_index = static_cast<int>(code);
  if (code_index < 0 || code_index > 16) return;
  MethodSeries* series = nullptr;
  {
    std::shared_lock<std::shared_mutex> lock(series_mu_);
    auto it = series_.find(full_method);
    if (it != series_.end()) series = it->second.get();
  }
  if (series == nullptr) {
    std::unique_lock<std::shared_mutex> lock(series_mu_);
    auto& slot = series_[full_method];
    if (!slot) {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
      slot = std::make_unique<MethodSeries>();
      slot->latency = &latency_->Add({{"grpc_method", full_method}}, kBuckets);
    }
    series = slot.get();
  }
  prometheus::Counter* counter = series->by_code[code_index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the same series for the same labels, so a racing twin is harmless.
    counter = &handled_->Add({{"grpc_method", full_method}, {"grpc_code", StatusCodeName(code)}});
    series->by_code[code_index].store(counter, std::memory_order_release);
  }
  counter->Increment();
  series->latency->Observe(seconds);
}

}  // namespace msp
