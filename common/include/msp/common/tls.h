#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

// TLS for the suite's listeners and for its calls to each other. Certificates and keys are
// files (a Kubernetes Secret's), read again when they change, so a rotation needs no restart.
namespace msp::tls {

// Which callers present a client certificate (verified against the CA bundle).
enum class ClientCertificates {
  kNone,
  // Requested, and verified when presented; a service token is admitted only with a
  // certificate that names its identity (mutual TLS between services). People's tokens may
  // come without one.
  kServices,
  // Every caller presents one; a service's names its identity.
  kAll,
};

struct Settings {
  std::string cert_file;  // this service's certificate chain (PEM); empty: plaintext
  std::string key_file;
  // The CA bundle that verifies the servers this service calls, and the client certificates
  // it is presented.
  std::string ca_file;
  ClientCertificates client_certificates = ClientCertificates::kNone;
  std::chrono::seconds reload_interval{30};

  bool serves_tls() const { return !cert_file.empty(); }
  bool calls_with_tls() const { return !ca_file.empty(); }
};

// "none", "services" or "all". Throws std::invalid_argument.
ClientCertificates ParseClientCertificates(const std::string& value);

// The listener's credentials: TLS with the settings' certificate (reloaded), or plaintext.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const Settings& settings);
// Credentials for calling another service of the suite: TLS verifying the server's name
// against the CA bundle (and this service's certificate as its client identity), or plaintext
// without a CA bundle.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const Settings& settings);

// The identities a verified client certificate names: its DNS names, and the last path
// segment of its URI names (spiffe://msp/ns/msp/sa/onboarding-invitation). Empty without one.
std::vector<std::string> ClientIdentities(const grpc::ServerContextBase& context);

}  // namespace msp::tls
