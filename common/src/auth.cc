#include "msp/common/auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "jwt/jwt.hpp"
#include "msp/common/strings.h"

namespace msp::auth {
namespace {

constexpr std::string_view kRoleMspAdmin = "msp_admin";
constexpr std::string_view kRoleCustomerAdmin = "customer_admin";
constexpr std::string_view kRoleService = "service";

ApiError Unauthenticated(std::string message) {
  return ApiError::Unauthenticated("INVALID_TOKEN", std::move(message));
}

bool IsSupportedAlgorithm(std::string_view alg) {
  return alg == "HS256" || alg == "RS256" || alg == "ES256";
}

std::string StringClaim(const jwt::jwt_payload& payload, const char* name) {
  if (!payload.has_claim(name)) return "";
  const auto& value = payload.create_json_obj()[name];
  return value.is_string() ? value.get<std::string>() : "";
}

}  // namespace

std::string_view PrincipalKindName(PrincipalKind kind) {
  switch (kind) {
    case PrincipalKind::kMspAdmin:
      return "msp-admin";
    case PrincipalKind::kCustomerAdmin:
      return "customer-admin";
    case PrincipalKind::kService:
      return "service";
  }
  return "unknown";
}

std::string Principal::Actor() const {
  return absl::StrCat(AbslView(PrincipalKindName(kind)), ":", subject);
}

TokenVerifier::TokenVerifier(VerifierConfig config) : config_(std::move(config)) {
  if (!IsSupportedAlgorithm(config_.algorithm)) {
    throw std::invalid_argument("unsupported JWT algorithm: " + config_.algorithm);
  }
  if (config_.key.empty()) throw std::invalid_argument("JWT verification key is empty");
  if (config_.issuer.empty() || config_.audience.empty()) {
    throw std::invalid_argument("JWT issuer and audience must be configured");
  }
}

namespace {
constexpr size_t kTokenCacheSize = 10000;

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Principal TokenVerifier::Verify(std::string_view token) const {
  const std::string key(token);
  {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires_at + config_.leeway.count() >= NowSeconds()) {
      return it->second.principal;
    }
  }
  int64_t expires_at = 0;
  Principal principal = VerifyUncached(token, &expires_at);
  std::unique_lock<std::shared_mutex> lock(cache_mu_);
  if (cache_.size() >= kTokenCacheSize) cache_.clear();  // bounded; refills with live tokens
  cache_[key] = CachedPrincipal{principal, expires_at};
  return principal;
}

Principal TokenVerifier::VerifyUncached(std::string_view token, int64_t* expires_at) const {
  if (token.empty()) throw Unauthenticated("empty bearer token");
  if (token.size() > 8192) throw Unauthenticated("bearer token too large");
  std::error_code ec;
  // The allow-list holds the one configured algorithm: `none` and any other are refused
  // before a signature is looked at.
  auto decoded = jwt::decode(jwt::string_view(token.data(), token.size()),
                             jwt::params::algorithms({config_.algorithm}), ec,
                             jwt::params::secret(config_.key), jwt::params::verify(true),
                             jwt::params::leeway(static_cast<uint32_t>(config_.leeway.count())));
  if (ec) throw Unauthenticated(absl::StrCat("token rejected: ", ec.message()));
  if (std::string(jwt::alg_to_str(decoded.header().algo())) != config_.algorithm) {
    throw Unauthenticated("token algorithm not allowed");
  }
  const auto& payload = decoded.payload();
  const auto claims = payload.create_json_obj();
  // cpp-jwt only checks exp/iss/aud when present: here they are mandatory.
  if (!claims.contains("exp") || !claims["exp"].is_number_integer()) {
    throw Unauthenticated("token has no exp claim");
  }
  const auto now = NowSeconds();
  *expires_at = claims["exp"].get<int64_t>();
  if (*expires_at + config_.leeway.count() < now) {
    throw Unauthenticated("token expired");
  }
  if (claims.contains("nbf") && (!claims["nbf"].is_number_integer() ||
                                 claims["nbf"].get<int64_t>() - config_.leeway.count() > now)) {
    throw Unauthenticated("token not yet valid");
  }
  if (StringClaim(payload, "iss") != config_.issuer) throw Unauthenticated("wrong token issuer");
  bool audience_ok = false;
  if (claims.contains("aud")) {
    const auto& aud = claims["aud"];
    if (aud.is_string()) audience_ok = aud.get<std::string>() == config_.audience;
    if (aud.is_array()) {
      for (const auto& a : aud)
        audience_ok |= a.is_string() && a.get<std::string>() == config_.audience;
    }
  }
  if (!audience_ok) throw Unauthenticated("wrong token audience");

  Principal principal;
  principal.subject = StringClaim(payload, "sub");
  if (principal.subject.empty()) throw Unauthenticated("token has no subject");
  const std::string role = StringClaim(payload, "role");
  if (role == kRoleMspAdmin) {
    principal.kind = PrincipalKind::kMspAdmin;
    principal.msp_id = StringClaim(payload, "msp_id");
    if (principal.msp_id.empty()) throw Unauthenticated("MSP admin token has no msp_id");
  } else if (role == kRoleCustomerAdmin) {
    principal.kind = PrincipalKind::kCustomerAdmin;
    principal.customer_id = StringClaim(payload, "customer_id");
    if (principal.customer_id.empty()) throw Unauthenticated("customer token has no customer_id");
  } else if (role == kRoleService) {
    principal.kind = PrincipalKind::kService;
  } else {
    throw Unauthenticated("token has no known role");
  }
  return principal;
}

Principal TokenVerifier::VerifyAuthorizationHeader(std::optional<std::string_view> header) const {
  if (!header || header->empty()) {
    throw ApiError::Unauthenticated("MISSING_TOKEN",
                                    "authorization metadata with a bearer token is required");
  }
  std::string_view value = *header;
  if (!absl::StartsWithIgnoreCase(AbslView(value), "bearer ")) {
    throw ApiError::Unauthenticated("MISSING_TOKEN",
                                    "authorization metadata must be 'Bearer <token>'");
  }
  value.remove_prefix(7);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return Verify(value);
}

TokenIssuer::TokenIssuer(std::string algorithm, std::string key, std::string issuer,
                         std::string audience)
    : algorithm_(std::move(algorithm)),
      key_(std::move(key)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)) {}

std::string TokenIssuer::Mint(const TokenClaims& claims) const {
  const auto now = std::chrono::system_clock::now();
  jwt::jwt_object obj{jwt::params::algorithm(algorithm_), jwt::params::secret(key_)};
  obj.add_claim("iss", issuer_);
  obj.add_claim("aud", audience_);
  obj.add_claim("sub", claims.subject);
  obj.add_claim("iat", now);
  obj.add_claim("exp", now + claims.ttl);
  if (claims.not_before) obj.add_claim("nbf", *claims.not_before);
  for (const auto& [name, value] : claims.extra) obj.add_claim(name, value);
  switch (claims.kind) {
    case PrincipalKind::kMspAdmin:
      obj.add_claim("role", std::string(kRoleMspAdmin));
      obj.add_claim("msp_id", claims.msp_id);
      break;
    case PrincipalKind::kCustomerAdmin:
      obj.add_claim("role", std::string(kRoleCustomerAdmin));
      obj.add_claim("customer_id", claims.customer_id);
      break;
    case PrincipalKind::kService:
      obj.add_claim("role", std::string(kRoleService));
      break;
  }
  return obj.signature();
}

ServiceToken::ServiceToken(TokenIssuer issuer, std::string service_name, std::chrono::seconds ttl)
    : issuer_(std::move(issuer)), service_name_(std::move(service_name)), ttl_(ttl) {}

std::string ServiceToken::AuthorizationHeader() const {
  const auto now = std::chrono::steady_clock::now();
  {
    std::shared_lock lock(mu_);
    if (now < renew_at_) return header_;
  }
  std::unique_lock lock(mu_);
  if (now >= renew_at_) {
    TokenClaims claims;
    claims.kind = PrincipalKind::kService;
    claims.subject = service_name_;
    claims.ttl = ttl_;
    header_ = "Bearer " + issuer_.Mint(claims);
    renew_at_ = now + ttl_ / 2;  // renew at half life: never send one about to expire
  }
  return header_;
}

MethodPolicy& MethodPolicy::Allow(std::string full_method,
                                  std::initializer_list<PrincipalKind> kinds) {
  allowed_[std::move(full_method)] = std::vector<PrincipalKind>(kinds);
  return *this;
}

bool MethodPolicy::Covers(std::string_view full_method) const {
  return allowed_.find(full_method) != allowed_.end();
}

void MethodPolicy::Check(std::string_view full_method, const Principal& principal) const {
  auto it = allowed_.find(full_method);
  if (it != allowed_.end()) {
    for (PrincipalKind kind : it->second) {
      if (kind == principal.kind) return;
    }
  }
  throw ApiError::PermissionDenied("PRINCIPAL_NOT_ALLOWED",
                                   absl::StrCat(AbslView(PrincipalKindName(principal.kind)),
                                                " may not call ", AbslView(full_method)));
}

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read key file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string RelayedActor(const std::string& on_behalf_of, const std::string& service_actor) {
  if (on_behalf_of.empty()) return service_actor;
  return absl::StrCat(on_behalf_of, " via ", service_actor);
}

std::string DeriveKey(const std::string& secret, const std::string& purpose) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace msp::auth
