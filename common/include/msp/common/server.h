#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "msp/common/auth.h"
#include "msp/common/metrics.h"
#include "msp/common/pg.h"
#include "msp/common/tls.h"

namespace msp {

// Where and how a gRPC server listens, stops and uses threads.
struct ServerSettings {
  std::string listen_address;
  std::string metrics_bind = "127.0.0.1";
  int metrics_port = 0;  // 0: no metrics endpoint
  std::chrono::milliseconds drain_timeout{10000};
  // How long to stay up answering NOT_SERVING before the drain starts, so that load
  // balancers stop sending new calls first.
  std::chrono::milliseconds shutdown_delay{0};
  int max_threads = 256;
  int min_pollers = 4;
  int max_pollers = 8;
  std::chrono::seconds max_connection_age{300};
  tls::Settings tls;
  // A plaintext port that serves the health service only (Kubernetes' gRPC probes do not
  // speak TLS); 0: none.
  int health_port = 0;
};

// Settings every service binary shares, read from flags (server.cc has their names; each
// falls back to an MSP_* environment variable).
// The health service name a liveness probe checks: SERVING as long as the process answers.
// The overall name "" (readiness) is NOT_SERVING while the database is unreachable or the
// server drains.
inline constexpr char kLivenessHealthService[] = "liveness";

struct CommonConfig {
  ServerSettings server;
  std::string database_url;
  int db_pool_size = 8;
  int db_statement_timeout_ms = 5000;
  std::string redis_address;
  auth::VerifierConfig jwt;
  // The key this service signs its own service tokens with (HS256: the shared secret;
  // RS256/ES256: a private key PEM). Empty when none is configured.
  std::string jwt_signing_key;
  // Where it came from, to read again when it changes; empty for HS256's shared secret.
  std::string jwt_signing_key_file;
};

// The token this service presents to the others. Throws std::runtime_error without a key.
auth::ServiceToken ServiceTokenFromConfig(const CommonConfig& config,
                                          const std::string& service_name);

// Reads CommonConfig from the parsed flags. Throws std::runtime_error on a bad combination.
CommonConfig CommonConfigFromFlags(const std::string& service_name);

// Call first thing in main, before any thread exists, so SIGTERM/SIGINT reach only the
// host's signal wait.
void BlockTerminationSignals();

struct HostOptions {
  std::string service_name;  // for logs and metrics: "customer"
  ServerSettings server;
  // Full names of the services that health reports individually.
  std::vector<std::string> health_services;
  // Polled every second: false means NOT_SERVING (e.g. the database is unreachable).
  std::function<bool()> readiness;
  // ErrorInfo's domain in this service's errors: "customer.msp.v1".
  std::string error_domain;
};

// The server bootstrap: synchronous gRPC server with a bounded thread pool (handlers block on
// the database, which gRPC's callback reactors must never do), reflection, the standard health
// service, Prometheus metrics, and a graceful SIGTERM drain.
class ServiceHost {
 public:
  explicit ServiceHost(HostOptions options);
  ~ServiceHost();
  ServerMetrics& metrics() { return metrics_; }
  void AddService(grpc::Service* service) { services_.push_back(service); }
  void SetReadiness(std::function<bool()> readiness) { options_.readiness = std::move(readiness); }
  // Starts, serves until SIGTERM or SIGINT, drains in-flight calls, returns the exit code.
  int Run();

 private:
  void UpdateHealth(bool serving);

  HostOptions options_;
  ServerMetrics metrics_;
  std::vector<grpc::Service*> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // the plaintext health-only port
  std::atomic<bool> draining_{false};
  int last_health_ = -1;  // readiness thread only
};

// Keeps a pool's gauges current; returns the readiness probe for the host.
std::function<bool()> DatabaseReadiness(pg::Pool* pool, ServerMetrics* metrics);

}  // namespace msp
