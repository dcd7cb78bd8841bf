// The onboarding service killed (kill -9, by failpoint) where a crash hurts most: after an
// email went out but before the relay recorded it, and after the customer accepted in the
// customer service but before the invitation recorded it.
#include <signal.h>

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "msp/common/identities.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "stack.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Authorize;
using testing::Stack;
namespace cv1 = customer::v1;
namespace ov1 = onboarding::v1;

Stack* stack = nullptr;

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

cv1::Customer KnoxCustomer(const std::string& company, const std::string& email) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  grpc::ClientContext context;
  Authorize(context, stack->ServiceToken(identity::kKnoxAccounts));
  cv1::CreateKnoxCustomerRequest request;
  *request.mutable_customer() = customer::testdata::ValidCustomer(company, email);
  cv1::Customer out;
  EXPECT_TRUE(stub->CreateKnoxCustomer(&context, request, &out).ok());
  return out;
}

grpc::Status Invite(const std::string& customer_id, const std::string& request_id,
                    ov1::Invitation* out) {
  auto stub = ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  Authorize(context, stack->MspToken("acme"));
  ov1::CreateInvitationRequest request;
  request.set_parent("msps/acme");
  request.set_customer_id(customer_id);
  request.set_management_type(cv1::JOINTLY_MANAGED);
  request.add_services(assignment::v1::KNOX_CONFIGURE);
  request.set_request_id(request_id);
  return stub->CreateInvitation(&context, request, out);
}

grpc::Status Accept(const std::string& customer_id, const std::string& name,
                    const std::string& token, ov1::Invitation* out) {
  auto stub = ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  Authorize(context, stack->CustomerToken(customer_id));
  ov1::AcceptInvitationRequest request;
  request.set_name(name);
  request.set_token(token);
  return stub->AcceptInvitation(&context, request, out);
}

std::vector<std::string> EmailsTo(const std::string& to) {
  std::vector<std::string> out;
  for (const auto& m : stack->smtp().Messages()) {
    if (m.find("X-RcptTo: " + to) != std::string::npos) out.push_back(m);
  }
  return out;
}

std::vector<std::string> WaitForEmails(const std::string& to, size_t count) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto mine = EmailsTo(to);
  while (mine.size() < count && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    mine = EmailsTo(to);
  }
  return mine;
}

std::string Match(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : "";
}

std::string TokenOf(const std::string& raw) {
  const std::string body = testing::EmailBody(raw);
  return Match(body, "&token=([A-Za-z0-9_-]+)");
}

TEST(OnboardingCrash, KilledAfterSendingAnEmailSendsItOnceMoreWithTheSameMessageId) {
  const auto knox = KnoxCustomer("Crash Mail AG", "admin@crash-mail.example");
  stack->StopService("onboarding-invitation", SIGTERM);
  stack->StartService("onboarding-invitation", {},
                      {{"MSP_FAILPOINTS", "onboarding.email.after_send"}});
  ov1::Invitation invitation;
  // The answer may or may not make it out before the relay kills the process.
  const bool answered = Invite(knox.customer_id(), "crash-mail-1", &invitation).ok();
  const auto first = WaitForEmails("admin@crash-mail.example", 1);
  ASSERT_EQ(first.size(), 1u);
  stack->StopService("onboarding-invitation", SIGKILL);
  stack->StartService("onboarding-invitation");
  if (!answered) {
    ASSERT_TRUE(Invite(knox.customer_id(), "crash-mail-1", &invitation).ok());
  }

  // Redelivered once: the same Message-ID, so mail systems and people see a duplicate.
  const auto both = WaitForEmails("admin@crash-mail.example", 2);
  ASSERT_EQ(both.size(), 2u);
  const std::string id_pattern = "Message-ID: <([^>]+)>";
  EXPECT_EQ(Match(both[0], id_pattern), Match(both[1], id_pattern));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(EmailsTo("admin@crash-mail.example").size(), 2u) << "no third copy";
  // Two copies of one send: each has a token of its own, and the first copy's link works too
  // (the customer answers from whichever email they open first; it was refused
  // LINK_TOKEN_INVALID, which the fault suite's PostgreSQL crash hit).
  EXPECT_NE(TokenOf(both[0]), TokenOf(both[1]));
  ov1::Invitation out;
  const auto accepted = Accept(knox.customer_id(), invitation.name(), TokenOf(both[0]), &out);
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_EQ(out.state(), ov1::Invitation::ACCEPTED);
}

TEST(OnboardingCrash, KilledBetweenTheCustomersAnswerAndItsRecordTheRetrySucceeds) {
  const auto knox = KnoxCustomer("Crash Answer AG", "admin@crash-answer.example");
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite(knox.customer_id(), "crash-answer-1", &invitation).ok());
  const auto emails = WaitForEmails("admin@crash-answer.example", 1);
  ASSERT_EQ(emails.size(), 1u);
  const std::string token = TokenOf(emails[0]);

  stack->StopService("onboarding-invitation", SIGTERM);
  stack->StartService("onboarding-invitation", {},
                      {{"MSP_FAILPOINTS", "onboarding.close.after_customer_transition"}});
  ov1::Invitation out;
  EXPECT_FALSE(Accept(knox.customer_id(), invitation.name(), token, &out).ok());
  stack->StopService("onboarding-invitation", SIGKILL);
  stack->StartService("onboarding-invitation");

  // The customer service has the answer; the invitation does not yet. The same answer again
  // finishes it: the token was not used up by the crashed attempt.
  ASSERT_TRUE(Accept(knox.customer_id(), invitation.name(), token, &out).ok());
  EXPECT_EQ(out.state(), ov1::Invitation::ACCEPTED);
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  grpc::ClientContext context;
  Authorize(context, stack->MspToken("acme"));
  cv1::GetCustomerRequest get;
  get.set_name("msps/acme/customers/" + knox.customer_id());
  cv1::Customer customer;
  ASSERT_TRUE(stub->GetCustomer(&context, get, &customer).ok());
  EXPECT_EQ(customer.state(), cv1::ACTIVE);
  EXPECT_EQ(customer.management_type(), cv1::JOINTLY_MANAGED);
  // The same answer once more is still answered (it is recorded now).
  EXPECT_TRUE(Accept(knox.customer_id(), invitation.name(), token, &out).ok());
}

}  // namespace
}  // namespace msp
