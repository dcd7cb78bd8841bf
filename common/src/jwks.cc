#include "msp/common/jwks.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "msp/common/auth.h"
#include "msp/common/log.h"
#include "msp/common/strings.h"

namespace msp::auth {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

std::string Base64UrlDecode(const std::string& text, const std::string& what) {
  std::string out;
  if (text.empty() || !absl::WebSafeBase64Unescape(text, &out)) {
    throw std::invalid_argument(what + " is not base64url");
  }
  return out;
}

std::string Base64Url(std::string_view bytes) {
  std::string out;
  absl::WebSafeBase64Escape(AbslView(bytes), &out);  // unpadded
  return out;
}

std::string PemOf(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    throw std::invalid_argument("cannot write the public key");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

Pkey FromParams(const char* type, OSSL_PARAM_BLD* build) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  const bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) throw std::invalid_argument(absl::StrCat("not a valid ", type, " public key"));
  return Pkey(key);
}

std::string RsaPem(const std::string& n, const std::string& e) {
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e);
  Pkey key;
  try {
    key = FromParams("RSA", build);
  } catch (...) {
    OSSL_PARAM_BLD_free(build);
    BN_free(bn_n);
    BN_free(bn_e);
    throw;
  }
  OSSL_PARAM_BLD_free(build);
  BN_free(bn_n);
  BN_free(bn_e);
  if (EVP_PKEY_get_bits(key.get()) < 2048) {
    throw std::invalid_argument("RSA keys must have at least 2048 bits");
  }
  return PemOf(key.get());
}

std::string P256Pem(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) throw std::invalid_argument("P-256 x and y are 32 bytes");
  const std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  Pkey key;
  try {
    key = FromParams("EC", build);
  } catch (...) {
    OSSL_PARAM_BLD_free(build);
    throw;
  }
  OSSL_PARAM_BLD_free(build);
  return PemOf(key.get());
}

std::string StringMember(const nlohmann::json& jwk, const char* name) {
  if (!jwk.contains(name) || !jwk[name].is_string()) return "";
  return jwk[name].get<std::string>();
}

Pkey ReadKey(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    Bio again(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    key = PEM_read_bio_PUBKEY(again.get(), nullptr, nullptr, nullptr);
  }
  if (key == nullptr) throw std::invalid_argument("not a PEM key");
  return Pkey(key);
}

// The canonical members (RFC 7638 section 3.2), in lexicographic order, as compact JSON.
nlohmann::json CanonicalJwk(EVP_PKEY* key) {
  nlohmann::json jwk;
  if (EVP_PKEY_is_a(key, "RSA")) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
      BN_free(n);
      throw std::invalid_argument("cannot read the RSA key");
    }
    std::string n_bytes(static_cast<size_t>(BN_num_bytes(n)), '\0');
    std::string e_bytes(static_cast<size_t>(BN_num_bytes(e)), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char*>(n_bytes.data()));
    BN_bn2bin(e, reinterpret_cast<unsigned char*>(e_bytes.data()));
    BN_free(n);
    BN_free(e);
    jwk["e"] = Base64Url(e_bytes);
    jwk["kty"] = "RSA";
    jwk["n"] = Base64Url(n_bytes);
    return jwk;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t group_length = 0;
    unsigned char point[65];
    size_t point_length = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &group_length) != 1 ||
        std::string_view(group) != "prime256v1" ||
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof(point), &point_length) != 1 ||
        point_length != 65) {
      throw std::invalid_argument("EC keys must be P-256");
    }
    jwk["crv"] = "P-256";
    jwk["kty"] = "EC";
    jwk["x"] = Base64Url(std::string_view(reinterpret_cast<char*>(point) + 1, 32));
    jwk["y"] = Base64Url(std::string_view(reinterpret_cast<char*>(point) + 33, 32));
    return jwk;
  }
  throw std::invalid_argument("keys are RSA or P-256");
}

std::string Thumbprint(const nlohmann::json& canonical) {
  const std::string text = canonical.dump();  // nlohmann orders object members
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return Base64Url(std::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));
}

}  // namespace

KeySet KeySet::Parse(std::string_view text) {
  const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    throw std::invalid_argument("a JWKS is an object with a `keys` array");
  }
  KeySet set;
  int index = 0;
  for (const auto& jwk : doc["keys"]) {
    const std::string where = absl::StrCat("keys[", index++, "]");
    if (!jwk.is_object()) throw std::invalid_argument(where + " is not an object");
    VerificationKey key;
    key.kid = StringMember(jwk, "kid");
    if (key.kid.empty()) throw std::invalid_argument(where + " has no kid");
    const std::string use = StringMember(jwk, "use");
    if (!use.empty() && use != "sig") throw std::invalid_argument(where + " is not for signatures");
    const std::string kty = StringMember(jwk, "kty");
    const std::string alg = StringMember(jwk, "alg");
    try {
      if (kty == "RSA") {
        key.algorithm = "RS256";
        key.pem = RsaPem(Base64UrlDecode(StringMember(jwk, "n"), "n"),
                         Base64UrlDecode(StringMember(jwk, "e"), "e"));
      } else if (kty == "EC" && StringMember(jwk, "crv") == "P-256") {
        key.algorithm = "ES256";
        key.pem = P256Pem(Base64UrlDecode(StringMember(jwk, "x"), "x"),
                          Base64UrlDecode(StringMember(jwk, "y"), "y"));
      } else {
        throw std::invalid_argument("keys are RSA (RS256) or EC P-256 (ES256)");
      }
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(absl::StrCat(where, " (", key.kid, "): ", e.what()));
    }
    if (!alg.empty() && alg != key.algorithm) {
      throw std::invalid_argument(
          absl::StrCat(where, " (", key.kid, "): alg ", alg, " does not fit a ", kty, " key"));
    }
    if (!set.keys_.emplace(key.kid, key).second) {
      throw std::invalid_argument(absl::StrCat(where, ": kid ", key.kid, " twice"));
    }
  }
  if (set.keys_.empty()) throw std::invalid_argument("the key set has no keys");
  return set;
}

const VerificationKey* KeySet::Find(std::string_view kid) const {
  auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

KeySetFile::KeySetFile(std::string path, std::chrono::milliseconds check_interval)
    : file_(std::move(path), check_interval) {
  ReloadIfDue();
  if (!set_) throw std::invalid_argument("cannot read the key set " + file_.path());
}

std::shared_ptr<const KeySet> KeySetFile::Current() const {
  ReloadIfDue();
  std::lock_guard lock(mu_);
  return set_;
}

uint64_t KeySetFile::Generation() const {
  ReloadIfDue();
  return generation_.load(std::memory_order_acquire);
}

void KeySetFile::ReloadIfDue() const {
  if (!file_.Due()) return;
  std::lock_guard lock(mu_);
  auto content = file_.ReadIfChanged();
  if (!content) return;
  try {
    set_ = std::make_shared<const KeySet>(KeySet::Parse(*content));
    generation_.fetch_add(1, std::memory_order_acq_rel);
    log::Info("key set loaded", {{"file", file_.path()}, {"keys", set_->size()}});
  } catch (const std::exception& e) {
    // The last good set stays: a Secret is swapped in one step, a hand edit may not be.
    log::Error("key set not loaded; keeping the last good one",
               {{"file", file_.path()}, {"error", e.what()}});
  }
}

std::string KeyThumbprint(const std::string& pem) {
  Pkey key = ReadKey(pem);
  return Thumbprint(CanonicalJwk(key.get()));
}

std::string KeyAlgorithm(const std::string& pem) {
  Pkey key = ReadKey(pem);
  CanonicalJwk(key.get());  // RSA or P-256, or throws
  return EVP_PKEY_is_a(key.get(), "RSA") ? "RS256" : "ES256";
}

std::string PublicJwk(const std::string& pem) {
  Pkey key = ReadKey(pem);
  nlohmann::json jwk = CanonicalJwk(key.get());
  jwk["kid"] = Thumbprint(jwk);
  jwk["use"] = "sig";
  jwk["alg"] = EVP_PKEY_is_a(key.get(), "RSA") ? "RS256" : "ES256";
  return jwk.dump();
}

}  // namespace msp::auth
