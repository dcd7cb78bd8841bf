#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "msp/common/auth.h"
#include "nlohmann/json.hpp"
#include "processes.h"

// The whole suite on loopback for end-to-end tests and benchmarks: a throwaway PostgreSQL and
// redis-server, and the four real service binaries on free ports, started once per test binary.
namespace msp::testing {

struct ServiceInstance {
  std::string name;  // customer, service-assignment, ...
  std::string address;
  int metrics_port = 0;
  int health_port = 0;  // with TLS: the plaintext health-only port
  std::unique_ptr<ChildProcess> process;
};

// A stack whose services serve TLS with certificates of a CA made for it (tools/dev-ca): each
// service's names its identity, localhost and 127.0.0.1.
struct StackTls {
  std::string client_certs = "services";  // --tls_client_certs
};

// PostgreSQL and Redis run elsewhere (a Patroni cluster, Sentinels): the services are given
// these addresses instead of a server the stack starts.
struct StackBackends {
  std::string database_url;   // --database_url (the msp database exists)
  std::string redis_address;  // --redis_address
  // The reporting service's --database_read_url (a standby); empty: none.
  std::string database_read_url;
};

class Stack {
 public:
  // `services`: which to start (default all four). `extra_flags` go to every service.
  // `durable_postgres`: PostgreSQL with fsync and synchronous commit (for crashing it).
  explicit Stack(std::vector<std::string> services = {"customer", "service-assignment",
                                                      "onboarding-invitation", "reporting"},
                 std::vector<std::string> extra_flags = {}, bool durable_postgres = false,
                 std::optional<StackTls> tls = std::nullopt,
                 std::optional<StackBackends> backends = std::nullopt);
  ~Stack();

  const ServiceInstance& service(const std::string& name) const;
  std::string address(const std::string& name) const { return service(name).address; }
  // The servers the stack started (not with StackBackends).
  PostgresServer& postgres();
  RedisServer& redis();
  // Where the onboarding service sends its emails.
  SmtpSink& smtp() { return *smtp_; }
  std::string database_url() const;
  // The database, Redis and token flags every binary of the suite takes (for running the
  // suite's tools, such as reporting_rebuild, against this stack).
  std::vector<std::string> CommonFlags() const;

  // Starts (again) a service that was stopped or killed, with extra flags for this start;
  // waits until SERVING.
  // `env` adds environment variables (e.g. MSP_FAILPOINTS for crash tests).
  void StartService(const std::string& name, const std::vector<std::string>& flags = {},
                    const std::map<std::string, std::string>& env = {});
  // SIGTERM (drain) or SIGKILL; returns the exit status.
  int StopService(const std::string& name, int signal_number);
  // Another replica of a service (same database, Redis and flags, and `flags`), on ports of its
  // own; waits until SERVING. It runs until the stack stops.
  const ServiceInstance& StartReplica(const std::string& name,
                                      const std::vector<std::string>& flags = {});

  std::string MspToken(const std::string& msp_id, const std::string& admin = "admin") const;
  std::string CustomerToken(const std::string& customer_id) const;
  // A service identity's token (identities.h); with `on_behalf_of`, relaying for that person.
  std::string ServiceToken(const std::string& service,
                           std::optional<auth::OnBehalfOf> on_behalf_of = std::nullopt) const;
  const auth::TokenIssuer& issuer() const { return issuer_; }
  // The file holding the HS256 secret the services verify (and sign service tokens) with.
  const std::string& jwt_key_file() const { return secret_file_; }
  const std::string& log_dir() const { return logs_.path(); }

  // A channel to a service: plaintext, or with TLS verifying it against the stack's CA.
  std::shared_ptr<grpc::Channel> Channel(const std::string& name) const;
  // With TLS: the directory of the CA (ca.pem) and the certificates (<name>.pem,
  // <name>-key.pem); empty without.
  const std::string& tls_dir() const { return tls_dir_; }
  // With TLS: a certificate of the stack's CA for `identity` (made once), as the client
  // identity of a TLS channel to service `name`.
  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& name,
                                           const std::string& identity) const;
  // tools/dev-ca: a certificate of the stack's CA for `name` with these names.
  void MakeCertificate(const std::string& name, const std::vector<std::string>& sans) const;

  // Lines of any service's log (everything the stack's processes wrote so far) that are not a
  // JSON object, or that hold an email address, the test contact's phone number, a JWT or a
  // link token in clear: logs mask personal data and never print secrets.
  std::vector<std::string> LogLeaks() const;
  // A service's log lines in a trace (`trace_id`), with message `msg` when given ("call": the
  // access log).
  std::vector<nlohmann::json> LogLines(const std::string& name, const std::string& trace_id,
                                       const std::string& msg = "") const;

 private:
  std::vector<std::string> ArgvFor(const std::string& name, const ServiceInstance& instance,
                                   const std::vector<std::string>& flags) const;
  void Launch(const std::string& name, ServiceInstance& instance,
              const std::vector<std::string>& flags, const std::map<std::string, std::string>& env,
              const std::string& log_name);

  TempDir logs_;
  std::unique_ptr<PostgresServer> postgres_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<SmtpSink> smtp_;
  std::map<std::string, ServiceInstance> services_;
  std::vector<std::unique_ptr<ServiceInstance>> replicas_;
  std::vector<std::string> extra_flags_;
  std::string secret_file_;
  auth::TokenIssuer issuer_;
  std::optional<StackTls> tls_;
  std::optional<StackBackends> backends_;
  std::string tls_dir_;
};

// Starts a stack before a test binary's first test and stops it after its last (servers start
// once per suite): `const auto* const kEnvironment =
// ::testing::AddGlobalTestEnvironment(new StackEnvironment(&stack));`
class StackEnvironment : public ::testing::Environment {
 public:
  explicit StackEnvironment(Stack** slot,
                            std::vector<std::string> services = {"customer", "service-assignment",
                                                                 "onboarding-invitation",
                                                                 "reporting"},
                            std::vector<std::string> extra_flags = {},
                            std::optional<StackTls> tls = std::nullopt)
      : slot_(slot),
        services_(std::move(services)),
        extra_flags_(std::move(extra_flags)),
        tls_(std::move(tls)) {}
  void SetUp() override { *slot_ = new Stack(services_, extra_flags_, false, tls_); }
  // Every log line every service wrote during the whole test binary is checked here.
  void TearDown() override {
    if (*slot_ != nullptr) {
      for (const auto& leak : (*slot_)->LogLeaks()) ADD_FAILURE() << "log line leaks: " << leak;
    }
    delete *slot_;
    *slot_ = nullptr;
  }

 private:
  Stack** slot_;
  std::vector<std::string> services_;
  std::vector<std::string> extra_flags_;
  std::optional<StackTls> tls_;
};

// The tokens of an MSP admin, a customer's super admin and a service identity, signed by
// `issuer` (Stack's own, or another suite's: the fault driver against tools/cluster).
std::string MintMspToken(const auth::TokenIssuer& issuer, const std::string& msp_id,
                         const std::string& admin = "admin");
std::string MintCustomerToken(const auth::TokenIssuer& issuer, const std::string& customer_id);
std::string MintServiceToken(const auth::TokenIssuer& issuer, const std::string& service,
                             std::optional<auth::OnBehalfOf> on_behalf_of = std::nullopt);

// A service's log line that is not a JSON object, or that holds an email address, the test
// contact's phone number, a JWT or a link token in clear (Stack::LogLeaks).
bool LogLineLeaks(const std::string& line);

// Adds `authorization: Bearer <token>` to a client context.
void Authorize(grpc::ClientContext& context, const std::string& token);

// Calls one unary RPC with a token ("" for none) and a 10-second deadline:
// Call(&Service::Stub::Method, *stub, token, request, &response).
template <typename Stub, typename Request, typename Response>
grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  Stub& stub, const std::string& token, const Request& request,
                  Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) Authorize(context, token);
  return (stub.*method)(&context, request, response);
}

}  // namespace msp::testing
