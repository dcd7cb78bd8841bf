#include "link_tokens.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"

namespace msp::onboarding {
namespace {

std::string_view PurposeName(LinkPurpose purpose) {
  switch (purpose) {
    case LinkPurpose::kInvitation:
      return "invitation";
    case LinkPurpose::kDelink:
      return "delink";
    case LinkPurpose::kAccountSetup:
      return "account-setup";
  }
  return "unknown";
}

// A hash: "send" (the email its tokens are for) and one "d:<digest>" field per token.
std::string TokenKey(LinkPurpose purpose, const std::string& link_id) {
  return absl::StrCat("onboarding:link-tokens:", std::string(PurposeName(purpose)), ":", link_id);
}

// Where tokens issued before per-send tokens were kept (one digest, a string), still verified
// until they expire.
std::string LegacyTokenKey(LinkPurpose purpose, const std::string& link_id) {
  return absl::StrCat("onboarding:token:", std::string(PurposeName(purpose)), ":", link_id);
}

// Atomically: another email drops the tokens of the previous one; the token joins its email's.
constexpr char kIssueScript[] = R"lua(
if redis.call('HGET', KEYS[1], 'send') ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'send', ARGV[1])
end
redis.call('HSET', KEYS[1], 'd:' .. ARGV[2], '1')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
)lua";

std::string FailureKey(LinkPurpose purpose, const std::string& link_id) {
  return absl::StrCat("onboarding:wrong-token:", std::string(PurposeName(purpose)), ":", link_id);
}

std::string Digest(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

}  // namespace

std::string NewLinkToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string out;
  absl::WebSafeBase64Escape(std::string(reinterpret_cast<char*>(bytes), sizeof(bytes)), &out);
  return out;
}

LinkTokens::LinkTokens(redis::Client* redis, Options options) : redis_(redis), options_(options) {}

std::string LinkTokens::Issue(LinkPurpose purpose, const std::string& link_id,
                              std::chrono::seconds ttl, const std::string& send) {
  const std::string token = NewLinkToken();
  // On a replica too before the email goes out: a link whose token a failover lost would not
  // work (a resend mends it, but the customer should not need one).
  redis::WriteReplicated(
      *redis_,
      {{"EVAL", kIssueScript, "2", TokenKey(purpose, link_id), LegacyTokenKey(purpose, link_id),
        "email:" + send, Digest(token), std::to_string(std::max<int64_t>(1, ttl.count()))}});
  return token;
}

TokenCheck LinkTokens::Verify(LinkPurpose purpose, const std::string& link_id,
                              const std::string& token, const std::string& caller) {
  std::vector<std::string> failure_keys = {FailureKey(purpose, link_id)};
  if (!caller.empty()) failure_keys.push_back("onboarding:wrong-token:caller:" + caller);
  for (const auto& key : failure_keys) {
    auto failures = redis_->Command({"GET", key});
    if (!failures.IsNil() && std::stoll(failures.String()) >= options_.max_failures) {
      const int64_t wait = std::max<int64_t>(1, redis_->Command({"TTL", key}).Integer());
      throw ApiError::ResourceExhausted("TOO_MANY_WRONG_TOKENS",
                                        "too many wrong tokens: wait, or ask for a new email",
                                        std::chrono::seconds(wait));
    }
  }
  // A hash lookup by the token's digest: no comparison of secrets that could leak by timing.
  const std::string presented = Digest(token);
  const std::string key = TokenKey(purpose, link_id);
  if (redis_->Command({"HEXISTS", key, "d:" + presented}).Integer() == 1) {
    return TokenCheck::kValid;
  }
  if (redis_->Command({"EXISTS", key}).Integer() == 0) {
    auto legacy = redis_->Command({"GET", LegacyTokenKey(purpose, link_id)});
    if (legacy.IsNil()) return TokenCheck::kMissing;
    const std::string expected = legacy.String();
    if (expected.size() == presented.size() &&
        CRYPTO_memcmp(expected.data(), presented.data(), presented.size()) == 0) {
      return TokenCheck::kValid;
    }
  }
  for (const auto& key : failure_keys) {
    const int64_t count = redis_->Command({"INCR", key}).Integer();
    if (count == 1) {
      redis_->Command({"EXPIRE", key, std::to_string(options_.failure_window.count())});
    }
  }
  return TokenCheck::kWrong;
}

void LinkTokens::Revoke(LinkPurpose purpose, const std::string& link_id) {
  redis_->Command({"DEL", TokenKey(purpose, link_id), LegacyTokenKey(purpose, link_id),
                   FailureKey(purpose, link_id)});
}

int64_t LinkTokens::TimeToLive(LinkPurpose purpose, const std::string& link_id) {
  return redis_->Command({"TTL", TokenKey(purpose, link_id)}).Integer();
}

}  // namespace msp::onboarding
