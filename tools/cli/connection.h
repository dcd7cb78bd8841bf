#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>

namespace msp::cli {

// grpcurl's connection flags, as msp_call and mspctl take them.
struct Connection {
  bool plaintext = false;  // -plaintext
  bool insecure = false;   // -insecure: TLS without checking the server's certificate
  std::string cacert;      // -cacert: the CA bundle that verifies the server
  std::string cert, key;   // -cert, -key: a client certificate (mutual TLS)
  std::string authority;   // -authority: the :authority, and the name the certificate must have

  // TLS unless -plaintext (grpcurl's default); mspctl, a tool for the local suite, speaks
  // plaintext unless a TLS flag is given.
  bool UsesTls(bool tls_by_default) const;
};

// Throws std::invalid_argument for a contradiction (-plaintext with -cacert, -cert without
// -key, ...).
std::shared_ptr<grpc::Channel> Dial(const std::string& address, const Connection& connection,
                                    bool tls_by_default);

}  // namespace msp::cli
