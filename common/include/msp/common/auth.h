#pragma once

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
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

// Which tenants a call may name, as the grant that admitted it says (policy.h): an admin's
// own; any one MSP a service's request names; or every MSP at once (`msps/-`).
enum class TenantScope { kOwn, kNamed, kAll };

// Whom a service acts for in a relayed call (an MSP admin's create, a customer admin's answer),
// signed into the service's own token as its `obo` claim. The receiver records it from there,
// never from a request field, and admits it only where its policy lets that service relay.
struct OnBehalfOf {
  PrincipalKind kind = PrincipalKind::kMspAdmin;
  std::string subject;
  std::string msp_id;       // kMspAdmin
  std::string customer_id;  // kCustomerAdmin
  // The services the person's call passed through before the relaying one, in order (the
  // customer service, when the assignment service records the services it assigned for an
  // admin's create).
  std::vector<std::string> via;
  // "customer-admin:bob", "msp-admin:alice via service:customer"
  std::string Actor() const;
};

struct Principal {
  PrincipalKind kind = PrincipalKind::kMspAdmin;
  std::string subject;      // token `sub`: admin id, customer admin id or service identity
  std::string msp_id;       // set for kMspAdmin
  std::string customer_id;  // set for kCustomerAdmin
  std::optional<OnBehalfOf> on_behalf_of;   // kService only
  TenantScope tenants = TenantScope::kOwn;  // set by the policy check
  // For audit trails: "msp-admin:alice", "service:reporting", and for a relayed call
  // "customer-admin:bob via service:onboarding-invitation".
  std::string Actor() const;
};

std::string_view PrincipalKindName(PrincipalKind kind);

// The delegation a service names when it relays a call for `actor` (as Principal::Actor()
// wrote it when the call reached the service): nullopt for a service's own work. The tenant
// is the one of the resource the call is about; the receiver checks it (tenancy.h).
std::optional<OnBehalfOf> OnBehalfOfActor(std::string_view actor, const std::string& msp_id,
                                          const std::string& customer_id);
// How a service's own record names its work: "service:customer", or for a relayed call
// "msp-admin:alice via service:customer".
std::string ServiceActor(std::string_view identity, const std::optional<OnBehalfOf>& on_behalf_of);

class KeySetFile;
}  // namespace msp::auth
namespace msp {
class WatchedFile;
}  // namespace msp
namespace msp::auth {

// How tokens are verified. With a key set (production), a token names its key (`kid`) and is
// checked with that key's own algorithm, RS256 or ES256: a key removed from the set stops
// verifying the tokens it signed. Without one, one algorithm and key per deployment (HS256 for
// local development). Either way the allow-list is exactly the key's algorithm, so an HS256
// token is never checked against an RSA public key (key confusion) and `none` never passes.
struct VerifierConfig {
  std::string algorithm;  // without a key set: HS256, RS256 or ES256
  std::string key;        // without a key set: the HS256 secret or a public key PEM
  std::string issuer;
  std::string audience;
  std::chrono::seconds leeway{30};
  std::shared_ptr<const KeySetFile> key_set;  // a JWKS file, reloaded when it changes
  // Mutual TLS between services: a service token counts only when the call's client
  // certificate names the token's identity (rpc.cc checks it), so a stolen token alone is
  // not enough.
  bool service_tokens_need_certificates = false;
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
  const VerifierConfig& config() const { return config_; }

 private:
  Principal VerifyUncached(std::string_view token, int64_t* expires_at) const;

  struct CachedPrincipal {
    Principal principal;
    int64_t expires_at = 0;  // exp claim, seconds since the epoch
  };
  // The algorithm and key a token is checked with: the configured ones, or its kid's.
  std::pair<std::string, std::string> KeyFor(std::string_view token) const;

  VerifierConfig config_;
  mutable std::shared_mutex cache_mu_;
  mutable std::unordered_map<std::string, CachedPrincipal> cache_;
  mutable uint64_t cache_generation_ = 0;  // the key set's, when the cache was filled
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
  // kService: whom the service acts for (the `obo` claim).
  std::optional<OnBehalfOf> on_behalf_of;
};

class TokenIssuer {
 public:
  // key: HS256 secret, or a private key PEM for RS256/ES256 (the key's type decides which),
  // whose tokens name it by its RFC 7638 thumbprint (`kid`, jwks.h).
  TokenIssuer(std::string algorithm, std::string key, std::string issuer, std::string audience);
  const std::string& kid() const { return kid_; }
  std::string Mint(const TokenClaims& claims) const;
  // The same key and issuer for another audience (tokens meant for another system).
  TokenIssuer ForAudience(std::string audience) const {
    return TokenIssuer(algorithm_, key_, issuer_, std::move(audience));
  }
  // Another key of the same algorithm (a rotation). Throws std::invalid_argument.
  TokenIssuer WithKey(std::string key) const {
    return TokenIssuer(algorithm_, std::move(key), issuer_, audience_);
  }

 private:
  std::string algorithm_, key_, issuer_, audience_, kid_;
};

// A service's own token for calling other services: minted with the deployment's signing key
// and renewed well before it expires. Thread-safe.
class ServiceToken {
 public:
  ServiceToken(TokenIssuer issuer, std::string service_name,
               std::chrono::seconds ttl = std::chrono::minutes(10));
  // Signs with the key in `key_file`, read again when the file changes (a rotated Secret):
  // from then on tokens are minted with the new key and name it.
  ServiceToken(TokenIssuer issuer, std::string service_name, std::string key_file,
               std::chrono::seconds ttl = std::chrono::minutes(10));
  ~ServiceToken();
  // "Bearer <jwt>", for the `authorization` metadata of an outgoing call; with `on_behalf_of`,
  // a token that names whom the service relays the call for.
  std::string AuthorizationHeader() const;
  std::string AuthorizationHeader(const std::optional<OnBehalfOf>& on_behalf_of) const;

 private:
  void ReloadKeyIfDue() const;

  mutable TokenIssuer issuer_;
  std::string service_name_;
  std::chrono::seconds ttl_;
  mutable std::unique_ptr<WatchedFile> key_file_;
  mutable std::shared_mutex mu_;
  struct Minted {
    std::string header;
    std::chrono::steady_clock::time_point renew_at{};
  };
  mutable std::map<std::string, Minted> minted_;  // by delegation ("" for none)
};

// Reads a whole file (key files mounted from a Secret). Throws std::runtime_error.
std::string ReadKeyFile(const std::string& path);

// A key for another purpose derived from a secret: HMAC-SHA256(secret, purpose), so that one
// key's use never reveals the other.
std::string DeriveKey(const std::string& secret, const std::string& purpose);

}  // namespace msp::auth
