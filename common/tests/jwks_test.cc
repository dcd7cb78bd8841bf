#include "msp/common/jwks.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "api_error_code.h"
#include "jwt/jwt.hpp"
#include "key_pair.h"
#include "msp/common/auth.h"
#include "msp/common/errors.h"
#include "processes.h"

namespace msp::auth {
namespace {

using testing::KeyPair;

using testing::CodeOf;

void WriteFile(const std::string& path, const std::string& content) {
  // Replaced in one step, as Kubernetes swaps a Secret's files.
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << content;
  std::rename(tmp.c_str(), path.c_str());
}

std::string Jwks(std::initializer_list<const KeyPair*> keys) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (const auto* k : keys) {
    if (!first) out += ",";
    first = false;
    out += PublicJwk(k->private_pem);
  }
  return out + "]}";
}

TokenClaims Admin() {
  TokenClaims claims;
  claims.kind = PrincipalKind::kMspAdmin;
  claims.subject = "alice";
  claims.msp_id = "acme";
  return claims;
}

// RFC 7638 section 3.1's example key and thumbprint.
TEST(JwksTest, AKeysIdIsItsRfc7638Thumbprint) {
  const std::string jwks =
      R"({"keys":[{"kty":"RSA","kid":"example","alg":"RS256","e":"AQAB","n":)"
      R"("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]})";
  const KeySet set = KeySet::Parse(jwks);
  const auto* key = set.Find("example");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->algorithm, "RS256");
  EXPECT_EQ(KeyThumbprint(key->pem), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(JwksTest, ABadKeyIsRefusedByName) {
  KeyPair rsa(testing::kRsaKey);
  const std::string good = PublicJwk(rsa.private_pem);
  EXPECT_NO_THROW(KeySet::Parse(R"({"keys":[)" + good + "]}"));
  auto refused = [](const std::string& jwks) {
    try {
      KeySet::Parse(jwks);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refused(R"({"keys":[]})"), "accepted");
  EXPECT_NE(refused("not json"), "accepted");
  EXPECT_NE(refused(R"({"keys":[)" + good + "," + good + "]}").find("twice"), std::string::npos);
  std::string no_kid = good;
  no_kid.replace(no_kid.find("\"kid\""), 5, "\"xid\"");
  EXPECT_NE(refused(R"({"keys":[)" + no_kid + "]}").find("no kid"), std::string::npos);
  std::string encryption = good;
  encryption.replace(encryption.find("\"sig\""), 5, "\"enc\"");
  EXPECT_NE(refused(R"({"keys":[)" + encryption + "]}"), "accepted");
  std::string wrong_alg = good;
  wrong_alg.replace(wrong_alg.find("\"RS256\""), 7, "\"HS256\"");
  EXPECT_NE(refused(R"({"keys":[)" + wrong_alg + "]}").find("does not fit"), std::string::npos);
  KeyPair small("-algorithm RSA -pkeyopt rsa_keygen_bits:1024");
  EXPECT_NE(refused(R"({"keys":[)" + PublicJwk(small.private_pem) + "]}").find("2048"),
            std::string::npos);
}

TEST(JwksTest, TokensNameTheirKeyAndARemovedKeyStopsVerifying) {
  KeyPair old_key(testing::kRsaKey);
  KeyPair new_key(testing::kP256Key);
  testing::TempDir dir;
  const std::string file = dir.path() + "/jwks.json";
  WriteFile(file, Jwks({&old_key}));
  VerifierConfig config{"", "", "iss-a", "aud-a"};
  config.key_set = std::make_shared<KeySetFile>(file, std::chrono::milliseconds(0));
  TokenVerifier verifier(config);
  TokenIssuer old_issuer("RS256", old_key.private_pem, "iss-a", "aud-a");
  TokenIssuer new_issuer("ES256", new_key.private_pem, "iss-a", "aud-a");
  const std::string old_token = old_issuer.Mint(Admin());
  EXPECT_EQ(verifier.Verify(old_token).msp_id, "acme");
  // Not yet published: refused.
  EXPECT_EQ(CodeOf([&] { verifier.Verify(new_issuer.Mint(Admin())); }),
            grpc::StatusCode::UNAUTHENTICATED);
  // Both published: both verify (the old one from the cache, which a reload drops).
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  WriteFile(file, Jwks({&old_key, &new_key}));
  EXPECT_EQ(verifier.Verify(new_issuer.Mint(Admin())).msp_id, "acme");
  EXPECT_EQ(verifier.Verify(old_token).msp_id, "acme");
  // A file that does not parse keeps the last good set.
  WriteFile(file, "{\"keys\":");
  EXPECT_EQ(verifier.Verify(old_token).msp_id, "acme");
  // The old key removed: its tokens are refused, even one verified a moment ago.
  WriteFile(file, Jwks({&new_key}));
  EXPECT_EQ(CodeOf([&] { verifier.Verify(old_token); }), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(verifier.Verify(new_issuer.Mint(Admin())).msp_id, "acme");
}

TEST(JwksTest, AKeySetRefusesTokensWithoutAKidOrOfAnotherAlgorithm) {
  KeyPair rsa(testing::kRsaKey);
  testing::TempDir dir;
  const std::string file = dir.path() + "/jwks.json";
  WriteFile(file, Jwks({&rsa}));
  VerifierConfig config{"", "", "iss-a", "aud-a"};
  config.key_set = std::make_shared<KeySetFile>(file);
  TokenVerifier verifier(config);
  // No kid: an HS256 dev token, or an RS256 one from a key outside the set.
  TokenIssuer hs("HS256", "a-dev-secret-0123456789abcdef0123", "iss-a", "aud-a");
  EXPECT_EQ(CodeOf([&] { verifier.Verify(hs.Mint(Admin())); }), grpc::StatusCode::UNAUTHENTICATED);
  // HS/RS confusion: an HS256 token that names the RSA key's kid, signed with the public PEM as
  // the HMAC secret. The kid's algorithm is RS256 and nothing else.
  jwt::jwt_object forged{jwt::params::algorithm("HS256"), jwt::params::secret(rsa.public_pem)};
  forged.header().add_header("kid", KeyThumbprint(rsa.private_pem));
  forged.add_claim("iss", "iss-a");
  forged.add_claim("aud", "aud-a");
  forged.add_claim("sub", "mallory");
  forged.add_claim("role", "msp_admin");
  forged.add_claim("msp_id", "acme");
  forged.add_claim("exp", std::chrono::system_clock::now() + std::chrono::hours(1));
  EXPECT_EQ(CodeOf([&] { verifier.Verify(forged.signature()); }),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(ServiceTokenTest, ARotatedSigningKeyIsUsedAtOnce) {
  KeyPair first(testing::kRsaKey);
  KeyPair second(testing::kRsaKey);
  testing::TempDir dir;
  const std::string key_file = dir.path() + "/signing.pem";
  WriteFile(key_file, first.private_pem);
  ServiceToken token(TokenIssuer("RS256", first.private_pem, "iss-a", "aud-a"), "customer",
                     key_file);
  auto kid_of = [](const std::string& header) {
    const std::string jwt = header.substr(7);
    std::string decoded;
    absl::WebSafeBase64Unescape(jwt.substr(0, jwt.find('.')), &decoded);
    return nlohmann::json::parse(decoded)["kid"].get<std::string>();
  };
  EXPECT_EQ(kid_of(token.AuthorizationHeader()), KeyThumbprint(first.private_pem));
  WriteFile(key_file, second.private_pem);
  // Looked at once a second.
  std::string kid;
  for (int i = 0; i < 30 && kid != KeyThumbprint(second.private_pem); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kid = kid_of(token.AuthorizationHeader());
  }
  EXPECT_EQ(kid, KeyThumbprint(second.private_pem));
}

}  // namespace
}  // namespace msp::auth
