// Mints a bearer token for local development and tests (HS256 with the dev secret, or RS256/ES256
// with a private key, named by its kid). Production tokens come from the identity provider,
// never from this tool. `--print_jwks key.pem...` prints the JWKS the services verify with.
#include <iostream>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "msp/common/auth.h"
#include "msp/common/jwks.h"

ABSL_FLAG(std::string, role, "msp_admin", "msp_admin, customer_admin or service");
ABSL_FLAG(std::string, msp, "", "MSP id (msp_admin)");
ABSL_FLAG(std::string, admin, "admin", "subject: the admin's or service's id");
ABSL_FLAG(std::string, customer, "", "customer id (customer_admin)");
ABSL_FLAG(std::string, algorithm, "HS256", "HS256, RS256 or ES256");
ABSL_FLAG(std::string, key_file, "", "HS256 secret file or private key PEM");
ABSL_FLAG(std::string, issuer, "msp-dev", "iss claim");
ABSL_FLAG(std::string, audience, "msp-customers", "aud claim");
ABSL_FLAG(int, ttl_seconds, 12 * 3600, "lifetime");
ABSL_FLAG(bool, print_jwks, false,
          "print a JWKS of the public keys of the PEM files given as arguments (each kid its RFC "
          "7638 thumbprint) instead of a token");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "msp_token --msp <id> --key_file <secret> [--admin <id>] | --print_jwks <pem>...");
  const std::vector<char*> files = absl::ParseCommandLine(argc, argv);
  try {
    if (absl::GetFlag(FLAGS_print_jwks)) {
      std::string keys;
      for (size_t i = 1; i < files.size(); ++i) {
        if (!keys.empty()) keys += ",";
        keys += msp::auth::PublicJwk(msp::auth::ReadKeyFile(files[i]));
      }
      if (keys.empty()) throw std::runtime_error("--print_jwks takes PEM key files");
      std::cout << "{\"keys\":[" << keys << "]}\n";
      return 0;
    }
    const std::string key = msp::auth::ReadKeyFile(absl::GetFlag(FLAGS_key_file));
    msp::auth::TokenIssuer issuer(absl::GetFlag(FLAGS_algorithm), key, absl::GetFlag(FLAGS_issuer),
                                  absl::GetFlag(FLAGS_audience));
    msp::auth::TokenClaims claims;
    const std::string role = absl::GetFlag(FLAGS_role);
    claims.subject = absl::GetFlag(FLAGS_admin);
    claims.ttl = std::chrono::seconds(absl::GetFlag(FLAGS_ttl_seconds));
    if (role == "msp_admin") {
      claims.kind = msp::auth::PrincipalKind::kMspAdmin;
      claims.msp_id = absl::GetFlag(FLAGS_msp);
      if (claims.msp_id.empty()) throw std::runtime_error("--msp is required for msp_admin");
    } else if (role == "customer_admin") {
      claims.kind = msp::auth::PrincipalKind::kCustomerAdmin;
      claims.customer_id = absl::GetFlag(FLAGS_customer);
      if (claims.customer_id.empty())
        throw std::runtime_error("--customer is required for customer_admin");
    } else if (role == "service") {
      claims.kind = msp::auth::PrincipalKind::kService;
    } else {
      throw std::runtime_error("unknown --role " + role);
    }
    std::cout << issuer.Mint(claims) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "msp_token: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
