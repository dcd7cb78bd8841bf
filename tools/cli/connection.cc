#include "connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/channel_arguments.h>

#include <stdexcept>

#include "msp/common/auth.h"
#include "msp/common/channels.h"

namespace msp::cli {

bool Connection::UsesTls(bool tls_by_default) const {
  if (plaintext) return false;
  return tls_by_default || insecure || !cacert.empty() || !cert.empty();
}

std::shared_ptr<grpc::Channel> Dial(const std::string& address, const Connection& connection,
                                    bool tls_by_default) {
  if (connection.plaintext &&
      (connection.insecure || !connection.cacert.empty() || !connection.cert.empty())) {
    throw std::invalid_argument("-plaintext goes with none of -insecure, -cacert, -cert, -key");
  }
  if (connection.cert.empty() != connection.key.empty()) {
    throw std::invalid_argument("-cert and -key go together");
  }
  grpc::ChannelArguments args;
  SpreadOverReplicas(args);
  if (!connection.authority.empty()) {
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, connection.authority);
  }
  if (!connection.UsesTls(tls_by_default)) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  if (!connection.authority.empty()) args.SetSslTargetNameOverride(connection.authority);
  grpc::experimental::TlsChannelCredentialsOptions options;
  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!connection.cert.empty()) {
    identity.push_back({auth::ReadKeyFile(connection.key), auth::ReadKeyFile(connection.cert)});
  }
  const std::string roots = connection.cacert.empty() ? "" : auth::ReadKeyFile(connection.cacert);
  if (!roots.empty() || !identity.empty()) {
    // Without -cacert the system's roots verify the server.
    options.set_certificate_provider(
        roots.empty()
            ? std::make_shared<grpc::experimental::StaticDataCertificateProvider>(identity)
            : std::make_shared<grpc::experimental::StaticDataCertificateProvider>(roots, identity));
    if (!roots.empty()) options.watch_root_certs();
    if (!identity.empty()) options.watch_identity_key_cert_pairs();
  }
  if (connection.insecure) {
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  }
  return grpc::CreateCustomChannel(address, grpc::experimental::TlsCredentials(options), args);
}

}  // namespace msp::cli
