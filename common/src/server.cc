#include "msp/common/server.h"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.pb.h"
#include "msp/common/channels.h"
#include "msp/common/jwks.h"
#include "msp/common/log.h"
#include "msp/common/malformed_requests.h"
#include "msp/common/page_tokens.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC listen address host:port");
ABSL_FLAG(std::string, metrics_bind, "127.0.0.1", "address the Prometheus HTTP endpoint binds to");
ABSL_FLAG(int, metrics_port, 0, "Prometheus metrics HTTP port (0: none)");
ABSL_FLAG(std::string, database_url, "", "libpq connection string of PostgreSQL");
ABSL_FLAG(int, db_pool_size, 8, "PostgreSQL connections at most");
ABSL_FLAG(int, db_statement_timeout_ms, 5000, "PostgreSQL statement timeout");
ABSL_FLAG(std::string, redis_address, "127.0.0.1:6379", "Redis host:port");
ABSL_FLAG(int, drain_timeout_ms, 10000, "on SIGTERM, how long in-flight calls may take");
ABSL_FLAG(int, shutdown_delay_ms, 0, "on SIGTERM, how long to answer NOT_SERVING before draining");
ABSL_FLAG(int, max_threads, 256, "gRPC handler threads at most (beyond: RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, grpc_min_pollers, 4, "gRPC sync server: threads polling for new calls, at least");
ABSL_FLAG(int, grpc_max_pollers, 8, "gRPC sync server: threads polling for new calls, at most");
ABSL_FLAG(int, max_connection_age_s, 300,
          "close client connections after this long (gracefully), so that clients spread over new "
          "replicas; 0: never");
ABSL_FLAG(std::string, jwt_algorithm, "HS256", "JWT algorithm: HS256, RS256 or ES256");
ABSL_FLAG(std::string, jwt_secret, "", "HS256 shared secret (dev only; prefer jwt_key_file)");
ABSL_FLAG(std::string, jwt_key_file, "", "HS256 secret or RS256/ES256 public key PEM file");
ABSL_FLAG(std::string, jwt_signing_key_file, "",
          "RS256/ES256 private key PEM this service signs its service tokens with, read again "
          "when it changes (HS256: the shared secret is used)");
ABSL_FLAG(std::string, jwt_jwks_file, "",
          "JWKS file of the RS256/ES256 keys tokens are verified with, by their kid; read again "
          "when it changes. Replaces --jwt_key_file");
ABSL_FLAG(std::string, jwt_issuer, "msp-dev", "required `iss` of tokens");
ABSL_FLAG(std::string, jwt_audience, "msp-customers", "required `aud` of tokens");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error");
ABSL_FLAG(double, access_log_sample_rate, 1.0,
          "The share of successful calls the access log writes a line for (0 to 1; chosen by "
          "trace id, so a trace is whole or absent); every failed call is written. Lines are at "
          "info level: --log_level warn writes only the failures of ours");
ABSL_FLAG(std::string, tls_cert_file, "",
          "this service's TLS certificate chain (PEM): the listener serves TLS, and with mutual "
          "TLS it is this service's client identity; read again when it changes");
ABSL_FLAG(std::string, tls_key_file, "", "the private key of --tls_cert_file (PEM)");
ABSL_FLAG(std::string, tls_ca_file, "",
          "CA bundle (PEM) that verifies the services this one calls (their calls then use "
          "TLS) and the client certificates it is presented");
ABSL_FLAG(std::string, tls_client_certs, "none",
          "client certificates: none; services (mutual TLS between services: a service token "
          "counts only with a certificate naming its identity); all (every caller presents one)");
ABSL_FLAG(int, tls_reload_interval_s, 30, "how often certificate files are looked at for changes");
ABSL_FLAG(int, health_port, 0,
          "a plaintext port serving only the gRPC health service, for probes that do not speak "
          "TLS (0: none)");
ABSL_FLAG(std::string, page_token_key_file, "",
          "secret that signs page tokens, the same for every replica (default: derived from "
          "the service-token signing key)");

namespace msp {

CommonConfig CommonConfigFromFlags(const std::string& service_name) {
  CommonConfig config;
  config.server.listen_address = absl::GetFlag(FLAGS_listen);
  config.server.metrics_bind = absl::GetFlag(FLAGS_metrics_bind);
  config.server.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  config.database_url = absl::GetFlag(FLAGS_database_url);
  config.db_pool_size = absl::GetFlag(FLAGS_db_pool_size);
  config.db_statement_timeout_ms = absl::GetFlag(FLAGS_db_statement_timeout_ms);
  config.redis_address = absl::GetFlag(FLAGS_redis_address);
  config.server.drain_timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms));
  config.server.shutdown_delay = std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_delay_ms));
  config.server.max_threads = absl::GetFlag(FLAGS_max_threads);
  config.server.min_pollers = absl::GetFlag(FLAGS_grpc_min_pollers);
  config.server.max_pollers = absl::GetFlag(FLAGS_grpc_max_pollers);
  config.server.max_connection_age =
      std::chrono::seconds(absl::GetFlag(FLAGS_max_connection_age_s));
  config.server.tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config.server.tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  config.server.tls.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  config.server.tls.reload_interval =
      std::chrono::seconds(std::max(1, absl::GetFlag(FLAGS_tls_reload_interval_s)));
  config.server.health_port = absl::GetFlag(FLAGS_health_port);
  try {
    config.server.tls.client_certificates =
        tls::ParseClientCertificates(absl::GetFlag(FLAGS_tls_client_certs));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(absl::StrCat("--tls_client_certs: ", e.what()));
  }
  if (config.server.tls.serves_tls() != !config.server.tls.key_file.empty()) {
    throw std::runtime_error("--tls_cert_file and --tls_key_file go together");
  }
  if (config.server.tls.client_certificates != tls::ClientCertificates::kNone &&
      (!config.server.tls.serves_tls() || !config.server.tls.calls_with_tls())) {
    throw std::runtime_error(
        "--tls_client_certs needs --tls_cert_file, --tls_key_file and --tls_ca_file");
  }
  config.jwt.service_tokens_need_certificates =
      config.server.tls.client_certificates != tls::ClientCertificates::kNone;
  ConfigureInternalChannels(config.server.tls);
  config.jwt.algorithm = absl::GetFlag(FLAGS_jwt_algorithm);
  config.jwt.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  config.jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
  const std::string jwks_file = absl::GetFlag(FLAGS_jwt_jwks_file);
  if (!jwks_file.empty()) {
    if (config.jwt.algorithm != "RS256" && config.jwt.algorithm != "ES256") {
      throw std::runtime_error(
          "a key set holds RS256/ES256 keys: --jwt_algorithm names the one this service signs "
          "with");
    }
    try {
      config.jwt.key_set = std::make_shared<auth::KeySetFile>(jwks_file);
    } catch (const std::exception& e) {
      throw std::runtime_error(absl::StrCat("--jwt_jwks_file: ", e.what()));
    }
  } else {
    const std::string key_file = absl::GetFlag(FLAGS_jwt_key_file);
    config.jwt.key =
        key_file.empty() ? absl::GetFlag(FLAGS_jwt_secret) : auth::ReadKeyFile(key_file);
    if (config.jwt.key.empty()) {
      throw std::runtime_error(
          "no JWT key: set --jwt_jwks_file or --jwt_key_file (or --jwt_secret for local dev)");
    }
  }
  const std::string signing_key_file = absl::GetFlag(FLAGS_jwt_signing_key_file);
  if (!signing_key_file.empty()) {
    config.jwt_signing_key = auth::ReadKeyFile(signing_key_file);
    config.jwt_signing_key_file = signing_key_file;
  } else if (config.jwt.algorithm == "HS256") {
    config.jwt_signing_key = config.jwt.key;
  }
  if (config.db_pool_size < 1 || config.server.max_threads < 2) {
    throw std::runtime_error("--db_pool_size must be >= 1 and --max_threads >= 2");
  }
  log::Configure(service_name, log::ParseLevel(absl::GetFlag(FLAGS_log_level)));
  const double access_rate = absl::GetFlag(FLAGS_access_log_sample_rate);
  if (!(access_rate >= 0.0 && access_rate <= 1.0)) {
    throw std::runtime_error("--access_log_sample_rate must be between 0 and 1");
  }
  log::ConfigureAccessLog(access_rate);
  log::RouteGrpcLogs();
  if (config.jwt.algorithm == "HS256" && !config.jwt.key_set) {
    // One shared secret both verifies and signs: anyone who can verify can mint.
    log::Warn(
        "HS256 tokens: for development only; production verifies RS256/ES256 keys of a "
        "key set (--jwt_jwks_file)");
  }
  const std::string page_token_key_file = absl::GetFlag(FLAGS_page_token_key_file);
  if (!page_token_key_file.empty()) {
    SetPageTokenKey(auth::ReadKeyFile(page_token_key_file));
  } else if (!config.jwt_signing_key.empty()) {
    // Every replica has the service-token signing key (a secret, whatever the algorithm): the
    // page-token key is derived from it for this service, never equal to it.
    SetPageTokenKey(
        auth::DeriveKey(config.jwt_signing_key, absl::StrCat("msp page tokens v1 ", service_name)));
  } else {
    log::Warn("no --page_token_key_file and no signing key: page tokens hold in this process only");
  }
  return config;
}

auth::ServiceToken ServiceTokenFromConfig(const CommonConfig& config,
                                          const std::string& service_name) {
  if (config.jwt_signing_key.empty()) {
    throw std::runtime_error("no key to sign service tokens: set --jwt_signing_key_file");
  }
  auth::TokenIssuer issuer(config.jwt.algorithm, config.jwt_signing_key, config.jwt.issuer,
                           config.jwt.audience);
  if (config.jwt_signing_key_file.empty()) return auth::ServiceToken(issuer, service_name);
  return auth::ServiceToken(issuer, service_name, config.jwt_signing_key_file);
}

void BlockTerminationSignals() {
  // Debian's Abseil keeps absl::Mutex deadlock detection on; gRPC takes absl mutexes on every
  // call, and the cycle bookkeeping showed up in profiles of the hot path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer that vanishes must not kill the process through SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
}

ServiceHost::ServiceHost(HostOptions options)
    : options_(std::move(options)), metrics_(options_.service_name) {
  // Keeps health.proto's descriptor linked in, so reflection can describe grpc.health.v1.Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
}

ServiceHost::~ServiceHost() = default;

void ServiceHost::UpdateHealth(bool serving) {
  if (server_ == nullptr) return;
  auto* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  const bool ok = serving && !draining_.load();
  if (static_cast<int>(ok) != last_health_) {
    log::Info(ok ? "health: SERVING" : "health: NOT_SERVING",
              {{"ready", serving}, {"draining", draining_.load()}});
    last_health_ = ok;
  }
  for (auto* service :
       {health, health_server_ ? health_server_->GetHealthCheckService() : nullptr}) {
    if (service == nullptr) continue;
    service->SetServingStatus("", ok);
    // For liveness probes: the process answers, whatever its database does (a restart would
    // not bring PostgreSQL back) and while it drains.
    service->SetServingStatus(kLivenessHealthService, true);
    for (const auto& name : options_.health_services) service->SetServingStatus(name, ok);
  }
  metrics_.serving().Set(ok ? 1 : 0);
}

int ServiceHost::Run() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.server.listen_address,
                           tls::ServerCredentials(options_.server.tls), &port);
  grpc::ResourceQuota quota(absl::StrCat(options_.service_name, "-quota"));
  quota.SetMaxThreads(options_.server.max_threads);
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(4 * 1024 * 1024);
  if (options_.server.max_connection_age.count() > 0) {
    // HTTP/2 connections live long; without an age limit a scaled-out Deployment's new pods
    // would get no traffic from clients that are already connected.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(options_.server.max_connection_age.count() * 1000));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30000);
  }
  // Dead peers (a vanished pod, a cut network) are noticed within a minute.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // More pollers than gRPC's default (1..2) nearly doubles a 2-core server's throughput
  // (tools/bench: echo at concurrency 16 went from ~24k to ~40k calls/s).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                              options_.server.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              options_.server.max_pollers);
  // Requests gRPC cannot parse are answered INVALID_ARGUMENT in the google.rpc.Status model.
  RouteProtobufLogs();
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MalformedRequestInterceptorFactory(options_.error_domain));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (auto* service : services_) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    log::Error("cannot listen", {{"address", options_.server.listen_address}});
    return 1;
  }
  if (options_.server.health_port > 0) {
    // Its own server: the port answers health checks and nothing else.
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    const std::string host =
        options_.server.listen_address.substr(0, options_.server.listen_address.rfind(':'));
    health_builder.AddListeningPort(absl::StrCat(host, ":", options_.server.health_port),
                                    grpc::InsecureServerCredentials(), &health_port);
    health_server_ = health_builder.BuildAndStart();
    if (health_server_ == nullptr || health_port == 0) {
      log::Error("cannot listen for health checks", {{"port", options_.server.health_port}});
      server_->Shutdown();
      return 1;
    }
  }
  try {
    metrics_.Serve(options_.server.metrics_bind, options_.server.metrics_port);
  } catch (const std::exception& e) {
    log::Error("cannot serve metrics",
               {{"port", options_.server.metrics_port}, {"error", e.what()}});
    server_->Shutdown();
    return 1;
  }

  std::mutex mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  UpdateHealth(options_.readiness ? options_.readiness() : true);
  std::thread readiness_thread([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop_cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
      lock.unlock();
      UpdateHealth(options_.readiness ? options_.readiness() : true);
      lock.lock();
    }
  });
  log::Info("serving", {{"address", options_.server.listen_address},
                        {"port", port},
                        {"tls", options_.server.tls.serves_tls()},
                        {"health_port", options_.server.health_port},
                        {"metrics_port", options_.server.metrics_port}});

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int signal_number = 0;
  sigwait(&set, &signal_number);

  log::Info("draining", {{"signal", signal_number},
                         {"drain_timeout_ms", options_.server.drain_timeout.count()}});
  draining_ = true;
  UpdateHealth(false);
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  stop_cv.notify_all();
  readiness_thread.join();
  std::this_thread::sleep_for(options_.server.shutdown_delay);
  // Health answers NOT_SERVING from here on; in-flight calls get until the deadline.
  server_->GetHealthCheckService()->Shutdown();
  if (health_server_) health_server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + options_.server.drain_timeout);
  server_->Wait();
  if (health_server_) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  log::Info("stopped");
  return 0;
}

std::function<bool()> DatabaseReadiness(pg::Pool* pool, ServerMetrics* metrics) {
  metrics->pool_size().Set(pool->size());
  return [pool, metrics] {
    const bool ok = pool->Ping();
    metrics->pool_in_use().Set(pool->in_use());
    return ok;
  };
}

}  // namespace msp
