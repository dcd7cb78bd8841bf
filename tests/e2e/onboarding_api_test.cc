// Invitations of existing Knox customers end to end: the real binaries (all four services), a
// real PostgreSQL, redis-server and SMTP server (aiosmtpd), and gRPC clients holding MSP and
// customer-admin tokens. The emails are read from the SMTP server and their links used.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <optional>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "http_get.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/identities.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "stack.h"
#include "status_details.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Authorize;
using testing::Call;
using testing::DetailsOf;
using testing::Stack;
namespace av1 = assignment::v1;
namespace cv1 = customer::v1;
namespace ov1 = onboarding::v1;
namespace rv1 = reporting::v1;

Stack* stack = nullptr;

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

using OS = ov1::OnboardingService::Stub;

std::unique_ptr<OS> Onboarding() {
  return ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
}

// An existing Knox customer (no MSP), as the seed data and Knox sign-up make them.
cv1::Customer KnoxCustomer(const std::string& company) {
  static int n = 0;
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateKnoxCustomerRequest request;
  *request.mutable_customer() = customer::testdata::ValidCustomer(
      company, absl::StrCat("admin", n, "@knox", ::getpid(), "-", n, ".example"));
  request.add_services(av1::KNOX_MOBILE_ENROLLMENT);  // what the account uses on its own
  request.add_services(av1::KNOX_MANAGE);
  ++n;
  cv1::Customer out;
  const auto status = Call(&cv1::CustomerService::Stub::CreateKnoxCustomer, *stub,
                           stack->ServiceToken(identity::kKnoxAccounts), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

grpc::Status Invite(const std::string& msp, const std::string& customer_id,
                    cv1::ManagementType type, ov1::Invitation* out,
                    const std::string& request_id = "",
                    std::vector<av1::KnoxService> services = {av1::KNOX_MOBILE_ENROLLMENT,
                                                              av1::KNOX_CONFIGURE},
                    const std::string& tenant_prefix = "") {
  auto stub = Onboarding();
  ov1::CreateInvitationRequest request;
  request.set_parent("msps/" + msp);
  request.set_customer_id(customer_id);
  request.set_management_type(type);
  request.set_knox_manage_tenant_prefix(tenant_prefix);
  for (auto s : services) request.add_services(s);
  request.set_request_id(request_id);
  return Call(&OS::CreateInvitation, *stub, stack->MspToken(msp), request, out);
}

// The newest email to `to`, waiting for it; its link's invitation and token.
struct EmailLink {
  std::string raw;
  std::string invitation;
  std::string token;
  std::string message_id;
};
EmailLink WaitForEmail(const std::string& to, size_t nth = 1, const std::string& subject = "") {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    std::vector<std::string> mine;
    for (const auto& m : stack->smtp().Messages()) {
      if (m.find("X-RcptTo: " + to) != std::string::npos &&
          (subject.empty() || m.find("Subject: " + subject) != std::string::npos)) {
        mine.push_back(m);
      }
    }
    if (mine.size() >= nth) {
      EmailLink link;
      link.raw = mine[nth - 1];
      const std::string body = testing::EmailBody(link.raw);
      std::smatch match;
      if (std::regex_search(body, match,
                            std::regex("(?:invitation|request)=msps%2F([a-z0-9-]+)%2F("
                                       "invitations|delinkRequests)%2F([a-z2-7]+)"
                                       "&token=([A-Za-z0-9_-]+)"))) {
        link.invitation =
            absl::StrCat("msps/", match[1].str(), "/", match[2].str(), "/", match[3].str());
        link.token = match[4].str();
      }
      if (std::regex_search(link.raw, match, std::regex("Message-ID: <([^>]+)>"))) {
        link.message_id = match[1].str();
      }
      return link;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "no email " << nth << " to " << to;
  return {};
}

grpc::Status Answer(bool accept, const std::string& token, const std::string& name,
                    const std::string& link_token, ov1::Invitation* out,
                    const std::string& reason = "") {
  auto stub = Onboarding();
  if (accept) {
    ov1::AcceptInvitationRequest request;
    request.set_name(name);
    request.set_token(link_token);
    return Call(&OS::AcceptInvitation, *stub, token, request, out);
  }
  ov1::RejectInvitationRequest request;
  request.set_name(name);
  request.set_token(link_token);
  request.set_reason(reason);
  return Call(&OS::RejectInvitation, *stub, token, request, out);
}

cv1::Customer GetCustomer(const std::string& msp, const std::string& customer_id,
                          grpc::Status* status) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::GetCustomerRequest request;
  request.set_name(absl::StrCat("msps/", msp, "/customers/", customer_id));
  request.set_view(cv1::FULL);
  cv1::Customer out;
  *status =
      Call(&cv1::CustomerService::Stub::GetCustomer, *stub, stack->MspToken(msp), request, &out);
  return out;
}

// A jointly managed customer an MSP added itself (the kind a delink request is for).
cv1::Customer ManagedJointCustomer(const std::string& msp, const std::string& company) {
  static int n = 0;
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest request;
  request.set_parent("msps/" + msp);
  *request.mutable_customer() = customer::testdata::ValidCustomer(
      company, absl::StrCat("it", n, "@joint", ::getpid(), "-", n, ".example"),
      cv1::JOINTLY_MANAGED);
  ++n;
  request.add_services(av1::KNOX_MOBILE_ENROLLMENT);
  cv1::Customer out;
  const auto status =
      Call(&cv1::CustomerService::Stub::CreateCustomer, *stub, stack->MspToken(msp), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

grpc::Status RequestDelink(const std::string& msp, const std::string& customer,
                           ov1::DelinkRequest* out, const std::string& request_id = "") {
  auto stub = Onboarding();
  ov1::RequestDelinkRequest request;
  request.set_customer(customer);
  request.set_request_id(request_id);
  return Call(&OS::RequestDelink, *stub, stack->MspToken(msp), request, out);
}

grpc::Status AnswerDelink(bool accept, const std::string& token, const std::string& name,
                          const std::string& link_token, ov1::DelinkRequest* out) {
  auto stub = Onboarding();
  if (accept) {
    ov1::AcceptDelinkRequest request;
    request.set_name(name);
    request.set_token(link_token);
    return Call(&OS::AcceptDelink, *stub, token, request, out);
  }
  ov1::RejectDelinkRequest request;
  request.set_name(name);
  request.set_token(link_token);
  return Call(&OS::RejectDelink, *stub, token, request, out);
}

TEST(Onboarding, LookupShowsOnlyWhatTheMspNeedsAndHidesOtherMsps) {
  const auto knox = KnoxCustomer("Lookup GmbH");
  auto stub = Onboarding();
  ov1::LookupCustomerRequest request;
  request.set_parent("msps/acme");
  request.set_customer_id(knox.customer_id());
  ov1::CustomerPreview preview;
  ASSERT_TRUE(Call(&OS::LookupCustomer, *stub, stack->MspToken("acme"), request, &preview).ok());
  EXPECT_EQ(preview.company_name(), "Lookup GmbH");
  EXPECT_EQ(preview.country_code(), "DE");
  EXPECT_EQ(std::vector<int>(preview.services().begin(), preview.services().end()),
            (std::vector<int>{av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE}));
  // Once another MSP invited it: refused, without naming that MSP.
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("rival", knox.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  const auto status = Call(&OS::LookupCustomer, *stub, stack->MspToken("acme"), request, &preview);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "CUSTOMER_ALREADY_MANAGED");
  EXPECT_EQ(status.error_message().find("rival"), std::string::npos);
  request.set_customer_id("zzzzzzzzzz");
  EXPECT_EQ(
      Call(&OS::LookupCustomer, *stub, stack->MspToken("acme"), request, &preview).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

// A counter of the onboarding service's metrics (0 when it is not there yet).
double OnboardingCounter(const std::string& name) {
  const std::string metrics =
      testing::ScrapeMetrics(stack->service("onboarding-invitation").metrics_port);
  const std::regex line("\n" + name + "\\{[^}]*\\} ([0-9.e+]+)");
  std::smatch m;
  return std::regex_search(metrics, m, line) ? std::stod(m[1]) : 0;
}

TEST(Onboarding, AnAcceptedInvitationMakesTheCustomerActiveWithItsServices) {
  const auto knox = KnoxCustomer("Accept AG");
  const double invitations_before = OnboardingCounter("msp_invitations_sent_total");
  const double emails_before = OnboardingCounter("msp_emails_sent_total");
  ov1::Invitation invitation;
  ASSERT_TRUE(
      Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &invitation, "inv-req-1").ok());
  EXPECT_EQ(invitation.state(), ov1::Invitation::PENDING);
  EXPECT_EQ(invitation.send_count(), 1);
  const auto week =
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(24 * 7))
          .count();
  EXPECT_NEAR(static_cast<double>(invitation.expire_time().seconds()), static_cast<double>(week),
              60);
  // A retry with the same request id is the same invitation.
  ov1::Invitation again;
  ASSERT_TRUE(Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &again, "inv-req-1").ok());
  EXPECT_EQ(again.name(), invitation.name());

  // The MSP's list shows the customer PENDING.
  grpc::Status status;
  auto pending = GetCustomer("acme", knox.customer_id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(pending.state(), cv1::PENDING);

  // The super admin got the email with the link.
  const auto email = WaitForEmail(knox.contact().work_email());
  // The business counters saw it (the email is counted once the SMTP server took it).
  for (int i = 0; i < 100 && OnboardingCounter("msp_invitations_sent_total") == invitations_before;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(OnboardingCounter("msp_invitations_sent_total"), invitations_before + 1);
  EXPECT_GE(OnboardingCounter("msp_emails_sent_total"), emails_before + 1);
  EXPECT_EQ(email.invitation, invitation.name());
  ASSERT_EQ(email.token.size(), 43u);
  EXPECT_NE(email.raw.find("Subject: MSP acme asks to manage Knox services for Accept AG"),
            std::string::npos);

  // Another customer's admin can't accept it; a tampered token is refused.
  ov1::Invitation answered;
  const std::string admin = stack->CustomerToken(knox.customer_id());
  EXPECT_EQ(
      Answer(true, stack->CustomerToken("zzzzzzzzzz"), invitation.name(), email.token, &answered)
          .error_code(),
      grpc::StatusCode::NOT_FOUND);
  std::string tampered = email.token;
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  status = Answer(true, admin, invitation.name(), tampered, &answered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DetailsOf(status).reason, "LINK_TOKEN_INVALID");
  // An MSP admin can't answer for the customer.
  EXPECT_EQ(
      Answer(true, stack->MspToken("acme"), invitation.name(), email.token, &answered).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  ASSERT_TRUE(Answer(true, admin, invitation.name(), email.token, &answered).ok());
  EXPECT_EQ(answered.state(), ov1::Invitation::ACCEPTED);
  EXPECT_TRUE(answered.has_answer_time());
  // The same answer again succeeds; the other answer is refused.
  ASSERT_TRUE(Answer(true, admin, invitation.name(), email.token, &answered).ok());
  status = Answer(false, admin, invitation.name(), email.token, &answered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "INVITATION_ACCEPTED");

  // ACTIVE under the MSP, fully managed (no portal for the super admin), services assigned.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  cv1::Customer active;
  while (std::chrono::steady_clock::now() < until) {
    active = GetCustomer("acme", knox.customer_id(), &status);
    if (status.ok() && active.services_size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(active.state(), cv1::ACTIVE);
  EXPECT_EQ(active.management_type(), cv1::FULLY_MANAGED);
  EXPECT_TRUE(active.has_msp_link_time());
  EXPECT_FALSE(active.super_admin_portal_access());
  ASSERT_EQ(active.services_size(), 2);
  for (const auto& s : active.services()) EXPECT_EQ(s.state(), av1::AssignedService::ACTIVE);
}

TEST(Onboarding, ARejectionTellsTheMspWhenAndWhy) {
  const auto knox = KnoxCustomer("Reject SA");
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("acme", knox.customer_id(), cv1::JOINTLY_MANAGED, &invitation).ok());
  const auto email = WaitForEmail(knox.contact().work_email());
  ov1::Invitation answered;
  ASSERT_TRUE(Answer(false, stack->CustomerToken(knox.customer_id()), invitation.name(),
                     email.token, &answered, "We manage our devices ourselves")
                  .ok());
  EXPECT_EQ(answered.state(), ov1::Invitation::REJECTED);

  auto stub = Onboarding();
  ov1::GetInvitationRequest get;
  get.set_name(invitation.name());
  ov1::Invitation seen;
  ASSERT_TRUE(Call(&OS::GetInvitation, *stub, stack->MspToken("acme"), get, &seen).ok());
  EXPECT_EQ(seen.state(), ov1::Invitation::REJECTED);
  EXPECT_EQ(seen.reject_reason(), "We manage our devices ourselves");
  EXPECT_TRUE(seen.has_answer_time());
  // Who to follow up with: the super admin's name (the email is not the MSP's after a refusal).
  EXPECT_EQ(seen.contact().last_name(), knox.contact().last_name());
  EXPECT_EQ(seen.contact().work_email(), "");
  grpc::Status status;
  EXPECT_EQ(GetCustomer("acme", knox.customer_id(), &status).state(), cv1::REJECTED);
  // The link is used up.
  status = Answer(true, stack->CustomerToken(knox.customer_id()), invitation.name(), email.token,
                  &answered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Another MSP can't see it; and may now invite the customer.
  EXPECT_EQ(Call(&OS::GetInvitation, *stub, stack->MspToken("rival"), get, &seen).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ov1::Invitation rival;
  EXPECT_TRUE(Invite("rival", knox.customer_id(), cv1::FULLY_MANAGED, &rival).ok());
}

TEST(Onboarding, ResendingIsThrottledAndOnlyTheNewestLinkWorks) {
  const auto knox = KnoxCustomer("Resend Ltd");
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  const auto first = WaitForEmail(knox.contact().work_email(), 1);
  // Allow the resend now (the test cannot wait five minutes): move the last send back.
  {
    pg::Connection conn(stack->database_url(), 5000);
    conn.Exec(
        "UPDATE onboarding.link_requests SET last_send_time = now() - interval '6 minutes' "
        "WHERE customer_id = $1",
        {knox.customer_id()});
  }
  auto stub = Onboarding();
  ov1::ResendInvitationRequest resend;
  resend.set_name(invitation.name());
  ov1::Invitation out;
  ASSERT_TRUE(Call(&OS::ResendInvitation, *stub, stack->MspToken("acme"), resend, &out).ok());
  EXPECT_EQ(out.send_count(), 2);
  const auto second = WaitForEmail(knox.contact().work_email(), 2);
  EXPECT_NE(second.token, first.token);
  EXPECT_NE(second.message_id, first.message_id);
  // At once again: throttled, with the time to wait.
  const auto status = Call(&OS::ResendInvitation, *stub, stack->MspToken("acme"), resend, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(DetailsOf(status).reason, "RESEND_THROTTLED");
  EXPECT_GT(DetailsOf(status).retry_delay_ms, 200 * 1000);
  // Another MSP can't resend or cancel it.
  EXPECT_EQ(Call(&OS::ResendInvitation, *stub, stack->MspToken("rival"), resend, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The first email's link stopped working; the second's works.
  ov1::Invitation answered;
  const std::string admin = stack->CustomerToken(knox.customer_id());
  EXPECT_EQ(Answer(true, admin, invitation.name(), first.token, &answered).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Answer(true, admin, invitation.name(), second.token, &answered).ok());
}

// Cancelling and inviting again five times sent six emails to one person in half a second:
// the throttle is the recipient's, across its invitations (and delink requests).
TEST(Onboarding, EmailsToOneRecipientAreThrottledAcrossInvitations) {
  const auto knox = KnoxCustomer("Spammed GmbH");
  auto stub = Onboarding();
  grpc::Status refused;
  int invited = 0;
  for (int round = 0; round < 5; ++round) {
    ov1::Invitation invitation;
    const auto status = Invite("spammer", knox.customer_id(), cv1::FULLY_MANAGED, &invitation);
    if (!status.ok()) {
      refused = status;
      break;
    }
    ++invited;
    // Sent before the cancel (an email still queued for a cancelled invitation is dropped).
    WaitForEmail(knox.contact().work_email(), static_cast<size_t>(invited));
    ov1::CancelInvitationRequest cancel;
    cancel.set_name(invitation.name());
    ov1::Invitation out;
    ASSERT_TRUE(Call(&OS::CancelInvitation, *stub, stack->MspToken("spammer"), cancel, &out).ok());
  }
  EXPECT_EQ(invited, 3);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto details = DetailsOf(refused);
  EXPECT_EQ(details.reason, "RECIPIENT_EMAIL_THROTTLED");
  EXPECT_GT(details.retry_delay_ms, 0);
  WaitForEmail(knox.contact().work_email(), 3);
  // Another MSP does not get around it either: the limit is the person's.
  ov1::Invitation other;
  EXPECT_EQ(DetailsOf(Invite("rival", knox.customer_id(), cv1::FULLY_MANAGED, &other)).reason,
            "RECIPIENT_EMAIL_THROTTLED");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int sent = 0;
  for (const auto& m : stack->smtp().Messages()) {
    if (m.find("X-RcptTo: " + knox.contact().work_email()) != std::string::npos) ++sent;
  }
  EXPECT_EQ(sent, 3);
}

TEST(Onboarding, CancelAndExpiryEndTheInvitationAndItsLink) {
  const auto canceled_customer = KnoxCustomer("Cancel BV");
  ov1::Invitation canceled;
  ASSERT_TRUE(Invite("acme", canceled_customer.customer_id(), cv1::FULLY_MANAGED, &canceled).ok());
  const auto email = WaitForEmail(canceled_customer.contact().work_email());
  auto stub = Onboarding();
  ov1::CancelInvitationRequest cancel;
  cancel.set_name(canceled.name());
  ov1::Invitation out;
  EXPECT_EQ(Call(&OS::CancelInvitation, *stub, stack->MspToken("rival"), cancel, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Call(&OS::CancelInvitation, *stub, stack->MspToken("acme"), cancel, &out).ok());
  EXPECT_EQ(out.state(), ov1::Invitation::CANCELED);
  grpc::Status status;
  EXPECT_EQ(GetCustomer("acme", canceled_customer.customer_id(), &status).state(), cv1::CANCELED);
  status = Answer(true, stack->CustomerToken(canceled_customer.customer_id()), canceled.name(),
                  email.token, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "INVITATION_CANCELED");

  // Expiry needs nobody to call: the sweeper marks it (the test moves the expiry back).
  const auto expiring_customer = KnoxCustomer("Expire Oy");
  ov1::Invitation expiring;
  ASSERT_TRUE(Invite("acme", expiring_customer.customer_id(), cv1::FULLY_MANAGED, &expiring).ok());
  {
    pg::Connection conn(stack->database_url(), 5000);
    conn.Exec(
        "UPDATE onboarding.link_requests SET expire_time = now() - interval '1 second' "
        "WHERE customer_id = $1",
        {expiring_customer.customer_id()});
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  cv1::Customer seen;
  while (std::chrono::steady_clock::now() < until) {
    seen = GetCustomer("acme", expiring_customer.customer_id(), &status);
    if (seen.state() == cv1::EXPIRED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(seen.state(), cv1::EXPIRED);
  ov1::GetInvitationRequest get;
  get.set_name(expiring.name());
  ASSERT_TRUE(Call(&OS::GetInvitation, *stub, stack->MspToken("acme"), get, &out).ok());
  EXPECT_EQ(out.state(), ov1::Invitation::EXPIRED);
}

TEST(Onboarding, BadInputNamesTheField) {
  const auto knox = KnoxCustomer("Bad Input KG");
  ov1::Invitation out;
  auto status = Invite("acme", knox.customer_id(), cv1::MANAGEMENT_TYPE_UNSPECIFIED, &out);
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"management_type"});
  status = Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &out, "",
                  {av1::KNOX_CONFIGURE, av1::KNOX_GUARD});
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"services[1]"});
  status = Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &out, "", {});
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"services"});
  status = Invite("acme", "nope", cv1::FULLY_MANAGED, &out);
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"customer_id"});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Nothing was written: the customer is still nobody's.
  grpc::Status get_status;
  GetCustomer("acme", knox.customer_id(), &get_status);
  EXPECT_EQ(get_status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(Onboarding, AReminderGoesOnceBeforeExpiry) {
  const auto knox = KnoxCustomer("Reminder Srl");
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  const auto first = WaitForEmail(knox.contact().work_email(), 1);
  {
    pg::Connection conn(stack->database_url(), 5000);
    conn.Exec(
        "UPDATE onboarding.link_requests SET expire_time = now() + interval '2 hours' "
        "WHERE customer_id = $1",
        {knox.customer_id()});
  }
  const auto reminder = WaitForEmail(knox.contact().work_email(), 2);
  EXPECT_NE(reminder.raw.find("Subject: Reminder: MSP acme asks"), std::string::npos);
  EXPECT_NE(reminder.message_id.find("-reminder@"), std::string::npos);
  // Its link is the one that works now.
  ov1::Invitation out;
  const std::string admin = stack->CustomerToken(knox.customer_id());
  EXPECT_EQ(Answer(true, admin, invitation.name(), first.token, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Only one reminder, however often the sweeper runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  int mine = 0;
  for (const auto& m : stack->smtp().Messages()) {
    if (m.find("X-RcptTo: " + knox.contact().work_email()) != std::string::npos) ++mine;
  }
  EXPECT_EQ(mine, 2);
  EXPECT_TRUE(Answer(true, admin, invitation.name(), reminder.token, &out).ok());
}

TEST(Onboarding, GuessingTokensIsThrottledAndALostTokenIsResent) {
  const auto knox = KnoxCustomer("Guess Inc");
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  const auto email = WaitForEmail(knox.contact().work_email(), 1);
  const std::string admin = stack->CustomerToken(knox.customer_id());
  ov1::Invitation out;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(
        Answer(true, admin, invitation.name(), std::string(43, 'A' + static_cast<char>(i)), &out)
            .error_code(),
        grpc::StatusCode::PERMISSION_DENIED);
  }
  // From now on even the right token waits.
  auto status = Answer(true, admin, invitation.name(), email.token, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(DetailsOf(status).reason, "TOO_MANY_WRONG_TOKENS");
  EXPECT_GT(DetailsOf(status).retry_delay_ms, 0);

  // Redis loses its data: the invitation is still there, the link says so, a resend works.
  {
    redis::Options options;
    options.port = stack->redis().port();
    redis::Client client(options);
    client.Command({"FLUSHALL"});
    pg::Connection conn(stack->database_url(), 5000);
    conn.Exec(
        "UPDATE onboarding.link_requests SET last_send_time = now() - interval '6 minutes' "
        "WHERE customer_id = $1",
        {knox.customer_id()});
  }
  status = Answer(true, admin, invitation.name(), email.token, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "LINK_TOKEN_EXPIRED");
  auto stub = Onboarding();
  ov1::ResendInvitationRequest resend;
  resend.set_name(invitation.name());
  ASSERT_TRUE(Call(&OS::ResendInvitation, *stub, stack->MspToken("acme"), resend, &out).ok());
  const auto second = WaitForEmail(knox.contact().work_email(), 2);
  EXPECT_TRUE(Answer(true, admin, invitation.name(), second.token, &out).ok());
}

// Every method with another MSP's token, a customer admin's (of another customer), a service's
// and no token.
TEST(Onboarding, TenantIsolationMatrix) {
  const auto knox = KnoxCustomer("Isolation Oy");
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("owner", knox.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  const auto email = WaitForEmail(knox.contact().work_email(), 1);
  const auto managed = ManagedJointCustomer("owner", "Isolation Delink Oy");
  ov1::DelinkRequest delink;
  ASSERT_TRUE(RequestDelink("owner", managed.name(), &delink).ok());
  const auto delink_email = WaitForEmail(managed.contact().work_email(), 1, "MSP ");
  auto stub = Onboarding();
  using Rpc = std::function<grpc::Status(const std::string&)>;
  struct Method {
    std::string name;
    Rpc rpc;
    bool for_customers;  // answered by the customer's admin, not by MSP admins
    bool service_only = false;
  };
  std::vector<Method> methods = {
      {"LookupCustomer",
       [&](const std::string& t) {
         ov1::LookupCustomerRequest r;
         r.set_parent("msps/owner");
         r.set_customer_id(knox.customer_id());
         ov1::CustomerPreview out;
         return Call(&OS::LookupCustomer, *stub, t, r, &out);
       },
       false},
      {"CreateInvitation",
       [&](const std::string& t) {
         ov1::CreateInvitationRequest r;
         r.set_parent("msps/owner");
         r.set_customer_id(knox.customer_id());
         r.set_management_type(cv1::FULLY_MANAGED);
         r.add_services(av1::KNOX_CONFIGURE);
         ov1::Invitation out;
         return Call(&OS::CreateInvitation, *stub, t, r, &out);
       },
       false},
      {"GetInvitation",
       [&](const std::string& t) {
         ov1::GetInvitationRequest r;
         r.set_name(invitation.name());
         ov1::Invitation out;
         return Call(&OS::GetInvitation, *stub, t, r, &out);
       },
       false},
      {"ResendInvitation",
       [&](const std::string& t) {
         ov1::ResendInvitationRequest r;
         r.set_name(invitation.name());
         ov1::Invitation out;
         return Call(&OS::ResendInvitation, *stub, t, r, &out);
       },
       false},
      {"CancelInvitation",
       [&](const std::string& t) {
         ov1::CancelInvitationRequest r;
         r.set_name(invitation.name());
         ov1::Invitation out;
         return Call(&OS::CancelInvitation, *stub, t, r, &out);
       },
       false},
      {"AcceptInvitation",
       [&](const std::string& t) {
         ov1::Invitation out;
         return Answer(true, t, invitation.name(), email.token, &out);
       },
       true},
      {"RejectInvitation",
       [&](const std::string& t) {
         ov1::Invitation out;
         return Answer(false, t, invitation.name(), email.token, &out);
       },
       true},
      {"RequestDelink",
       [&](const std::string& t) {
         ov1::RequestDelinkRequest r;
         r.set_customer(managed.name());
         ov1::DelinkRequest out;
         return Call(&OS::RequestDelink, *stub, t, r, &out);
       },
       false},
      {"GetDelinkRequest",
       [&](const std::string& t) {
         ov1::GetDelinkRequestRequest r;
         r.set_name(delink.name());
         ov1::DelinkRequest out;
         return Call(&OS::GetDelinkRequest, *stub, t, r, &out);
       },
       false},
      {"ResendDelinkEmail",
       [&](const std::string& t) {
         ov1::ResendDelinkEmailRequest r;
         r.set_name(delink.name());
         ov1::DelinkRequest out;
         return Call(&OS::ResendDelinkEmail, *stub, t, r, &out);
       },
       false},
      {"RevokeDelink",
       [&](const std::string& t) {
         ov1::RevokeDelinkRequest r;
         r.set_name(delink.name());
         ov1::DelinkRequest out;
         return Call(&OS::RevokeDelink, *stub, t, r, &out);
       },
       false},
      {"AcceptDelink",
       [&](const std::string& t) {
         ov1::DelinkRequest out;
         return AnswerDelink(true, t, delink.name(), delink_email.token, &out);
       },
       true},
      {"RejectDelink",
       [&](const std::string& t) {
         ov1::DelinkRequest out;
         return AnswerDelink(false, t, delink.name(), delink_email.token, &out);
       },
       true},
  };
  methods.push_back({"StartAccountSetup",
                     [&](const std::string& t) {
                       ov1::StartAccountSetupRequest r;
                       r.set_customer(managed.name());
                       r.set_request_id("matrix-setup");
                       ov1::StartAccountSetupResponse out;
                       return Call(&OS::StartAccountSetup, *stub, t, r, &out);
                     },
                     false, true});
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      "msp.onboarding.v1.OnboardingService");
  ASSERT_EQ(service->method_count(), static_cast<int>(methods.size()));
  for (const auto& m : methods) {
    if (m.service_only) {
      for (const auto& token : {stack->MspToken("owner"), stack->MspToken("intruder"),
                                stack->CustomerToken(managed.customer_id())}) {
        EXPECT_EQ(m.rpc(token).error_code(), grpc::StatusCode::PERMISSION_DENIED) << m.name;
      }
      EXPECT_EQ(m.rpc("").error_code(), grpc::StatusCode::UNAUTHENTICATED) << m.name;
      EXPECT_TRUE(m.rpc(stack->ServiceToken("customer")).ok()) << m.name;
      continue;
    }
    const auto intruder = m.rpc(stack->MspToken("intruder"));
    EXPECT_EQ(intruder.error_code(),
              m.for_customers ? grpc::StatusCode::PERMISSION_DENIED : grpc::StatusCode::NOT_FOUND)
        << m.name << ": " << intruder.error_message();
    EXPECT_EQ(intruder.error_message().find("Isolation"), std::string::npos) << m.name;
    // The other customer is neither invited nor the delinked one.
    const auto other_customer = m.rpc(stack->CustomerToken("zzzzzzzzzz"));
    EXPECT_EQ(other_customer.error_code(),
              m.for_customers ? grpc::StatusCode::NOT_FOUND : grpc::StatusCode::PERMISSION_DENIED)
        << m.name;
    // Reporting reads invitations for customer details; nothing else.
    const bool service_reads = m.name == "GetInvitation";
    EXPECT_EQ(m.rpc(stack->ServiceToken("reporting")).error_code(),
              service_reads ? grpc::StatusCode::OK : grpc::StatusCode::PERMISSION_DENIED)
        << m.name;
    EXPECT_EQ(m.rpc("").error_code(), grpc::StatusCode::UNAUTHENTICATED) << m.name;
  }
  // Nothing the others tried changed it: still PENDING, one email.
  ov1::GetInvitationRequest get;
  get.set_name(invitation.name());
  ov1::Invitation seen;
  ASSERT_TRUE(Call(&OS::GetInvitation, *stub, stack->MspToken("owner"), get, &seen).ok());
  EXPECT_EQ(seen.state(), ov1::Invitation::PENDING);
  EXPECT_EQ(seen.send_count(), 1);
  ov1::GetDelinkRequestRequest get_delink;
  get_delink.set_name(delink.name());
  ov1::DelinkRequest delink_seen;
  ASSERT_TRUE(
      Call(&OS::GetDelinkRequest, *stub, stack->MspToken("owner"), get_delink, &delink_seen).ok());
  EXPECT_EQ(delink_seen.state(), ov1::DelinkRequest::REQUESTED);
}

// Request ids: the same request gets the same answer, concurrent twins included; another
// request under the same id is refused; ids the services use internally are not the MSPs'.
// Before: another body got the first invitation, twins partly failed with FAILED_PRECONDITION
// about their own request, and an MSP's "account-setup-<customer>-upgrade" suppressed that
// customer's account-set-up email.
TEST(Onboarding, RequestIdsAnswerOneRequestOnceAndRefuseAnother) {
  const auto knox = KnoxCustomer("Request Twins AG");
  constexpr int kTwins = 6;
  std::vector<ov1::Invitation> answers(kTwins);
  std::vector<grpc::Status> statuses(kTwins);
  {
    std::vector<std::thread> twins;
    for (int i = 0; i < kTwins; ++i) {
      twins.emplace_back([&, i] {
        statuses[i] =
            Invite("twins", knox.customer_id(), cv1::FULLY_MANAGED, &answers[i], "twin-1");
      });
    }
    for (auto& t : twins) t.join();
  }
  for (int i = 0; i < kTwins; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(answers[i].name(), answers[0].name());
  }
  ov1::Invitation other;
  auto status = Invite("twins", knox.customer_id(), cv1::JOINTLY_MANAGED, &other, "twin-1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).reason, "REQUEST_ID_REUSED");
  status = Invite("twins", knox.customer_id(), cv1::FULLY_MANAGED, &other, "twin-1",
                  {av1::KNOX_CONFIGURE});
  EXPECT_EQ(DetailsOf(status).reason, "REQUEST_ID_REUSED");
  WaitForEmail(knox.contact().work_email(), 1);

  const auto joint = ManagedJointCustomer("twins", "Delink Twins GmbH");
  std::vector<ov1::DelinkRequest> delinks(kTwins);
  {
    std::vector<std::thread> twins;
    for (int i = 0; i < kTwins; ++i) {
      twins.emplace_back(
          [&, i] { statuses[i] = RequestDelink("twins", joint.name(), &delinks[i], "twin-2"); });
    }
    for (auto& t : twins) t.join();
  }
  for (int i = 0; i < kTwins; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    EXPECT_EQ(delinks[i].name(), delinks[0].name());
  }
  WaitForEmail(joint.contact().work_email(), 1, "MSP ");

  // An MSP picks the id the customer service would use for an upgrade's email.
  auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest create;
  create.set_parent("msps/twins");
  *create.mutable_customer() =
      customer::testdata::ValidCustomer("Id Squatting GmbH", "it@id-squatting.example");
  cv1::Customer fully;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::CreateCustomer, *customers,
                   stack->MspToken("twins"), create, &fully)
                  .ok());
  const auto another = KnoxCustomer("Squatted Invite AG");
  ASSERT_TRUE(Invite("twins", another.customer_id(), cv1::FULLY_MANAGED, &other,
                     "account-setup-" + fully.customer_id() + "-upgrade")
                  .ok());
  cv1::UpgradeToJointlyManagedRequest upgrade;
  upgrade.set_name(fully.name());
  cv1::Customer upgraded;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::UpgradeToJointlyManaged, *customers,
                   stack->MspToken("twins"), upgrade, &upgraded)
                  .ok());
  WaitForEmail("it@id-squatting.example", 1, "Set up the Samsung Knox");
}

std::vector<cv1::CustomerEvent> Trail(const std::string& msp, const std::string& name) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::ListCustomerEventsRequest request;
  request.set_parent(name);
  request.set_page_size(100);
  cv1::ListCustomerEventsResponse out;
  EXPECT_TRUE(Call(&cv1::CustomerService::Stub::ListCustomerEvents, *stub, stack->MspToken(msp),
                   request, &out)
                  .ok());
  return {out.events().begin(), out.events().end()};
}

// Waits until the trail has an event with `action` (events of other services arrive through
// their outbox); returns it.
std::optional<cv1::CustomerEvent> WaitForTrailEvent(const std::string& msp, const std::string& name,
                                                    const std::string& action,
                                                    const std::string& changed_field = "") {
  for (int i = 0; i < 300; ++i) {
    for (const auto& e : Trail(msp, name)) {
      const bool field =
          changed_field.empty() || std::find(e.changed_fields().begin(), e.changed_fields().end(),
                                             changed_field) != e.changed_fields().end();
      if (e.action() == action && field) return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

// Every change to a customer, its services and its links is in its trail with the acting
// principal. Before: adding Knox Guard never appeared, and invitations and delink requests were
// recorded as `msp:<id>`, not as the admin who acted.
TEST(Onboarding, TheTrailNamesWhoActedForServicesInvitationsAndDelinks) {
  // Created with a service: the creation names the admin; the services name the admin and the
  // customer service that assigned them for it.
  const auto joint = ManagedJointCustomer("trail-msp", "Trail Services AG");
  auto added = WaitForTrailEvent("trail-msp", joint.name(), "SERVICES_ADDED",
                                 "services.knox-mobile-enrollment");
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->actor(), "msp-admin:admin via service:customer");
  // Added later by an admin directly.
  auto assignments = av1::ServiceAssignmentService::NewStub(stack->Channel("service-assignment"));
  av1::AssignServicesRequest assign;
  assign.set_parent(joint.name());
  assign.add_services(av1::KNOX_GUARD);
  av1::AssignServicesResponse assigned;
  ASSERT_TRUE(Call(&av1::ServiceAssignmentService::Stub::AssignServices, *assignments,
                   stack->MspToken("trail-msp", "alice"), assign, &assigned)
                  .ok());
  added = WaitForTrailEvent("trail-msp", joint.name(), "SERVICES_ADDED", "services.knox-guard");
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->actor(), "msp-admin:alice");
  // Whom a call is for comes from a verified token only: the customer service may relay an
  // admin's call of this MSP; not of another MSP; and a Knox backend relays for nobody.
  auto relayed = [&](const std::string& service, const std::string& msp) {
    return Call(&av1::ServiceAssignmentService::Stub::AssignServices, *assignments,
                stack->ServiceToken(
                    service, auth::OnBehalfOf{auth::PrincipalKind::kMspAdmin, "bob", msp, ""}),
                assign, &assigned)
        .error_code();
  };
  EXPECT_EQ(relayed(identity::kCustomer, "other-msp"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(relayed("knox-manage", "trail-msp"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(relayed(identity::kOnboardingInvitation, "trail-msp"),
            grpc::StatusCode::PERMISSION_DENIED);  // onboarding relays customer admins only
  EXPECT_EQ(relayed(identity::kCustomer, "trail-msp"), grpc::StatusCode::OK);
  added = WaitForTrailEvent("trail-msp", joint.name(), "SERVICES_ADDED", "services.knox-guard");

  // A delink asked by bob and accepted by the customer's admin; the services end.
  auto onboarding = Onboarding();
  ov1::RequestDelinkRequest delink_request;
  delink_request.set_customer(joint.name());
  ov1::DelinkRequest delink;
  ASSERT_TRUE(Call(&OS::RequestDelink, *onboarding, stack->MspToken("trail-msp", "bob"),
                   delink_request, &delink)
                  .ok());
  const auto email = WaitForEmail(joint.contact().work_email(), 1, "MSP ");
  ASSERT_TRUE(AnswerDelink(true, stack->CustomerToken(joint.customer_id()), delink.name(),
                           email.token, &delink)
                  .ok());
  const auto requested = WaitForTrailEvent("trail-msp", joint.name(), "DELINK_REQUESTED");
  ASSERT_TRUE(requested.has_value());
  EXPECT_EQ(requested->actor(), "msp-admin:bob via service:onboarding-invitation");
  const auto delinked = WaitForTrailEvent("trail-msp", joint.name(), "DELINKED");
  ASSERT_TRUE(delinked.has_value());
  EXPECT_EQ(delinked->actor(), "customer-admin:super-admin-" + joint.customer_id() +
                                   " via service:onboarding-invitation");
  const auto ended =
      WaitForTrailEvent("trail-msp", joint.name(), "SERVICES_ENDED", "services.knox-guard");
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->actor(), "customer-admin:super-admin-" + joint.customer_id() +
                                " via service:onboarding-invitation");

  // An invitation sent by carol and accepted: both in the new MSP's trail, with the services.
  const auto knox = KnoxCustomer("Trail Invited BV");
  ov1::Invitation invitation;
  ASSERT_TRUE(Call(
                  &OS::CreateInvitation, *onboarding, stack->MspToken("trail-msp", "carol"),
                  [&] {
                    ov1::CreateInvitationRequest r;
                    r.set_parent("msps/trail-msp");
                    r.set_customer_id(knox.customer_id());
                    r.set_management_type(cv1::FULLY_MANAGED);
                    r.add_services(av1::KNOX_CONFIGURE);
                    return r;
                  }(),
                  &invitation)
                  .ok());
  const auto invite_email = WaitForEmail(knox.contact().work_email());
  ov1::Invitation accepted;
  ASSERT_TRUE(Answer(true, stack->CustomerToken(knox.customer_id()), invitation.name(),
                     invite_email.token, &accepted)
                  .ok());
  const std::string name = "msps/trail-msp/customers/" + knox.customer_id();
  const auto invited = WaitForTrailEvent("trail-msp", name, "INVITED");
  ASSERT_TRUE(invited.has_value());
  EXPECT_EQ(invited->actor(), "msp-admin:carol via service:onboarding-invitation");
  added = WaitForTrailEvent("trail-msp", name, "SERVICES_ADDED", "services.knox-configure");
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->actor(), "customer-admin:super-admin-" + knox.customer_id() +
                                " via service:onboarding-invitation");
}

void ExpectOnlyWhatAnUnconsentedCustomerShows(const cv1::Customer& seen, const cv1::Customer& knox,
                                              const std::string& where) {
  EXPECT_EQ(seen.customer_id(), knox.customer_id()) << where;
  EXPECT_EQ(seen.company().display_name(), knox.company().display_name()) << where;
  EXPECT_EQ(seen.company().country_code(), knox.company().country_code()) << where;
  EXPECT_EQ(seen.contact().last_name(), knox.contact().last_name()) << where;
  EXPECT_FALSE(seen.company().has_address()) << where;
  EXPECT_EQ(seen.company().website_uri(), "") << where;
  EXPECT_EQ(seen.company().industries_size(), 0) << where;
  EXPECT_EQ(seen.contact().work_email(), "") << where;
  EXPECT_EQ(seen.contact().phone(), "") << where;
  EXPECT_EQ(seen.contact().job_title(), "") << where;
}

// Before the customer consents and after a refusal the MSP saw the whole account (address,
// website, the contact's email, phone and job title) through GetCustomer, ListCustomers, the
// invitation and reporting's details and export. Now only what LookupCustomer shows, the
// invitation's terms and the super admin's name; after acceptance, the account.
TEST(Onboarding, AnInvitedCustomersAccountIsHiddenUntilItConsents) {
  const auto knox = KnoxCustomer("Private Details GmbH");
  ASSERT_FALSE(knox.contact().work_email().empty());
  ASSERT_TRUE(knox.company().has_address());
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("peek", knox.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  EXPECT_EQ(invitation.contact().work_email(), "");
  EXPECT_EQ(invitation.contact().phone(), "");
  EXPECT_EQ(invitation.contact().last_name(), knox.contact().last_name());
  auto onboarding = Onboarding();
  ov1::GetInvitationRequest get_invitation;
  get_invitation.set_name(invitation.name());
  ov1::Invitation seen_invitation;
  ASSERT_TRUE(Call(&OS::GetInvitation, *onboarding, stack->MspToken("peek"), get_invitation,
                   &seen_invitation)
                  .ok());
  EXPECT_EQ(seen_invitation.contact().work_email(), "");

  auto check = [&](const std::string& when) {
    grpc::Status status;
    const auto seen = GetCustomer("peek", knox.customer_id(), &status);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ExpectOnlyWhatAnUnconsentedCustomerShows(seen, knox, "GetCustomer " + when);
    auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
    cv1::ListCustomersRequest list;
    list.set_parent("msps/peek");
    cv1::ListCustomersResponse listed;
    ASSERT_TRUE(Call(&cv1::CustomerService::Stub::ListCustomers, *customers,
                     stack->MspToken("peek"), list, &listed)
                    .ok());
    ASSERT_EQ(listed.customers_size(), 1);
    ExpectOnlyWhatAnUnconsentedCustomerShows(listed.customers(0), knox, "ListCustomers " + when);
    // Nor can the email be probed by searching for it.
    list.set_search(knox.contact().work_email());
    ASSERT_TRUE(Call(&cv1::CustomerService::Stub::ListCustomers, *customers,
                     stack->MspToken("peek"), list, &listed)
                    .ok());
    EXPECT_EQ(listed.customers_size(), 0) << when;
    // Reporting's details (once its read model has the customer).
    auto reporting = rv1::ReportingService::NewStub(stack->Channel("reporting"));
    rv1::GetCustomerDetailsRequest details_request;
    details_request.set_name("msps/peek/customers/" + knox.customer_id());
    rv1::CustomerDetails details;
    grpc::Status details_status;
    for (int i = 0; i < 200; ++i) {
      details_status = Call(&rv1::ReportingService::Stub::GetCustomerDetails, *reporting,
                            stack->MspToken("peek"), details_request, &details);
      if (details_status.ok() && details.customer().state() == seen.state()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(details_status.ok()) << details_status.error_message();
    ExpectOnlyWhatAnUnconsentedCustomerShows(details.customer(), knox, "details " + when);
    EXPECT_EQ(details.invitation().contact().work_email(), "") << when;
  };
  check("while pending");
  const auto email = WaitForEmail(knox.contact().work_email());
  ov1::Invitation answered;
  ASSERT_TRUE(Answer(false, stack->CustomerToken(knox.customer_id()), invitation.name(),
                     email.token, &answered, "No thanks")
                  .ok());
  check("after the rejection");

  // Accepted: the account is the MSP's to see.
  const auto agreeing = KnoxCustomer("Agreeing Details GmbH");
  ASSERT_TRUE(Invite("peek-2", agreeing.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
  const auto agreeing_email = WaitForEmail(agreeing.contact().work_email());
  ASSERT_TRUE(Answer(true, stack->CustomerToken(agreeing.customer_id()), invitation.name(),
                     agreeing_email.token, &answered)
                  .ok());
  grpc::Status status;
  const auto managed = GetCustomer("peek-2", agreeing.customer_id(), &status);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(managed.contact().work_email(), agreeing.contact().work_email());
  EXPECT_EQ(managed.company().address().address_line1(),
            agreeing.company().address().address_line1());
}

// The customer as the MSP sees it once its one service is ACTIVE (or as it is after 15 s).
cv1::Customer WaitForOneActiveService(const std::string& msp, const std::string& customer_id) {
  grpc::Status status;
  cv1::Customer seen;
  for (int i = 0; i < 300; ++i) {
    seen = GetCustomer(msp, customer_id, &status);
    if (status.ok() && seen.services_size() == 1 &&
        seen.services(0).state() == av1::AssignedService::ACTIVE) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return seen;
}

// A Knox Manage tenant belongs to the customer's account: a customer that moves to another MSP
// keeps it, and a prefix that would make another tenant id is refused with a reason (it used
// to be ignored without a word).
TEST(Onboarding, AKnoxManageTenantStaysWithTheCustomerAcrossMsps) {
  auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest create;
  create.set_parent("msps/km-first");
  *create.mutable_customer() = customer::testdata::ValidCustomer(
      "Tenant Mover GmbH", absl::StrCat("it@tenant-mover", ::getpid(), ".example"),
      cv1::JOINTLY_MANAGED);
  create.add_services(av1::KNOX_MANAGE);
  create.set_knox_manage_tenant_prefix("first");
  cv1::Customer created;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::CreateCustomer, *customers,
                   stack->MspToken("km-first"), create, &created)
                  .ok());
  const std::string first_tenant = absl::StrCat("first.tenant-mover", ::getpid(), ".example");
  grpc::Status status;
  cv1::Customer seen = WaitForOneActiveService("km-first", created.customer_id());
  ASSERT_EQ(seen.services_size(), 1);
  EXPECT_EQ(seen.services(0).knox_manage_tenant_id(), first_tenant);
  ov1::DelinkRequest delink;
  ASSERT_TRUE(RequestDelink("km-first", created.name(), &delink).ok());
  const auto delink_email = WaitForEmail(created.contact().work_email(), 1, "MSP ");
  ASSERT_TRUE(AnswerDelink(true, stack->CustomerToken(created.customer_id()), delink.name(),
                           delink_email.token, &delink)
                  .ok());

  // Another MSP asks for a tenant of its own naming: refused, naming the tenant the account has.
  ov1::Invitation invitation;
  status = Invite("km-second", created.customer_id(), cv1::FULLY_MANAGED, &invitation, "",
                  {av1::KNOX_MANAGE}, "second");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  auto details = DetailsOf(status);
  EXPECT_EQ(details.reason, "KNOX_MANAGE_TENANT_EXISTS");
  EXPECT_EQ(details.metadata["tenant_id"], first_tenant);
  // The tenant check says the same.
  auto assignments = av1::ServiceAssignmentService::NewStub(stack->Channel("service-assignment"));
  av1::CheckKnoxManageTenantIdRequest check;
  check.set_parent("msps/km-first");
  check.set_customer(created.name());
  check.set_work_email(created.contact().work_email());
  check.set_prefix("second");
  av1::CheckKnoxManageTenantIdResponse checked;
  ASSERT_TRUE(Call(&av1::ServiceAssignmentService::Stub::CheckKnoxManageTenantId, *assignments,
                   stack->MspToken("km-first"), check, &checked)
                  .ok());
  EXPECT_EQ(checked.existing_tenant_id(), first_tenant);
  EXPECT_FALSE(checked.available());
  // Another MSP's admin cannot ask about a customer that is not its own.
  check.set_parent("msps/km-other");
  EXPECT_EQ(Call(&av1::ServiceAssignmentService::Stub::CheckKnoxManageTenantId, *assignments,
                 stack->MspToken("km-other"), check, &checked)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Without a prefix: accepted, and Knox Manage is the account's tenant.
  ASSERT_TRUE(Invite("km-second", created.customer_id(), cv1::FULLY_MANAGED, &invitation, "",
                     {av1::KNOX_MANAGE})
                  .ok());
  const auto email = WaitForEmail(created.contact().work_email(), 1, "MSP km-second");
  ov1::Invitation answered;
  ASSERT_TRUE(Answer(true, stack->CustomerToken(created.customer_id()), invitation.name(),
                     email.token, &answered)
                  .ok());
  seen = WaitForOneActiveService("km-second", created.customer_id());
  ASSERT_EQ(seen.services_size(), 1);
  EXPECT_EQ(seen.services(0).knox_manage_tenant_id(), first_tenant);
}

TEST(Onboarding, ADelinkRequestIsForJointlyManagedActiveCustomersOnly) {
  // A fully managed customer can't be delinked.
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest create;
  create.set_parent("msps/acme");
  *create.mutable_customer() =
      customer::testdata::ValidCustomer("Fully Delink GmbH", "it@fully-delink.example");
  cv1::Customer fully;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::CreateCustomer, *stub, stack->MspToken("acme"),
                   create, &fully)
                  .ok());
  ov1::DelinkRequest out;
  auto status = RequestDelink("acme", fully.name(), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "DELINK_ONLY_JOINTLY_MANAGED");
  // Another MSP's customer is not found.
  const auto joint = ManagedJointCustomer("acme", "Joint Delink GmbH");
  status = RequestDelink("rival", "msps/rival/customers/" + joint.customer_id(), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  // Requested: DELINK_REQUESTED, edits refused, a second request refused, the email sent.
  ASSERT_TRUE(RequestDelink("acme", joint.name(), &out, "delink-req-1").ok());
  EXPECT_EQ(out.state(), ov1::DelinkRequest::REQUESTED);
  ov1::DelinkRequest again;
  ASSERT_TRUE(RequestDelink("acme", joint.name(), &again, "delink-req-1").ok());
  EXPECT_EQ(again.name(), out.name());
  status = RequestDelink("acme", joint.name(), &again);
  EXPECT_EQ(DetailsOf(status).reason, "DELINK_ALREADY_REQUESTED");
  grpc::Status get_status;
  EXPECT_EQ(GetCustomer("acme", joint.customer_id(), &get_status).state(), cv1::DELINK_REQUESTED);
  const auto email = WaitForEmail(joint.contact().work_email(), 1, "MSP ");
  EXPECT_EQ(email.invitation, out.name());
  EXPECT_NE(email.raw.find("Subject: MSP acme asks to stop managing Joint Delink GmbH"),
            std::string::npos);

  // Revoked by the MSP: ACTIVE again, the link dead.
  auto onboarding = Onboarding();
  ov1::RevokeDelinkRequest revoke;
  revoke.set_name(out.name());
  ASSERT_TRUE(Call(&OS::RevokeDelink, *onboarding, stack->MspToken("acme"), revoke, &again).ok());
  EXPECT_EQ(again.state(), ov1::DelinkRequest::REVOKED);
  const cv1::Customer revoked = GetCustomer("acme", joint.customer_id(), &get_status);
  EXPECT_EQ(revoked.state(), cv1::ACTIVE);
  // Its link names the delink request, which exists (it named an invitation of that id).
  EXPECT_EQ(revoked.link(), out.name());
  ov1::GetDelinkRequestRequest get_link;
  get_link.set_name(revoked.link());
  ov1::DelinkRequest linked;
  EXPECT_TRUE(
      Call(&OS::GetDelinkRequest, *onboarding, stack->MspToken("acme"), get_link, &linked).ok());
  status = AnswerDelink(true, stack->CustomerToken(joint.customer_id()), out.name(), email.token,
                        &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "DELINK_REVOKED");
}

// Services a new customer asked for that reach the assignment service while a delink awaits
// the customer's answer are not refused for good: they wait, and arrive once the customer
// rejects the delink.
TEST(Onboarding, ServicesAskedForWaitForAPendingDelinkAndArriveWhenItIsRejected) {
  // An MSP of its own: other tests count the emails sent to theirs.
  stack->StopService("service-assignment", SIGKILL);  // the services cannot be delivered yet
  const auto joint = ManagedJointCustomer("patient-msp", "Patient Services AG");
  ov1::DelinkRequest delink;
  ASSERT_TRUE(RequestDelink("patient-msp", joint.name(), &delink).ok());
  const auto email = WaitForEmail(joint.contact().work_email(), 1, "MSP ");
  stack->StartService("service-assignment");
  // Until the relay has been told CUSTOMER_DELINK_REQUESTED at least once.
  pg::Connection conn(stack->database_url(), 5000);
  bool refused_while_pending = false;
  for (int i = 0; i < 300 && !refused_while_pending; ++i) {
    refused_while_pending =
        conn.Exec(
                "SELECT count(*) FROM customer.outbox WHERE topic = 'assign-services' AND "
                "message_key = $1 AND delivered_at IS NULL AND last_error LIKE '%delink%'",
                {joint.customer_id()})
            .Int64(0, 0) == 1;
    if (!refused_while_pending) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(refused_while_pending);
  grpc::Status status;
  const auto during = GetCustomer("patient-msp", joint.customer_id(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(during.services_size(), 1);
  EXPECT_EQ(during.services(0).state(), av1::AssignedService::PROVISIONING);

  ov1::DelinkRequest answered;
  ASSERT_TRUE(AnswerDelink(false, stack->CustomerToken(joint.customer_id()), delink.name(),
                           email.token, &answered)
                  .ok());
  // The relay's next attempt (backoff of a few seconds by now) assigns them.
  cv1::Customer after;
  for (int i = 0; i < 900; ++i) {
    after = GetCustomer("patient-msp", joint.customer_id(), &status);
    if (status.ok() && after.services_size() == 1 &&
        after.services(0).state() != av1::AssignedService::PROVISIONING) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(after.services_size(), 1);
  EXPECT_EQ(after.services(0).state(), av1::AssignedService::ACTIVE);
  EXPECT_EQ(after.state(), cv1::ACTIVE);
}

TEST(Onboarding, AnAcceptedDelinkEndsTheServicesAndTellsBothSides) {
  const auto joint = ManagedJointCustomer("acme", "Leaving Ltd");
  // Services there to end: assigned before the delink is asked (one asked for later would wait
  // for the answer, and after an acceptance never come: ServicesAskedForWait... below).
  {
    grpc::Status status;
    bool active = false;
    for (int i = 0; i < 300 && !active; ++i) {
      const auto now = GetCustomer("acme", joint.customer_id(), &status);
      active = status.ok() && now.services_size() == 1 &&
               now.services(0).state() == av1::AssignedService::ACTIVE;
      if (!active) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(active) << "the new customer's service was never assigned";
  }
  ov1::DelinkRequest request;
  ASSERT_TRUE(RequestDelink("acme", joint.name(), &request).ok());
  const auto email = WaitForEmail(joint.contact().work_email(), 1, "MSP ");
  ov1::DelinkRequest answered;
  const std::string admin = stack->CustomerToken(joint.customer_id());
  ASSERT_TRUE(AnswerDelink(true, admin, request.name(), email.token, &answered).ok());
  EXPECT_EQ(answered.state(), ov1::DelinkRequest::ACCEPTED);
  ASSERT_TRUE(AnswerDelink(true, admin, request.name(), email.token, &answered).ok())
      << "the same answer again";
  grpc::Status status;
  auto after = GetCustomer("acme", joint.customer_id(), &status);
  EXPECT_EQ(after.state(), cv1::DELINKED);
  EXPECT_TRUE(after.super_admin_portal_access());
  // No console opens for a delinked customer, even before the end of its services arrives.
  {
    auto assignments = av1::ServiceAssignmentService::NewStub(stack->Channel("service-assignment"));
    av1::LaunchServiceConsoleRequest launch;
    launch.set_name(joint.name() + "/services/knox-mobile-enrollment");
    launch.set_return_uri("https://msp.samsungknox.com/customers");
    av1::LaunchServiceConsoleResponse launched;
    const auto refused = Call(&av1::ServiceAssignmentService::Stub::LaunchServiceConsole,
                              *assignments, stack->MspToken("acme"), launch, &launched);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(DetailsOf(refused).reason, "CUSTOMER_NOT_MANAGED");
  }
  // The services end (the relay calls the assignment service).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < until) {
    after = GetCustomer("acme", joint.customer_id(), &status);
    if (after.services_size() > 0 && after.services(0).state() == av1::AssignedService::ENDED) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(after.services_size(), 0);
  EXPECT_EQ(after.services(0).state(), av1::AssignedService::ENDED);
  // Both sides are told.
  const auto confirmation = WaitForEmail(joint.contact().work_email(), 1, "You now manage");
  EXPECT_NE(confirmation.raw.find("Subject: You now manage Leaving Ltd's Knox services"),
            std::string::npos);
  const auto notice = WaitForEmail("msp-acme@msp-portal.example", 1);
  EXPECT_NE(notice.raw.find("Leaving Ltd accepted your delink request"), std::string::npos);
  // The MSP can't edit it any more; the customer is invitable again.
  ov1::Invitation invitation;
  EXPECT_TRUE(Invite("rival", joint.customer_id(), cv1::FULLY_MANAGED, &invitation).ok());
}

TEST(Onboarding, ARejectedDelinkKeepsTheCustomerAndTellsTheMsp) {
  const auto joint = ManagedJointCustomer("acme2", "Staying SA");
  ov1::DelinkRequest request;
  ASSERT_TRUE(RequestDelink("acme2", joint.name(), &request).ok());
  const auto email = WaitForEmail(joint.contact().work_email(), 1, "MSP ");
  ov1::DelinkRequest answered;
  ASSERT_TRUE(AnswerDelink(false, stack->CustomerToken(joint.customer_id()), request.name(),
                           email.token, &answered)
                  .ok());
  EXPECT_EQ(answered.state(), ov1::DelinkRequest::REJECTED);
  grpc::Status status;
  EXPECT_EQ(GetCustomer("acme2", joint.customer_id(), &status).state(), cv1::ACTIVE);
  const auto notice = WaitForEmail("msp-acme2@msp-portal.example", 1);
  EXPECT_NE(notice.raw.find("Staying SA rejected your delink request"), std::string::npos);
}

TEST(Onboarding, JointlyManagedCustomersGetTheAccountSetupEmailOnce) {
  // Created jointly managed: the customer service hands the email over through its outbox.
  const auto joint = ManagedJointCustomer("acme", "Setup Joint GmbH");
  const auto email = WaitForEmail(joint.contact().work_email(), 1, "Set up the Samsung Knox");
  EXPECT_EQ(email.token.size(), 0u) << "the account-set-up link is not an invitation link";
  EXPECT_NE(email.raw.find("/account-setup?customer=msps%2Facme%2Fcustomers%2F" +
                           joint.customer_id() + "&token="),
            std::string::npos)
      << email.raw;
  EXPECT_NE(email.message_id.find("account-setup-"), std::string::npos);
  // A repeat of the hand-over (same request id) sends nothing more.
  auto stub = Onboarding();
  ov1::StartAccountSetupRequest again;
  again.set_customer(joint.name());
  again.set_request_id("account-setup-" + joint.customer_id());
  ov1::StartAccountSetupResponse out;
  ASSERT_TRUE(
      Call(&OS::StartAccountSetup, *stub, stack->ServiceToken("customer"), again, &out).ok());
  EXPECT_FALSE(out.queued());

  // Upgraded from fully managed: the email too.
  auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest create;
  create.set_parent("msps/acme");
  *create.mutable_customer() =
      customer::testdata::ValidCustomer("Setup Upgrade GmbH", "it@setup-upgrade.example");
  cv1::Customer fully;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::CreateCustomer, *customers, stack->MspToken("acme"),
                   create, &fully)
                  .ok());
  cv1::UpgradeToJointlyManagedRequest upgrade;
  upgrade.set_name(fully.name());
  cv1::Customer upgraded;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::UpgradeToJointlyManaged, *customers,
                   stack->MspToken("acme"), upgrade, &upgraded)
                  .ok());
  WaitForEmail("it@setup-upgrade.example", 1, "Set up the Samsung Knox");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  int sent = 0;
  for (const auto& m : stack->smtp().Messages()) {
    if (m.find("X-RcptTo: " + joint.contact().work_email()) != std::string::npos &&
        m.find("Subject: Set up the Samsung Knox") != std::string::npos) {
      ++sent;
    }
  }
  EXPECT_EQ(sent, 1);
}

// The MSP chose Knox Manage for a customer that never registered it: accepting creates the
// tenant from the prefix and the super admin's email domain.
TEST(Onboarding, AcceptingWithKnoxManageCreatesTheTenant) {
  const auto knox = KnoxCustomer("Tenant Co");
  const std::string domain =
      knox.contact().work_email().substr(knox.contact().work_email().find('@') + 1);
  ov1::Invitation invitation;
  ASSERT_TRUE(Invite("acme", knox.customer_id(), cv1::FULLY_MANAGED, &invitation, "",
                     {av1::KNOX_MANAGE}, "hq")
                  .ok());
  const auto email = WaitForEmail(knox.contact().work_email());
  ov1::Invitation out;
  ASSERT_TRUE(
      Answer(true, stack->CustomerToken(knox.customer_id()), invitation.name(), email.token, &out)
          .ok());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  cv1::Customer active;
  grpc::Status status;
  while (std::chrono::steady_clock::now() < until) {
    active = GetCustomer("acme", knox.customer_id(), &status);
    if (status.ok() && active.services_size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(active.services_size(), 1);
  EXPECT_EQ(active.services(0).service(), av1::KNOX_MANAGE);
  EXPECT_EQ(active.services(0).knox_manage_tenant_id(), "hq." + domain);
}

TEST(Onboarding, ADelinkEmailCanBeResentWithANewLink) {
  const auto joint = ManagedJointCustomer("acme", "Resend Delink AB");
  ov1::DelinkRequest request;
  ASSERT_TRUE(RequestDelink("acme", joint.name(), &request).ok());
  const auto first = WaitForEmail(joint.contact().work_email(), 1, "MSP ");
  {
    pg::Connection conn(stack->database_url(), 5000);
    conn.Exec(
        "UPDATE onboarding.link_requests SET last_send_time = now() - interval '6 minutes' "
        "WHERE customer_id = $1",
        {joint.customer_id()});
  }
  auto stub = Onboarding();
  ov1::ResendDelinkEmailRequest resend;
  resend.set_name(request.name());
  ov1::DelinkRequest out;
  ASSERT_TRUE(Call(&OS::ResendDelinkEmail, *stub, stack->MspToken("acme"), resend, &out).ok());
  EXPECT_EQ(out.send_count(), 2);
  const auto second = WaitForEmail(joint.contact().work_email(), 2, "MSP ");
  EXPECT_NE(second.token, first.token);
  const auto throttled = Call(&OS::ResendDelinkEmail, *stub, stack->MspToken("acme"), resend, &out);
  EXPECT_EQ(DetailsOf(throttled).reason, "RESEND_THROTTLED");
  const std::string admin = stack->CustomerToken(joint.customer_id());
  EXPECT_EQ(AnswerDelink(false, admin, request.name(), first.token, &out).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(AnswerDelink(false, admin, request.name(), second.token, &out).ok());
}

}  // namespace
}  // namespace msp
