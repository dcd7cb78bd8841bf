#include "msp/common/metrics.h"

#include <mutex>

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "msp/common/build_version.h"
#include "msp/common/process_metrics.h"

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

std::string GrpcCodeLabel(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  const int index = static_cast<int>(code);
  if (index < 0 || index > 16) return absl::StrCat("Code(", index, ")");
  return kNames[index];
}

prometheus::Labels GrpcMethodLabels(const std::string& full_method) {
  // "/package.Service/Method"
  const auto slash = full_method.rfind('/');
  if (full_method.empty() || full_method[0] != '/' || slash == 0 || slash == std::string::npos) {
    return {{"grpc_service", "unknown"}, {"grpc_method", full_method}, {"grpc_type", "unary"}};
  }
  std::string service = full_method.substr(1, slash - 1);
  std::string method = full_method.substr(slash + 1);
  std::string type = "unary";
  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
      absl::StrCat(service, ".", method));
  if (descriptor != nullptr) {
    if (descriptor->client_streaming() && descriptor->server_streaming()) {
      type = "bidi_stream";
    } else if (descriptor->client_streaming()) {
      type = "client_stream";
    } else if (descriptor->server_streaming()) {
      type = "server_stream";
    }
  }
  return {{"grpc_service", std::move(service)},
          {"grpc_method", std::move(method)},
          {"grpc_type", std::move(type)}};
}

ServerMetrics::ServerMetrics(std::string service_name)
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()) {
  const prometheus::Labels service_label{{"service", service_name}};
  service_labels_ = service_label;
  started_ = &prometheus::BuildCounter()
                  .Name("grpc_server_started_total")
                  .Help("Total number of RPCs started on the server.")
                  .Labels(service_label)
                  .Register(*registry_);
  handled_ = &prometheus::BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help(
                      "Total number of RPCs completed on the server, regardless of success or "
                      "failure.")
                  .Labels(service_label)
                  .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("grpc_server_handling_seconds")
                  .Help(
                      "Histogram of response latency (seconds) of gRPC that had been "
                      "application-level handled by the server.")
                  .Labels(service_label)
                  .Register(*registry_);
  prometheus::BuildGauge()
      .Name("msp_build_info")
      .Help("1, labelled with the version (git describe) and commit this binary was built from")
      .Labels(service_label)
      .Register(*registry_)
      .Add({{"version", BuildVersion()}, {"revision", BuildRevision()}})
      .Set(1);
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
  tenant_limit_replicas_ =
      &prometheus::BuildGauge()
           .Name("msp_tenant_limit_replicas")
           .Help("Replicas of the service sharing each tenant's limits, as this one last counted")
           .Labels(service_label)
           .Register(*registry_)
           .Add({});
  tenant_limit_replicas_->Set(1);
}

void ServerMetrics::Serve(const std::string& bind_address, int port) {
  if (port <= 0) return;
  exposer_ = std::make_unique<prometheus::Exposer>(absl::StrCat(bind_address, ":", port));
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(process_);
}

ServerMetrics::MethodSeries& ServerMetrics::SeriesOf(const std::string& full_method) {
  {
    std::shared_lock<std::shared_mutex> lock(series_mu_);
    auto it = series_.find(full_method);
    if (it != series_.end()) return *it->second;
  }
  std::unique_lock<std::shared_mutex> lock(series_mu_);
  auto& slot = series_[full_method];
  if (!slot) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
    slot = std::make_unique<MethodSeries>();
    slot->labels = GrpcMethodLabels(full_method);
    slot->started = &started_->Add(slot->labels);
    slot->latency = &latency_->Add(slot->labels, kBuckets);
  }
  return *slot;
}

ServerMetrics::MethodSeries& ServerMetrics::RecordStart(const std::string& full_method) {
  MethodSeries& series = SeriesOf(full_method);
  series.started->Increment();
  return series;
}

void ServerMetrics::RecordRpc(MethodSeries& series, grpc::StatusCode code, double seconds) {
  const int code_index = static_cast<int>(code);
  if (code_index < 0 || code_index > 16) return;
  prometheus::Counter* counter = series.by_code[code_index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the same series for the same labels, so a racing twin is harmless.
    prometheus::Labels labels = series.labels;
    labels.emplace("grpc_code", GrpcCodeLabel(code));
    counter = &handled_->Add(labels);
    series.by_code[code_index].store(counter, std::memory_order_release);
  }
  counter->Increment();
  series.latency->Observe(seconds);
}

prometheus::Counter& ServerMetrics::Counter(const std::string& name, const std::string& help,
                                            const prometheus::Labels& labels) {
  std::lock_guard<std::mutex> lock(counters_mu_);
  auto& family = counters_[name];
  if (family == nullptr) {
    family = &prometheus::BuildCounter()
                  .Name(name)
                  .Help(help)
                  .Labels(service_labels_)
                  .Register(*registry_);
  }
  return family->Add(labels);
}

}  // namespace msp
