#pragma once

#include <chrono>
#include <string>

#include "msp/common/redis.h"

// The secrets of emailed links (accept or reject an invitation, answer a delink request, set up
// an account). A token is 256 random bits, base64url, and exists in plain text only in the
// email: Redis keeps its SHA-256 under the link's key with a TTL equal to the link's life.
// Tokens are issued for one email of the link (its send: the send count, and whether it is the
// reminder, as in the email's Message-ID): another email replaces them, so the previous email's
// link stops working; the same email issued again (delivered twice after a crash, with the same
// Message-ID) adds its token beside the first, so both copies' links work.
//
// Single use is the caller's state machine's job, not a delete-on-read here: the caller
// verifies, records the answer in PostgreSQL (idempotently), and only then revokes the token.
// A crash between the two leaves the token valid, so retrying the same answer succeeds.
namespace msp::onboarding {

enum class LinkPurpose { kInvitation, kDelink, kAccountSetup };

enum class TokenCheck {
  kValid,
  kWrong,    // another token (a tampered or an older link)
  kMissing,  // expired, revoked, or lost by Redis (a resend issues a new one)
};

// A new token: 32 bytes from the OS's CSPRNG, base64url without padding (43 characters).
std::string NewLinkToken();

class LinkTokens {
 public:
  struct Options {
    int max_failures = 5;                          // wrong tokens per link...
    std::chrono::seconds failure_window{15 * 60};  // ...within this window
  };
  LinkTokens(redis::Client* redis, Options options);

  // Issues a token for the link's email `send` (replacing the tokens of any other email);
  // returns it for the email only.
  std::string Issue(LinkPurpose purpose, const std::string& link_id, std::chrono::seconds ttl,
                    const std::string& send = "");
  // Compares in constant time. Throws ApiError RESOURCE_EXHAUSTED TOO_MANY_WRONG_TOKENS (with
  // RetryInfo) once a link, or a caller (`caller`, e.g. a customer id; "" for none), has sent
  // max_failures wrong tokens in the window; from then on even the right token waits, so
  // guessing gains nothing.
  TokenCheck Verify(LinkPurpose purpose, const std::string& link_id, const std::string& token,
                    const std::string& caller = "");
  // Ends the link's token (after its answer is recorded, or when the link is withdrawn).
  void Revoke(LinkPurpose purpose, const std::string& link_id);
  // Seconds the link's token still lives (-2: none), for tests and diagnostics.
  int64_t TimeToLive(LinkPurpose purpose, const std::string& link_id);

 private:
  redis::Client* redis_;
  Options options_;
};

}  // namespace msp::onboarding
