#include "msp/common/page_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "absl/strings/escaping.h"
#include "msp/common/errors.h"

namespace msp {
namespace {

constexpr size_t kMacBytes = 16;  // HMAC-SHA256, truncated: 128 bits

std::mutex key_mu;

std::string& Key() {
  static std::string* key = [] {
    auto* random = new std::string(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(random->data()), 32) != 1) {
      throw std::runtime_error("no random bytes for the page-token key");
    }
    return random;
  }();
  return *key;
}

std::string Mac(const std::string& data) {
  std::string key;
  {
    std::lock_guard<std::mutex> lock(key_mu);
    key = Key();
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), kMacBytes);
}

}  // namespace

void SetPageTokenKey(const std::string& key) {
  if (key.size() < 16) throw std::runtime_error("the page-token key must have 16 bytes at least");
  std::lock_guard<std::mutex> lock(key_mu);
  Key() = key;
}

std::string EncodePageToken(const google::protobuf::Message& cursor) {
  const std::string raw = cursor.SerializeAsString();
  std::string out;
  absl::WebSafeBase64Escape(raw + Mac(raw), &out);
  return out;
}

bool DecodePageToken(const std::string& token, google::protobuf::Message* cursor) {
  std::string raw;
  // The longest token the lists make: a 1000-byte filter, 100 characters of search and a
  // 200-character sort value (up to 4 bytes each), and the MAC, base64: ~3.2k characters.
  if (token.size() > kMaxPageTokenLength || !absl::WebSafeBase64Unescape(token, &raw) ||
      raw.size() < kMacBytes) {
    return false;
  }
  const std::string body = raw.substr(0, raw.size() - kMacBytes);
  const std::string mac = Mac(body);
  return CRYPTO_memcmp(mac.data(), raw.data() + body.size(), kMacBytes) == 0 &&
         cursor->ParseFromString(body);
}

int ClampPageSize(int requested, int default_size, int max_size) {
  if (requested < 0) throw ApiError::InvalidArgument({{"page_size", "must not be negative"}});
  if (requested == 0) return default_size;
  return std::min(requested, max_size);
}

}  // namespace msp
