#pragma once

#include <atomic>
#include <memory>
#include <mutex>
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

// Business counters, by name: alerts, dashboards and docs/operations.md use these names.
// Their labels stay bounded (never a tenant).
namespace metric_names {
inline constexpr char kCustomersCreated[] = "msp_customers_created_total";
inline constexpr char kInvitationsSent[] = "msp_invitations_sent_total";
inline constexpr char kEmailsSent[] = "msp_emails_sent_total";
inline constexpr char kEmailsFailed[] = "msp_emails_failed_total";
inline constexpr char kRateLimitRefusals[] = "msp_rate_limit_refusals_total";  // {reason}
inline constexpr char kExports[] = "msp_exports_total";                        // {outcome}
}  // namespace metric_names

// The Prometheus metrics every server exports on its HTTP metrics port: the gRPC server
// metrics under go-grpc-prometheus' names and labels (grpc_service, grpc_method, grpc_type,
// grpc_code), process_* metrics, msp_build_info, and the service's business counters.
class ServerMetrics {
 public:
  explicit ServerMetrics(std::string service_name);
  // Starts the HTTP exposer on 127.0.0.1 or 0.0.0.0:<port> (port 0: no HTTP endpoint).
  void Serve(const std::string& bind_address, int port);
  // One method's series, found once per call (RecordStart) and handed back at its end.
  struct MethodSeries;
  // A call of `full_method` ("/msp.customer.v1.CustomerService/CreateCustomer") began.
  MethodSeries& RecordStart(const std::string& full_method);
  // It ended with `code` after `seconds`.
  void RecordRpc(MethodSeries& method, grpc::StatusCode code, double seconds);
  // A business counter (metric_names), created on first use; labels must stay bounded.
  prometheus::Counter& Counter(const std::string& name, const std::string& help,
                               const prometheus::Labels& labels = {});
  prometheus::Registry& registry() { return *registry_; }
  prometheus::Gauge& pool_in_use() { return *pool_in_use_; }
  prometheus::Gauge& pool_size() { return *pool_size_; }
  prometheus::Gauge& serving() { return *serving_; }
  // The transactional outbox's undelivered messages and the age of the oldest (the lag of
  // everything that follows a commit: service assignment, emails, change events).
  prometheus::Gauge& outbox_pending() { return *outbox_pending_; }
  prometheus::Gauge& outbox_oldest_age() { return *outbox_oldest_age_; }
  // The replicas sharing the tenants' limits, as this one last counted them (1: alone).
  prometheus::Gauge& tenant_limit_replicas() { return *tenant_limit_replicas_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  MethodSeries& SeriesOf(const std::string& full_method);

  std::shared_ptr<prometheus::Collectable> process_;
  prometheus::Family<prometheus::Counter>* started_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Gauge* pool_in_use_;
  prometheus::Gauge* pool_size_;
  prometheus::Gauge* serving_;
  prometheus::Gauge* outbox_pending_;
  prometheus::Gauge* outbox_oldest_age_;
  prometheus::Gauge* tenant_limit_replicas_;
  std::shared_mutex series_mu_;
  std::unordered_map<std::string, std::unique_ptr<MethodSeries>> series_;
  prometheus::Labels service_labels_;
  std::mutex counters_mu_;  // apart from series_mu_: refusals counted in a flood block no call
  std::unordered_map<std::string, prometheus::Family<prometheus::Counter>*> counters_;
};

// Per-method series, looked up once: Family::Add builds label maps under a lock on every call.
struct ServerMetrics::MethodSeries {
  prometheus::Labels labels;  // grpc_service, grpc_method, grpc_type
  prometheus::Counter* started = nullptr;
  prometheus::Histogram* latency = nullptr;
  std::atomic<prometheus::Counter*> by_code[17] = {};
};

std::string StatusCodeName(grpc::StatusCode code);
// The grpc_code label's value, as go-grpc-prometheus writes it (Go's codes.Code names:
// "OK", "NotFound", "Unavailable"), which gRPC dashboards and alerts match on.
std::string GrpcCodeLabel(grpc::StatusCode code);

// go-grpc-prometheus' labels of a full method name: grpc_service, grpc_method and grpc_type
// (unary, client_stream, server_stream, bidi_stream; from the compiled-in descriptors).
prometheus::Labels GrpcMethodLabels(const std::string& full_method);

}  // namespace msp
