#include "msp/common/auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "jwt/jwt.hpp"
#include "msp/common/jwks.h"
#include "msp/common/log.h"
#include "msp/common/strings.h"
#include "msp/common/watched_file.h"

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

std::string StringField(const nlohmann::json& object, const char* name) {
  if (!object.contains(name) || !object[name].is_string()) return "";
  return object[name].get<std::string>();
}

// `obo`: {"role": "customer_admin", "sub": "bob", "customer_id": "..."} (or msp_admin with
// msp_id). Only a person can be acted for.
OnBehalfOf OnBehalfOfClaim(const nlohmann::json& claim) {
  if (!claim.is_object()) throw Unauthenticated("obo claim is not an object");
  OnBehalfOf out;
  out.subject = StringField(claim, "sub");
  const std::string role = StringField(claim, "role");
  if (role == kRoleMspAdmin) {
    out.kind = PrincipalKind::kMspAdmin;
    out.msp_id = StringField(claim, "msp_id");
    if (out.msp_id.empty()) throw Unauthenticated("obo claim for an MSP admin has no msp_id");
  } else if (role == kRoleCustomerAdmin) {
    out.kind = PrincipalKind::kCustomerAdmin;
    out.customer_id = StringField(claim, "customer_id");
    if (out.customer_id.empty()) {
      throw Unauthenticated("obo claim for a customer admin has no customer_id");
    }
  } else {
    throw Unauthenticated("obo claim names no person");
  }
  if (out.subject.empty() || out.subject.size() > 200 || UnsafeTextProblem(out.subject)) {
    throw Unauthenticated("obo claim has no valid subject");
  }
  if (claim.contains("via")) {
    const auto& via = claim["via"];
    if (!via.is_array() || via.size() > 4) throw Unauthenticated("obo via is not a short list");
    for (const auto& service : via) {
      const std::string name = service.is_string() ? service.get<std::string>() : "";
      if (name.empty() || name.size() > 63 || UnsafeTextProblem(name)) {
        throw Unauthenticated("obo via names no service");
      }
      out.via.push_back(name);
    }
  }
  return out;
}

nlohmann::json OnBehalfOfJson(const OnBehalfOf& obo) {
  nlohmann::json claim;
  claim["sub"] = obo.subject;
  if (obo.kind == PrincipalKind::kMspAdmin) {
    claim["role"] = std::string(kRoleMspAdmin);
    claim["msp_id"] = obo.msp_id;
  } else {
    claim["role"] = std::string(kRoleCustomerAdmin);
    claim["customer_id"] = obo.customer_id;
  }
  if (!obo.via.empty()) claim["via"] = obo.via;
  return claim;
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

std::string OnBehalfOf::Actor() const {
  std::string out = absl::StrCat(AbslView(PrincipalKindName(kind)), ":", subject);
  for (const auto& service : via) absl::StrAppend(&out, " via service:", service);
  return out;
}

std::string Principal::Actor() const {
  std::string self = absl::StrCat(AbslView(PrincipalKindName(kind)), ":", subject);
  if (!on_behalf_of) return self;
  return absl::StrCat(on_behalf_of->Actor(), " via ", self);
}

std::string ServiceActor(std::string_view identity, const std::optional<OnBehalfOf>& on_behalf_of) {
  Principal service;
  service.kind = PrincipalKind::kService;
  service.subject = std::string(identity);
  service.on_behalf_of = on_behalf_of;
  return service.Actor();
}

std::optional<OnBehalfOf> OnBehalfOfActor(std::string_view actor, const std::string& msp_id,
                                          const std::string& customer_id) {
  // "msp-admin:alice via service:customer": the person, then the services it passed through.
  constexpr std::string_view kVia = " via service:";
  std::vector<std::string> via;
  for (size_t at = actor.find(kVia); at != std::string_view::npos;) {
    const size_t start = at + kVia.size();
    const size_t next = actor.find(kVia, start);
    via.emplace_back(
        actor.substr(start, next == std::string_view::npos ? actor.size() - start : next - start));
    at = next;
  }
  actor = actor.substr(0, actor.find(" via "));
  const size_t colon = actor.find(':');
  if (colon == std::string_view::npos || colon + 1 == actor.size()) return std::nullopt;
  const std::string_view kind = actor.substr(0, colon);
  OnBehalfOf out;
  out.subject = std::string(actor.substr(colon + 1));
  out.via = std::move(via);
  if (kind == PrincipalKindName(PrincipalKind::kMspAdmin)) {
    out.kind = PrincipalKind::kMspAdmin;
    out.msp_id = msp_id;
  } else if (kind == PrincipalKindName(PrincipalKind::kCustomerAdmin)) {
    out.kind = PrincipalKind::kCustomerAdmin;
    out.customer_id = customer_id;
  } else {
    return std::nullopt;  // a service's own work ("service:...", or an old "msp:..." row)
  }
  return out;
}

TokenVerifier::TokenVerifier(VerifierConfig config) : config_(std::move(config)) {
  if (config_.key_set) {
    if (config_.issuer.empty() || config_.audience.empty()) {
      throw std::invalid_argument("JWT issuer and audience must be configured");
    }
    return;
  }
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
  // A reloaded key set may have dropped a key: nothing verified with an older set counts.
  const uint64_t generation = config_.key_set ? config_.key_set->Generation() : 0;
  {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = generation == cache_generation_ ? cache_.find(key) : cache_.end();
    if (it != cache_.end() && it->second.expires_at + config_.leeway.count() >= NowSeconds()) {
      return it->second.principal;
    }
  }
  int64_t expires_at = 0;
  Principal principal = VerifyUncached(token, &expires_at);
  std::unique_lock<std::shared_mutex> lock(cache_mu_);
  if (generation > cache_generation_) {
    cache_.clear();
    cache_generation_ = generation;
  }
  if (generation != cache_generation_) return principal;  // verified with a set since replaced
  if (cache_.size() >= kTokenCacheSize) cache_.clear();   // bounded; refills with live tokens
  cache_[key] = CachedPrincipal{principal, expires_at};
  return principal;
}

std::pair<std::string, std::string> TokenVerifier::KeyFor(std::string_view token) const {
  if (!config_.key_set) return {config_.algorithm, config_.key};
  const size_t dot = token.find('.');
  std::string header_json;
  if (dot == std::string_view::npos ||
      !absl::WebSafeBase64Unescape(AbslView(token.substr(0, dot)), &header_json)) {
    throw Unauthenticated("token rejected: malformed header");
  }
  const auto header = nlohmann::json::parse(header_json, nullptr, /*allow_exceptions=*/false);
  const std::string kid = header.is_object() ? StringField(header, "kid") : "";
  if (kid.empty()) throw Unauthenticated("token names no key (kid)");
  const auto set = config_.key_set->Current();
  const VerificationKey* key = set->Find(kid);
  if (key == nullptr) throw Unauthenticated("token signed with an unknown or removed key");
  return {key->algorithm, key->pem};
}

Principal TokenVerifier::VerifyUncached(std::string_view token, int64_t* expires_at) const {
  if (token.empty()) throw Unauthenticated("empty bearer token");
  if (token.size() > 8192) throw Unauthenticated("bearer token too large");
  std::error_code ec;
  const auto [algorithm, verification_key] = KeyFor(token);
  // The allow-list holds the one algorithm of the key: `none` and any other are refused
  // before a signature is looked at.
  auto decoded = jwt::decode(jwt::string_view(token.data(), token.size()),
                             jwt::params::algorithms({algorithm}), ec,
                             jwt::params::secret(verification_key), jwt::params::verify(true),
                             jwt::params::leeway(static_cast<uint32_t>(config_.leeway.count())));
  if (ec) throw Unauthenticated(absl::StrCat("token rejected: ", ec.message()));
  if (std::string(jwt::alg_to_str(decoded.header().algo())) != algorithm) {
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
    if (claims.contains("obo")) principal.on_behalf_of = OnBehalfOfClaim(claims["obo"]);
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
      audience_(std::move(audience)) {
  // An asymmetric key says its own algorithm: a rotation may move from RSA to P-256.
  if (algorithm_ == "RS256" || algorithm_ == "ES256") {
    algorithm_ = KeyAlgorithm(key_);
    kid_ = KeyThumbprint(key_);
  }
}

std::string TokenIssuer::Mint(const TokenClaims& claims) const {
  const auto now = std::chrono::system_clock::now();
  jwt::jwt_object obj{jwt::params::algorithm(algorithm_), jwt::params::secret(key_)};
  if (!kid_.empty()) obj.header().add_header("kid", kid_);
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
      if (claims.on_behalf_of) obj.add_claim("obo", OnBehalfOfJson(*claims.on_behalf_of));
      break;
  }
  return obj.signature();
}

ServiceToken::ServiceToken(TokenIssuer issuer, std::string service_name, std::chrono::seconds ttl)
    : issuer_(std::move(issuer)), service_name_(std::move(service_name)), ttl_(ttl) {}

ServiceToken::ServiceToken(TokenIssuer issuer, std::string service_name, std::string key_file,
                           std::chrono::seconds ttl)
    : issuer_(std::move(issuer)),
      service_name_(std::move(service_name)),
      ttl_(ttl),
      key_file_(std::make_unique<WatchedFile>(std::move(key_file))) {
  key_file_->ReadIfChanged();  // the issuer holds this content already
}

ServiceToken::~ServiceToken() = default;

void ServiceToken::ReloadKeyIfDue() const {
  if (!key_file_ || !key_file_->Due()) return;
  std::unique_lock lock(mu_);
  auto key = key_file_->ReadIfChanged();
  if (!key) return;
  try {
    issuer_ = issuer_.WithKey(*key);
    minted_.clear();  // every token from now on names the new key
    log::Info("service token signing key loaded", {{"kid", issuer_.kid()}});
  } catch (const std::exception& e) {
    log::Error("signing key not loaded; keeping the last good one", {{"error", e.what()}});
  }
}

std::string ServiceToken::AuthorizationHeader() const { return AuthorizationHeader(std::nullopt); }

std::string ServiceToken::AuthorizationHeader(const std::optional<OnBehalfOf>& on_behalf_of) const {
  ReloadKeyIfDue();
  const auto now = std::chrono::steady_clock::now();
  const std::string key = on_behalf_of
                              ? absl::StrCat(on_behalf_of->Actor(), "/", on_behalf_of->msp_id, "/",
                                             on_behalf_of->customer_id)
                              : "";
  {
    std::shared_lock lock(mu_);
    auto it = minted_.find(key);
    if (it != minted_.end() && now < it->second.renew_at) return it->second.header;
  }
  std::unique_lock lock(mu_);
  Minted& minted = minted_[key];
  if (now >= minted.renew_at) {
    TokenClaims claims;
    claims.kind = PrincipalKind::kService;
    claims.subject = service_name_;
    claims.ttl = ttl_;
    claims.on_behalf_of = on_behalf_of;
    minted.header = "Bearer " + issuer_.Mint(claims);
    minted.renew_at = now + ttl_ / 2;  // renew at half life: never send one about to expire
  }
  // Relays name many people over a day: forget delegations that are due for renewal anyway.
  if (minted_.size() > 1000) {
    std::erase_if(minted_, [&](const auto& entry) { return entry.second.renew_at <= now; });
  }
  return minted.header;
}

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read key file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string DeriveKey(const std::string& secret, const std::string& purpose) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(purpose.data()), purpose.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace msp::auth
