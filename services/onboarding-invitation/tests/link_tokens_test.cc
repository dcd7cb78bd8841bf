// Link tokens against a real redis-server.
#include "store/link_tokens.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <signal.h>

#include <set>
#include <thread>

#include "msp/common/errors.h"
#include "processes.h"
#include "redis_ha.h"

namespace msp::onboarding {
namespace {

class LinkTokensTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new testing::RedisServer(); }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override {
    redis::Options options;
    options.port = server_->port();
    client_ = std::make_unique<redis::Client>(options);
    tokens_ = std::make_unique<LinkTokens>(client_.get(),
                                           LinkTokens::Options{3, std::chrono::seconds(60)});
  }
  static inline testing::RedisServer* server_ = nullptr;
  std::unique_ptr<redis::Client> client_;
  std::unique_ptr<LinkTokens> tokens_;
};

TEST(LinkToken, Is256RandomBitsInBase64Url) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string t = NewLinkToken();
    EXPECT_EQ(t.size(), 43u);
    EXPECT_EQ(
        t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(LinkTokensTest, TheRightTokenVerifiesAWrongOneDoesNot) {
  const std::string token =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-1", std::chrono::hours(1));
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-1", token), TokenCheck::kValid);
  // Verifying does not use it up: the answer is recorded first, then the token revoked.
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-1", token), TokenCheck::kValid);
  std::string tampered = token;
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-1", tampered), TokenCheck::kWrong);
  // Another link's or another purpose's token is wrong too.
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kDelink, "inv-1", token), TokenCheck::kMissing);
  const std::string other =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-2", std::chrono::hours(1));
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-1", other), TokenCheck::kWrong);
  tokens_->Revoke(LinkPurpose::kInvitation, "inv-1");
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-1", token), TokenCheck::kMissing);
}

TEST_F(LinkTokensTest, ANewSendStopsTheOldLink) {
  const std::string first =
      tokens_->Issue(LinkPurpose::kDelink, "d-1", std::chrono::hours(1), /*send=*/"1");
  const std::string second =
      tokens_->Issue(LinkPurpose::kDelink, "d-1", std::chrono::hours(1), /*send=*/"2");
  EXPECT_NE(first, second);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kDelink, "d-1", first), TokenCheck::kWrong);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kDelink, "d-1", second), TokenCheck::kValid);
}

// An email delivered twice (the relay crashed after sending, before recording it) carries two
// tokens for the same send: the first copy's link keeps working. The fault suite's PostgreSQL
// crash found it: the customer answered from the first email and was refused
// LINK_TOKEN_INVALID.
TEST_F(LinkTokensTest, AnEmailDeliveredTwiceKeepsBothLinksWorking) {
  const std::string first =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-twice", std::chrono::hours(1), /*send=*/"1");
  const std::string again =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-twice", std::chrono::hours(1), /*send=*/"1");
  EXPECT_NE(first, again);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-twice", first), TokenCheck::kValid);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-twice", again), TokenCheck::kValid);
  // The next send ends both.
  const std::string resent =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-twice", std::chrono::hours(1), /*send=*/"2");
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-twice", first), TokenCheck::kWrong);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-twice", again), TokenCheck::kWrong);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-twice", resent), TokenCheck::kValid);
  tokens_->Revoke(LinkPurpose::kInvitation, "inv-twice");
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-twice", resent), TokenCheck::kMissing);
}

// A token issued before tokens were kept per send (one digest under the old key) still works
// until it expires or the link is issued again.
TEST_F(LinkTokensTest, ATokenOfTheEarlierLayoutStillVerifies) {
  const std::string token = NewLinkToken();
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  client_->Command({"SET", "onboarding:token:invitation:inv-old",
                    std::string(reinterpret_cast<char*>(digest), sizeof(digest)), "EX", "3600"});
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-old", token), TokenCheck::kValid);
  const std::string next =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-old", std::chrono::hours(1), /*send=*/"2");
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-old", token), TokenCheck::kWrong);
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-old", next), TokenCheck::kValid);
}

TEST_F(LinkTokensTest, TokensExpireWithTheirLink) {
  const std::string token =
      tokens_->Issue(LinkPurpose::kAccountSetup, "a-1", std::chrono::seconds(1));
  EXPECT_LE(tokens_->TimeToLive(LinkPurpose::kAccountSetup, "a-1"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kAccountSetup, "a-1", token), TokenCheck::kMissing);
}

TEST_F(LinkTokensTest, OnlyTheDigestIsStored) {
  const std::string token =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-digest", std::chrono::hours(1));
  // The link's hash: the send, and the token's SHA-256 as a field name.
  const auto fields =
      client_->Command({"HKEYS", "onboarding:link-tokens:invitation:inv-digest"}).Strings();
  ASSERT_EQ(fields.size(), 2u);
  for (const auto& field : fields) {
    if (field == "send") continue;
    EXPECT_EQ(field.size(), 2u + 32u);  // "d:" + the digest
    EXPECT_EQ(field.find(token), std::string::npos);
  }
  for (const auto& key : client_->Command({"KEYS", "*"}).Strings()) {
    EXPECT_EQ(key.find(token), std::string::npos);
    const std::string type = client_->Command({"TYPE", key}).String();
    std::vector<std::string> values;
    if (type == "string") values.push_back(client_->Command({"GET", key}).String());
    if (type == "hash") values = client_->Command({"HGETALL", key}).Strings();
    for (const auto& v : values) EXPECT_EQ(v.find(token), std::string::npos);
  }
}

TEST_F(LinkTokensTest, RepeatedWrongTokensAreThrottledEvenForTheRightOne) {
  const std::string token =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-t", std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-t", NewLinkToken()),
              TokenCheck::kWrong);
  }
  try {
    tokens_->Verify(LinkPurpose::kInvitation, "inv-t", token);
    FAIL() << "expected RESOURCE_EXHAUSTED";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(e.reason(), "TOO_MANY_WRONG_TOKENS");
  }
  // Another link is not affected.
  const std::string other =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-u", std::chrono::hours(1));
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-u", other), TokenCheck::kValid);
}

TEST_F(LinkTokensTest, ACallerGuessingAcrossLinksIsThrottledToo) {
  std::vector<std::string> tokens;
  for (int i = 0; i < 4; ++i) {
    tokens.push_back(tokens_->Issue(LinkPurpose::kInvitation, "inv-c" + std::to_string(i),
                                    std::chrono::hours(1)));
  }
  // One wrong guess on each of three links: each link is under its limit, the caller is not.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-c" + std::to_string(i), NewLinkToken(),
                              "guesser"),
              TokenCheck::kWrong);
  }
  EXPECT_THROW(tokens_->Verify(LinkPurpose::kInvitation, "inv-c3", tokens[3], "guesser"), ApiError);
  // Another caller with the right token is fine.
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-c3", tokens[3], "someone-else"),
            TokenCheck::kValid);
}

TEST_F(LinkTokensTest, ALostTokenIsMissingAndAReissueWorks) {
  const std::string lost =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-lost", std::chrono::hours(1));
  client_->Command({"FLUSHALL"});  // Redis lost its data (a failover without the last writes)
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-lost", lost), TokenCheck::kMissing);
  const std::string fresh =
      tokens_->Issue(LinkPurpose::kInvitation, "inv-lost", std::chrono::hours(1));
  EXPECT_EQ(tokens_->Verify(LinkPurpose::kInvitation, "inv-lost", fresh), TokenCheck::kValid);
}

// With Sentinels a token is on the replica before Issue returns (Issue fails while the replica
// answers nothing): the email's link survives a failover that comes right after it was sent.
TEST(LinkTokensReplicated, ATokenIsOnTheReplicaWhenIssueReturns) {
  testing::RedisHa ha;
  redis::Options options = redis::OptionsFromAddress(ha.Address());
  redis::Client client(options);
  LinkTokens tokens(&client, LinkTokens::Options{});
  // A replica that holds its connection and acknowledges nothing: no token is handed out that
  // only the master holds.
  ha.server(1).Signal(SIGSTOP);
  EXPECT_THROW(tokens.Issue(LinkPurpose::kInvitation, "inv-0", std::chrono::hours(1)),
               redis::RedisError);
  ha.server(1).Signal(SIGCONT);
  const std::string token = tokens.Issue(LinkPurpose::kInvitation, "inv-1", std::chrono::hours(1));
  ha.server(0).Kill();
  ASSERT_TRUE(testing::Within(std::chrono::seconds(30), [&] {
    try {
      return tokens.Verify(LinkPurpose::kInvitation, "inv-1", token) == TokenCheck::kValid;
    } catch (const redis::RedisError&) {
      return false;  // the failover under way
    }
  })) << ha.Logs();
  EXPECT_EQ(ha.Master(), 1);
}

}  // namespace
}  // namespace msp::onboarding
