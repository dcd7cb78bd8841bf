#include "stack.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "msp/common/tls.h"
#include "nlohmann/json.hpp"

namespace msp::testing {
namespace {

std::string BinaryFor(const std::string& service) {
  std::string target = service;
  for (char& c : target) {
    if (c == '-') c = '_';
  }
  return BinaryPath(absl::StrCat("services/", service, "/", target, "_server"));
}

std::string HealthNameFor(const std::string& service) {
  if (service == "customer") return "msp.customer.v1.CustomerService";
  return "";
}

}  // namespace

Stack::Stack(std::vector<std::string> services, std::vector<std::string> extra_flags,
             bool durable_postgres, std::optional<StackTls> tls,
             std::optional<StackBackends> backends)
    : extra_flags_(std::move(extra_flags)),
      issuer_("HS256", kTestJwtSecret, kTestIssuer, kTestAudience),
      tls_(std::move(tls)),
      backends_(std::move(backends)) {
  if (!backends_) {
    postgres_ = std::make_unique<PostgresServer>(durable_postgres);
    postgres_->CreateDatabase("msp");
    redis_ = std::make_unique<RedisServer>();
  }
  smtp_ = std::make_unique<SmtpSink>();
  secret_file_ = logs_.path() + "/jwt-secret";
  std::ofstream(secret_file_) << kTestJwtSecret;
  for (const auto& name : services) {
    ServiceInstance instance;
    instance.name = name;
    instance.address = absl::StrCat("127.0.0.1:", FreePort());
    instance.metrics_port = FreePort();
    if (tls_) instance.health_port = FreePort();
    services_[name] = std::move(instance);
  }
  if (tls_) {
    tls_dir_ = logs_.path() + "/tls";
    for (const auto& name : services) MakeCertificate(name, {"localhost", "IP:127.0.0.1"});
  }
  for (const auto& name : services) StartService(name);
}

Stack::~Stack() {
  const auto start = std::chrono::steady_clock::now();
  std::vector<ServiceInstance*> all;
  for (auto& [name, instance] : services_) all.push_back(&instance);
  for (auto& replica : replicas_) all.push_back(replica.get());
  for (auto* instance : all) {
    if (instance->process && instance->process->Running()) instance->process->Signal(SIGTERM);
  }
  for (auto* instance : all) {
    if (instance->process && instance->process->Wait(std::chrono::seconds(15)) < 0) {
      instance->process->Signal(SIGKILL);
    }
  }
  std::fprintf(stderr, "stack: stopped in %lld ms\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count()));
}

std::string Stack::database_url() const {
  return backends_ ? backends_->database_url : postgres_->ConnInfo("msp");
}

PostgresServer& Stack::postgres() {
  if (!postgres_) throw std::logic_error("the stack's PostgreSQL runs elsewhere");
  return *postgres_;
}

RedisServer& Stack::redis() {
  if (!redis_) throw std::logic_error("the stack's Redis runs elsewhere");
  return *redis_;
}

bool LogLineLeaks(const std::string& line) {
  static const std::regex kEmail(R"([A-Za-z0-9._%+-]{2,}@[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
  static const std::regex kJwt(R"(eyJ[A-Za-z0-9_-]{8,}\.)");
  static const std::regex kLinkToken(R"(token=[A-Za-z0-9_-]{20,})");
  // Sanitizer reports and abseil's early flag errors are not log lines of ours.
  if (line.empty() || line.rfind("==", 0) == 0) return false;
  return !nlohmann::json::accept(line) || std::regex_search(line, kEmail) ||
         line.find("+49301234567") != std::string::npos || std::regex_search(line, kJwt) ||
         std::regex_search(line, kLinkToken);
}

std::vector<std::string> Stack::LogLeaks() const {
  std::vector<std::string> leaks;
  for (const auto& entry : std::filesystem::directory_iterator(logs_.path())) {
    const std::string file = entry.path().filename();
    // The services' logs and their replicas' (node, rebuild and CLI runs write elsewhere or are
    // checked apart).
    const std::string stem = entry.path().stem().string();
    if (!services_.contains(stem.substr(0, stem.find("-replica-")))) continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      if (LogLineLeaks(line)) leaks.push_back(absl::StrCat(file, ": ", line.substr(0, 300)));
    }
  }
  return leaks;
}

std::vector<nlohmann::json> Stack::LogLines(const std::string& name, const std::string& trace_id,
                                            const std::string& msg) const {
  std::vector<nlohmann::json> out;
  std::istringstream log(service(name).process->ReadLog());
  for (std::string line; std::getline(log, line);) {
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object() || json.value("trace_id", "") != trace_id) {
      continue;
    }
    if (msg.empty() || json.value("msg", "") == msg) out.push_back(std::move(json));
  }
  return out;
}

std::vector<std::string> Stack::CommonFlags() const {
  return {"--database_url=" + database_url(),
          "--redis_address=" +
              (backends_ ? backends_->redis_address : absl::StrCat("127.0.0.1:", redis_->port())),
          "--jwt_key_file=" + secret_file_, absl::StrCat("--jwt_issuer=", kTestIssuer),
          absl::StrCat("--jwt_audience=", kTestAudience)};
}

const ServiceInstance& Stack::service(const std::string& name) const {
  auto it = services_.find(name);
  if (it == services_.end()) throw std::runtime_error("service not started: " + name);
  return it->second;
}

std::vector<std::string> Stack::ArgvFor(const std::string& name, const ServiceInstance& instance,
                                        const std::vector<std::string>& flags) const {
  std::vector<std::string> argv = {BinaryFor(name), "--listen=" + instance.address,
                                   absl::StrCat("--metrics_port=", instance.metrics_port)};
  for (auto& f : CommonFlags()) argv.push_back(std::move(f));
  // Where each service finds the others it calls.
  if (name == "customer" && services_.contains("service-assignment")) {
    argv.push_back("--assignment_address=" + services_.at("service-assignment").address);
    argv.push_back("--outbox_poll_ms=100");
  }
  if (name == "customer" && services_.contains("onboarding-invitation")) {
    argv.push_back("--onboarding_address=" + services_.at("onboarding-invitation").address);
  }
  if (name == "service-assignment" && services_.contains("customer")) {
    argv.push_back("--customer_address=" + services_.at("customer").address);
  }
  if (name == "onboarding-invitation") {
    if (services_.contains("customer")) {
      argv.push_back("--customer_address=" + services_.at("customer").address);
    }
    if (services_.contains("service-assignment")) {
      argv.push_back("--assignment_address=" + services_.at("service-assignment").address);
    }
    argv.push_back("--mail_url=" + smtp_->url());
    argv.push_back("--sweep_interval_s=1");
    argv.push_back("--outbox_poll_ms=100");
  }
  if (name == "reporting") {
    if (services_.contains("onboarding-invitation")) {
      argv.push_back("--onboarding_address=" + services_.at("onboarding-invitation").address);
    }
    argv.push_back("--consumer_name=reporting-test");
    if (backends_ && !backends_->database_read_url.empty()) {
      argv.push_back("--database_read_url=" + backends_->database_read_url);
    }
  }
  // Tests drive one MSP far harder than a portal does; the per-tenant limits are tested with
  // stacks that set them (extra flags come later and win).
  argv.push_back("--tenant_rate_limit_qps=0");
  argv.push_back("--tenant_max_concurrent_calls=0");
  if (tls_) {
    argv.push_back(absl::StrCat("--tls_cert_file=", tls_dir_, "/", name, ".pem"));
    argv.push_back(absl::StrCat("--tls_key_file=", tls_dir_, "/", name, "-key.pem"));
    argv.push_back(absl::StrCat("--tls_ca_file=", tls_dir_, "/ca.pem"));
    argv.push_back("--tls_client_certs=" + tls_->client_certs);
    argv.push_back("--tls_reload_interval_s=1");
    argv.push_back(absl::StrCat("--health_port=", instance.health_port));
  }
  for (const auto& f : extra_flags_) argv.push_back(f);
  for (const auto& f : flags) argv.push_back(f);
  return argv;
}

void Stack::Launch(const std::string& name, ServiceInstance& instance,
                   const std::vector<std::string>& flags,
                   const std::map<std::string, std::string>& env, const std::string& log_name) {
  const auto start = std::chrono::steady_clock::now();
  instance.process = std::make_unique<ChildProcess>(ArgvFor(name, instance, flags), env,
                                                    absl::StrCat(logs_.path(), "/", log_name));
  const std::string health_address =
      tls_ ? absl::StrCat("127.0.0.1:", instance.health_port) : instance.address;
  if (!WaitForServing(health_address, std::chrono::seconds(30), HealthNameFor(name))) {
    throw std::runtime_error(
        absl::StrCat(name, " did not become SERVING: ", instance.process->ReadLog()));
  }
  std::fprintf(stderr, "stack: %s SERVING on %s after %lld ms\n", name.c_str(),
               instance.address.c_str(),
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count()));
}

void Stack::StartService(const std::string& name, const std::vector<std::string>& flags,
                         const std::map<std::string, std::string>& env) {
  Launch(name, services_.at(name), flags, env, name + ".log");
}

const ServiceInstance& Stack::StartReplica(const std::string& name,
                                           const std::vector<std::string>& flags) {
  auto replica = std::make_unique<ServiceInstance>();
  replica->name = name;
  replica->address = absl::StrCat("127.0.0.1:", FreePort());
  replica->metrics_port = FreePort();
  if (tls_) replica->health_port = FreePort();
  Launch(name, *replica, flags, {}, absl::StrCat(name, "-replica-", replicas_.size() + 1, ".log"));
  replicas_.push_back(std::move(replica));
  return *replicas_.back();
}

int Stack::StopService(const std::string& name, int signal_number) {
  auto& instance = services_.at(name);
  instance.process->Signal(signal_number);
  return instance.process->Wait(std::chrono::seconds(30));
}

std::string MintMspToken(const auth::TokenIssuer& issuer, const std::string& msp_id,
                         const std::string& admin) {
  auth::TokenClaims claims;
  claims.kind = auth::PrincipalKind::kMspAdmin;
  claims.subject = admin;
  claims.msp_id = msp_id;
  return issuer.Mint(claims);
}

std::string MintCustomerToken(const auth::TokenIssuer& issuer, const std::string& customer_id) {
  auth::TokenClaims claims;
  claims.kind = auth::PrincipalKind::kCustomerAdmin;
  claims.subject = "super-admin-" + customer_id;
  claims.customer_id = customer_id;
  return issuer.Mint(claims);
}

std::string MintServiceToken(const auth::TokenIssuer& issuer, const std::string& service,
                             std::optional<auth::OnBehalfOf> on_behalf_of) {
  auth::TokenClaims claims;
  claims.kind = auth::PrincipalKind::kService;
  claims.subject = service;
  claims.on_behalf_of = std::move(on_behalf_of);
  return issuer.Mint(claims);
}

std::string Stack::MspToken(const std::string& msp_id, const std::string& admin) const {
  return MintMspToken(issuer_, msp_id, admin);
}

std::string Stack::CustomerToken(const std::string& customer_id) const {
  return MintCustomerToken(issuer_, customer_id);
}

std::string Stack::ServiceToken(const std::string& service,
                                std::optional<auth::OnBehalfOf> on_behalf_of) const {
  return MintServiceToken(issuer_, service, std::move(on_behalf_of));
}

std::shared_ptr<grpc::Channel> Stack::Channel(const std::string& name) const {
  if (!tls_) return grpc::CreateChannel(address(name), grpc::InsecureChannelCredentials());
  tls::Settings settings;
  settings.ca_file = tls_dir_ + "/ca.pem";
  return grpc::CreateChannel(address(name), tls::ChannelCredentials(settings));
}

void Stack::MakeCertificate(const std::string& name, const std::vector<std::string>& sans) const {
  std::vector<std::string> argv = {std::string(MSP_SOURCE_DIR) + "/tools/dev-ca", tls_dir_, name};
  argv.insert(argv.end(), sans.begin(), sans.end());
  if (RunCommand(argv, logs_.path() + "/dev-ca.log") != 0) {
    throw std::runtime_error("tools/dev-ca failed for " + name);
  }
}

std::shared_ptr<grpc::Channel> Stack::ChannelAs(const std::string& name,
                                                const std::string& identity) const {
  const std::string cert = absl::StrCat(tls_dir_, "/", identity, ".pem");
  if (!std::filesystem::exists(cert)) MakeCertificate(identity, {});
  tls::Settings settings;
  settings.ca_file = tls_dir_ + "/ca.pem";
  settings.cert_file = cert;
  settings.key_file = absl::StrCat(tls_dir_, "/", identity, "-key.pem");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection, its own identity
  return grpc::CreateCustomChannel(address(name), tls::ChannelCredentials(settings), args);
}

void Authorize(grpc::ClientContext& context, const std::string& token) {
  context.AddMetadata("authorization", "Bearer " + token);
}

}  // namespace msp::testing
