#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "msp/common/auth.h"
#include "processes.h"

namespace msp::testing {

// A fresh key pair made with the openssl command line: "-algorithm RSA -pkeyopt
// rsa_keygen_bits:2048" or "-algorithm EC -pkeyopt ec_paramgen_curve:P-256".
struct KeyPair {
  TempDir dir;
  std::string private_file, public_file;
  std::string private_pem, public_pem;
  explicit KeyPair(const std::string& genpkey_args)
      : private_file(dir.path() + "/key.pem"), public_file(dir.path() + "/pub.pem") {
    const std::string cmd = "openssl genpkey " + genpkey_args + " -out " + private_file +
                            " 2>/dev/null && openssl pkey -in " + private_file + " -pubout -out " +
                            public_file + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed");
    private_pem = auth::ReadKeyFile(private_file);
    public_pem = auth::ReadKeyFile(public_file);
  }
};

inline constexpr char kRsaKey[] = "-algorithm RSA -pkeyopt rsa_keygen_bits:2048";
inline constexpr char kP256Key[] = "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";

}  // namespace msp::testing
