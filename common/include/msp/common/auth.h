#pragma once

#include <chrono>
#include <initializer_list>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "msp/common/errors.h"

namespace msp::auth {

// Who is calling. The tenant (MSP) of an MSP admin comes only from here.
enum class PrincipalKind { kMspAdmin, kCustomerAdmin, kService };

struct Principal {
  PrincipalKind kind = PrincipalKind::kMspAdmin;
  std::string subject;      // token `sub`: admin id, customer admin id or service name
  std::string msp_id;       // set for kMspAdmin
  std::string customer_id;  // set for kCustomerAdmin
  // "msp-admin:alice", "customer-admin:bob", "service:reporting": for audit trails.
  std::string Actor() const;
};

std::string_view PrincipalKindName(PrincipalKind kind);

// How tokens are verified. One algorithm per deployment: the allow-list is exactly it, so an
// HS256 token is never checked against an RSA public key (key confusion) and `none` never passes.
struct VerifierConfig {
  std::string algorithm;  // HS256, RS256 or ES256
  std::string key;        // HS256: the shared secret; RS256/ES256: the public key in PEM
  std::string issuer;
  std::string audience;
  std::chrono::seconds leeway{30};
};

class TokenVerifier {
 public:
  explicit TokenVerifier(VerifierConfig config);
  // Verifies a raw JWT (no "Bearer " prefix). Throws ApiError UNAUTHENTICATED. A token verified
  // once is remembered until its own expiry (a portal sends the same token many times; the
  // signature check and JSON parsing were most of a cheap call's cost).
  Principal Verify(std::string_view token) const;
  // Reads the `authorization` metadata value ("Bearer <jwt>"). Throws UNAUTHENTICATED.
  Principal VerifyAuthorizationHeader(std::optional<std::string_view> header) const;

 private:
  Principal VerifyUncached(std::string_view token, int64_t* expires_at) const;

  struct CachedPrincipal {
    Principal principal;
    int64_t expires_at = 0;  // exp claim, seconds since the epoch
  };
  VerifierConfig config_;
  mutable std::shared_mutex cache_mu_;
  mutable std::unordered_map<std::string, CachedPrincipal> cache_;
};

// Mints tokens: the dev tool and tests use it; production tokens come from the identity provider.
struct TokenClaims {
  PrincipalKind kind = PrincipalKind::kMspAdmin;
  std::string subject;
  std::string msp_id;
  std::string customer_id;
  std::chrono::seconds ttl{3600};
  std::optional<std::chrono::system_clock::time_point> not_before;
  // More string claims (e.g. a console launch token's customer and return URI).
  std::map<std::string, std::string> extra;
};

class TokenIssuer {
 public:
  // key: HS256 secret, or a private key PEM for RS256/ES256.
  TokenIssuer(std::string algorithm, std::string key, std::string issuer, std::string audience);
  std::string Mint(const TokenClaims& claims) const;
  // The same key and issuer for another audience (tokens meant for another system).
  TokenIssuer ForAudience(std::string audience) const {
    return TokenIssuer(algorithm_, key_, issuer_, std::move(audience));
  }

 private:
  std::string algorithm_, key_, issuer_, audience_;
};

// A service's own token for calling other services: minted with the deployment's signing key
// and renewed well before it expires. Thread-safe.
class ServiceToken {
 public:
  ServiceToken(TokenIssuer issuer, std::string service_name,
               std::chrono::seconds ttl = std::chrono::minutes(10));
  // "Bearer <jwt>", for the `authorization` metadata of an outgoing call.
  std::string AuthorizationHeader() const;

 private:
  TokenIssuer issuer_;
  std::string service_name_;
  std::chrono::seconds ttl_;
  mutable std::shared_mutex mu_;
  mutable std::string header_;
  mutable std::chrono::steady_clock::time_point renew_at_{};
};

// Which principals each method accepts. A method with no entry accepts nobody.
class MethodPolicy {
 public:
  MethodPolicy& Allow(std::string full_method, std::initializer_list<PrincipalKind> kinds);
  // Throws PERMISSION_DENIED when the method has no entry or the principal's kind is not in it.
  void Check(std::string_view full_method, const Principal& principal) const;
  bool Covers(std::string_view full_method) const;

 private:
  std::map<std::string, std::vector<PrincipalKind>, std::less<>> allowed_;
};

// Who a relayed call is recorded as in an audit trail: the principal the calling service
// acted for, and the service ("msp-admin:alice via service:onboarding-invitation"); the service
// alone when it names nobody.
std::string RelayedActor(const std::string& on_behalf_of, const std::string& service_actor);

// Reads a whole file (key files mounted from a Secret). Throws std::runtime_error.
std::string ReadKeyFile(const std::string& path);

// A key for another purpose derived from a secret: HMAC-SHA256(secret, purpose), so that one
// key's use never reveals the other.
std::string DeriveKey(const std::string& secret, const std::string& purpose);

}  // namespace msp::auth
