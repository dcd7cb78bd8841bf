#include "msp/common/tls.h"

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <stdexcept>

namespace msp::tls {
namespace {

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> Provider(
    const std::string& key_file, const std::string& cert_file, const std::string& ca_file,
    std::chrono::seconds reload_interval) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      key_file, cert_file, ca_file, static_cast<unsigned int>(reload_interval.count()));
}

}  // namespace

ClientCertificates ParseClientCertificates(const std::string& value) {
  if (value == "none" || value.empty()) return ClientCertificates::kNone;
  if (value == "services") return ClientCertificates::kServices;
  if (value == "all") return ClientCertificates::kAll;
  throw std::invalid_argument("client certificates are none, services or all, not " + value);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const Settings& settings) {
  if (!settings.serves_tls()) return grpc::InsecureServerCredentials();
  if (settings.key_file.empty()) throw std::invalid_argument("a TLS certificate needs its key");
  const bool client_certificates = settings.client_certificates != ClientCertificates::kNone;
  if (client_certificates && settings.ca_file.empty()) {
    throw std::invalid_argument("verifying client certificates needs the CA bundle");
  }
  grpc::experimental::TlsServerCredentialsOptions options(
      Provider(settings.key_file, settings.cert_file, client_certificates ? settings.ca_file : "",
               settings.reload_interval));
  options.watch_identity_key_cert_pairs();
  if (client_certificates) options.watch_root_certs();
  options.set_cert_request_type(settings.client_certificates == ClientCertificates::kAll
                                    ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : client_certificates
                                    ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const Settings& settings) {
  if (!settings.calls_with_tls()) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  const bool identity = !settings.cert_file.empty() && !settings.key_file.empty();
  options.set_certificate_provider(Provider(identity ? settings.key_file : "",
                                            identity ? settings.cert_file : "", settings.ca_file,
                                            settings.reload_interval));
  options.watch_root_certs();
  if (identity) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);  // the chain, and the name the channel dials
  return grpc::experimental::TlsCredentials(options);
}

std::vector<std::string> ClientIdentities(const grpc::ServerContextBase& context) {
  std::vector<std::string> out;
  const auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return out;
  for (const auto& dns : auth->FindPropertyValues(GRPC_PEER_DNS_PROPERTY_NAME)) {
    out.emplace_back(dns.data(), dns.size());
  }
  for (const auto& uri : auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    const std::string value(uri.data(), uri.size());
    out.push_back(value.substr(value.rfind('/') + 1));
  }
  return out;
}

}  // namespace msp::tls
