#include "msp/common/auth.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "api_error_code.h"
#include "jwt/jwt.hpp"
#include "key_pair.h"
#include "processes.h"

namespace msp::auth {
namespace {

constexpr char kSecret[] = "unit-test-secret-0123456789abcdef0123";

VerifierConfig HsConfig() { return {"HS256", kSecret, "iss-a", "aud-a"}; }

TokenClaims Admin(const std::string& msp = "acme") {
  TokenClaims claims;
  claims.kind = PrincipalKind::kMspAdmin;
  claims.subject = "alice";
  claims.msp_id = msp;
  return claims;
}

using testing::CodeOf;

std::string B64(const std::string& s) {
  std::string out;
  absl::WebSafeBase64Escape(s, &out);
  return out;
}

// A key pair made by the openssl command, as a production identity provider would hold.
using msp::testing::KeyPair;

TEST(TokenVerifierTest, AcceptsAValidMspAdminToken) {
  TokenIssuer issuer("HS256", kSecret, "iss-a", "aud-a");
  TokenVerifier verifier(HsConfig());
  Principal p = verifier.Verify(issuer.Mint(Admin("acme")));
  EXPECT_EQ(p.kind, PrincipalKind::kMspAdmin);
  EXPECT_EQ(p.msp_id, "acme");
  EXPECT_EQ(p.subject, "alice");
  EXPECT_EQ(p.Actor(), "msp-admin:alice");
}

TEST(TokenVerifierTest, ReadsCustomerAndServicePrincipals) {
  TokenIssuer issuer("HS256", kSecret, "iss-a", "aud-a");
  TokenVerifier verifier(HsConfig());
  TokenClaims customer;
  customer.kind = PrincipalKind::kCustomerAdmin;
  customer.subject = "bob";
  customer.customer_id = "c123";
  Principal p = verifier.Verify(issuer.Mint(customer));
  EXPECT_EQ(p.kind, PrincipalKind::kCustomerAdmin);
  EXPECT_EQ(p.customer_id, "c123");
  EXPECT_TRUE(p.msp_id.empty());
  TokenClaims service;
  service.kind = PrincipalKind::kService;
  service.subject = "reporting";
  EXPECT_EQ(verifier.Verify(issuer.Mint(service)).kind, PrincipalKind::kService);
}

TEST(TokenVerifierTest, RefusesExpiredNotYetValidWrongIssuerAndAudience) {
  TokenVerifier verifier(HsConfig());
  TokenClaims expired = Admin();
  expired.ttl = std::chrono::seconds(-120);
  TokenIssuer good("HS256", kSecret, "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(good.Mint(expired)); }),
            grpc::StatusCode::UNAUTHENTICATED);
  TokenClaims future = Admin();
  future.not_before = std::chrono::system_clock::now() + std::chrono::hours(1);
  EXPECT_EQ(CodeOf([&] { verifier.Verify(good.Mint(future)); }), grpc::StatusCode::UNAUTHENTICATED);
  TokenIssuer wrong_iss("HS256", kSecret, "iss-b", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(wrong_iss.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);
  TokenIssuer wrong_aud("HS256", kSecret, "iss-a", "aud-b");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(wrong_aud.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenVerifierTest, RefusesWrongKeyTamperingAndAlgNone) {
  TokenVerifier verifier(HsConfig());
  TokenIssuer other_key("HS256", "another-secret-another-secret-xx", "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(other_key.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);

  TokenIssuer good("HS256", kSecret, "iss-a", "aud-a");
  const std::string token = good.Mint(Admin("acme"));
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string payload;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[1], &payload));
  const auto pos = payload.find("acme");
  ASSERT_NE(pos, std::string::npos);
  payload.replace(pos, 4, "evil");
  const std::string tampered = parts[0] + "." + B64(payload) + "." + parts[2];
  EXPECT_EQ(CodeOf([&] { verifier.Verify(tampered); }), grpc::StatusCode::UNAUTHENTICATED);

  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string none_payload =
      "{\"iss\":\"iss-a\",\"aud\":\"aud-a\",\"sub\":\"x\",\"role\":\"msp_admin\",\"msp_id\":"
      "\"acme\",\"exp\":" +
      std::to_string(now + 600) + "}";
  for (const std::string header : {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"NONE\"}"}) {
    const std::string none_token = B64(header) + "." + B64(none_payload) + ".";
    EXPECT_EQ(CodeOf([&] { verifier.Verify(none_token); }), grpc::StatusCode::UNAUTHENTICATED)
        << header;
    EXPECT_EQ(CodeOf([&] { verifier.Verify(none_token + "c2ln"); }),
              grpc::StatusCode::UNAUTHENTICATED)
        << header;
  }
  EXPECT_EQ(CodeOf([&] { verifier.Verify("not-a-jwt"); }), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CodeOf([&] { verifier.Verify(""); }), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenVerifierTest, RequiresExpRoleAndTenantClaims) {
  TokenVerifier verifier(HsConfig());
  TokenIssuer good("HS256", kSecret, "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(good.Mint(Admin(""))); }),
            grpc::StatusCode::UNAUTHENTICATED);
  // Hand-made token without exp, correctly signed.
  jwt::jwt_object obj{jwt::params::algorithm("HS256"), jwt::params::secret(kSecret)};
  obj.add_claim("iss", "iss-a");
  obj.add_claim("aud", "aud-a");
  obj.add_claim("sub", "x");
  obj.add_claim("role", "msp_admin");
  obj.add_claim("msp_id", "acme");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(obj.signature()); }), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenVerifierTest, RsaKeysWorkAndHsRsConfusionIsRefused) {
  KeyPair keys("-algorithm RSA -pkeyopt rsa_keygen_bits:2048");
  TokenVerifier rs_verifier({"RS256", keys.public_pem, "iss-a", "aud-a"});
  TokenIssuer rs_issuer("RS256", keys.private_pem, "iss-a", "aud-a");
  EXPECT_EQ(rs_verifier.Verify(rs_issuer.Mint(Admin("acme"))).msp_id, "acme");
  // The classic confusion: an HS256 token whose "secret" is the server's public key.
  TokenIssuer confused("HS256", keys.public_pem, "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { rs_verifier.Verify(confused.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);
  // And an RS256 token against an HS256 deployment.
  TokenVerifier hs_verifier(HsConfig());
  EXPECT_EQ(CodeOf([&] { hs_verifier.Verify(rs_issuer.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenVerifierTest, EcKeysWorkAndOtherKeysAreRefused) {
  KeyPair keys("-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
  KeyPair other("-algorithm EC -pkeyopt ec_paramgen_curve:P-256");
  TokenVerifier verifier({"ES256", keys.public_pem, "iss-a", "aud-a"});
  TokenIssuer issuer("ES256", keys.private_pem, "iss-a", "aud-a");
  EXPECT_EQ(verifier.Verify(issuer.Mint(Admin("acme"))).msp_id, "acme");
  TokenIssuer impostor("ES256", other.private_pem, "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(impostor.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);
  TokenIssuer hs("HS256", keys.public_pem, "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(hs.Mint(Admin())); }), grpc::StatusCode::UNAUTHENTICATED);
}

// Verified tokens are remembered, but never past their own expiry.
TEST(TokenVerifierTest, CachedTokensStillExpire) {
  VerifierConfig config = HsConfig();
  config.leeway = std::chrono::seconds(0);
  TokenVerifier verifier(config);
  TokenIssuer issuer("HS256", kSecret, "iss-a", "aud-a");
  TokenClaims short_lived = Admin();
  short_lived.ttl = std::chrono::seconds(1);
  const std::string token = issuer.Mint(short_lived);
  EXPECT_EQ(verifier.Verify(token).msp_id, "acme");
  EXPECT_EQ(verifier.Verify(token).msp_id, "acme");  // from the cache
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(CodeOf([&] { verifier.Verify(token); }), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenVerifierTest, AuthorizationHeaderNeedsBearerScheme) {
  TokenVerifier verifier(HsConfig());
  TokenIssuer good("HS256", kSecret, "iss-a", "aud-a");
  const std::string token = good.Mint(Admin());
  EXPECT_EQ(verifier.VerifyAuthorizationHeader("Bearer " + token).msp_id, "acme");
  EXPECT_EQ(verifier.VerifyAuthorizationHeader("bearer " + token).msp_id, "acme");
  EXPECT_EQ(CodeOf([&] { verifier.VerifyAuthorizationHeader(token); }),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CodeOf([&] { verifier.VerifyAuthorizationHeader(std::nullopt); }),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CodeOf([&] { verifier.VerifyAuthorizationHeader("Basic abc"); }),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenVerifierTest, ConfigurationIsChecked) {
  EXPECT_THROW(TokenVerifier({"none", "k", "i", "a"}), std::invalid_argument);
  EXPECT_THROW(TokenVerifier({"HS256", "", "i", "a"}), std::invalid_argument);
  EXPECT_THROW(TokenVerifier({"HS256", "k", "", "a"}), std::invalid_argument);
}

TEST(TokenVerifierTest, AServiceTokenCarriesWhomItActsFor) {
  TokenVerifier verifier(HsConfig());
  TokenIssuer issuer("HS256", kSecret, "iss-a", "aud-a");
  TokenClaims claims;
  claims.kind = PrincipalKind::kService;
  claims.subject = "onboarding-invitation";
  claims.on_behalf_of = OnBehalfOf{PrincipalKind::kCustomerAdmin, "bob", "", "c0ffee0000"};
  const Principal relayed = verifier.Verify(issuer.Mint(claims));
  ASSERT_TRUE(relayed.on_behalf_of.has_value());
  EXPECT_EQ(relayed.on_behalf_of->customer_id, "c0ffee0000");
  EXPECT_EQ(relayed.Actor(), "customer-admin:bob via service:onboarding-invitation");
  // The services the call passed through before travel in the claim too.
  claims.subject = "service-assignment";
  claims.on_behalf_of = OnBehalfOf{PrincipalKind::kMspAdmin, "alice", "acme", "", {"customer"}};
  const Principal chained = verifier.Verify(issuer.Mint(claims));
  ASSERT_TRUE(chained.on_behalf_of.has_value());
  EXPECT_EQ(chained.on_behalf_of->Actor(), "msp-admin:alice via service:customer");
  EXPECT_EQ(chained.Actor(), "msp-admin:alice via service:customer via service:service-assignment");
  // Only a service relays: an admin's token that names someone is not one this suite mints,
  // and the claim is ignored for it.
  TokenClaims admin = Admin();
  admin.on_behalf_of = claims.on_behalf_of;
  EXPECT_FALSE(verifier.Verify(issuer.Mint(admin)).on_behalf_of.has_value());
}

TEST(OnBehalfOfActorTest, ReadsThePersonARecordedActorNames) {
  auto msp_admin = OnBehalfOfActor("msp-admin:alice", "acme", "c0ffee0000");
  ASSERT_TRUE(msp_admin.has_value());
  EXPECT_EQ(msp_admin->kind, PrincipalKind::kMspAdmin);
  EXPECT_EQ(msp_admin->msp_id, "acme");
  EXPECT_EQ(msp_admin->customer_id, "");
  auto relayed = OnBehalfOfActor("customer-admin:bob via service:x", "acme", "c0ffee0000");
  ASSERT_TRUE(relayed.has_value());
  EXPECT_EQ(relayed->subject, "bob");
  EXPECT_EQ(relayed->customer_id, "c0ffee0000");
  EXPECT_EQ(relayed->via, std::vector<std::string>{"x"});
  EXPECT_EQ(relayed->Actor(), "customer-admin:bob via service:x");
  auto chain = OnBehalfOfActor("msp-admin:alice via service:customer via service:y", "acme", "c");
  ASSERT_TRUE(chain.has_value());
  EXPECT_EQ(chain->via, (std::vector<std::string>{"customer", "y"}));
  EXPECT_EQ(ServiceActor("service-assignment", chain),
            "msp-admin:alice via service:customer via service:y via service:service-assignment");
  EXPECT_FALSE(OnBehalfOfActor("service:onboarding-invitation", "acme", "c").has_value());
  EXPECT_FALSE(OnBehalfOfActor("msp:acme", "acme", "c").has_value());
  EXPECT_FALSE(OnBehalfOfActor("", "acme", "c").has_value());
  EXPECT_EQ(ServiceActor("customer", msp_admin), "msp-admin:alice via service:customer");
  EXPECT_EQ(ServiceActor("customer", std::nullopt), "service:customer");
}

}  // namespace
}  // namespace msp::auth
