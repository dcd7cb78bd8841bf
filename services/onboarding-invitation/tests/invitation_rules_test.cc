#include "domain/invitation_rules.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::onboarding {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
const auto kNow = std::chrono::system_clock::time_point(seconds(1'800'000'000));

TEST(ResendWait, OncePerIntervalAndTenADay) {
  const ResendLimits limits;
  SendHistory history{kNow - minutes(2), kNow - hours(1), 1};
  auto wait = ResendWait(history, limits, kNow);
  ASSERT_TRUE(wait.has_value());
  EXPECT_GE(*wait, seconds(180));
  EXPECT_LE(*wait, seconds(181));
  history.last_send = kNow - minutes(6);
  EXPECT_FALSE(ResendWait(history, limits, kNow).has_value());
  history.sends_in_window = 10;  // the day's ten are used: until the window ends
  wait = ResendWait(history, limits, kNow);
  ASSERT_TRUE(wait.has_value());
  EXPECT_NEAR(static_cast<double>(wait->count()), 23 * 3600, 2);
  history.window_start = kNow - hours(25);  // a new day
  EXPECT_FALSE(ResendWait(history, limits, kNow).has_value());
}

TEST(RecipientWait, ABurstAndADayPerRecipientWhateverTheInvitation) {
  const RecipientLimits limits;  // 3 in 10 minutes, 10 a day
  EXPECT_FALSE(RecipientWait({}, limits, kNow).has_value());
  EXPECT_FALSE(RecipientWait({kNow - seconds(1), kNow - seconds(2)}, limits, kNow).has_value());
  // A third within ten minutes: the oldest of the three must leave the window first.
  auto wait =
      RecipientWait({kNow - seconds(1), kNow - minutes(4), kNow - seconds(2)}, limits, kNow);
  ASSERT_TRUE(wait.has_value());
  EXPECT_NEAR(static_cast<double>(wait->count()), 6 * 60, 2);
  EXPECT_FALSE(
      RecipientWait({kNow - seconds(1), kNow - minutes(11), kNow - seconds(2)}, limits, kNow)
          .has_value());
  // Ten in a day, spread out: until the oldest is a day old.
  std::vector<std::chrono::system_clock::time_point> day;
  for (int i = 1; i <= 10; ++i) day.push_back(kNow - hours(2 * i));
  wait = RecipientWait(day, limits, kNow);
  ASSERT_TRUE(wait.has_value());
  EXPECT_NEAR(static_cast<double>(wait->count()), 4 * 3600, 2);
}

TEST(CreateInvitation, FieldsAreCheckedAndKnoxGuardIsNotOffered) {
  v1::CreateInvitationRequest request;
  request.set_customer_id("0123456789");
  request.set_management_type(customer::v1::FULLY_MANAGED);
  request.add_services(assignment::v1::KNOX_MANAGE);
  request.add_services(assignment::v1::KNOX_MANAGE);
  request.set_knox_manage_tenant_prefix("hq");
  EXPECT_EQ(ValidateCreateInvitation(request).size(), 1u);
  request.add_services(assignment::v1::KNOX_GUARD);
  request.set_knox_manage_tenant_prefix("-bad");
  request.set_request_id("not ok");
  try {
    ValidateCreateInvitation(request);
    FAIL();
  } catch (const ApiError& e) {
    std::vector<std::string> fields;
    for (const auto& v : e.field_violations()) fields.push_back(v.field);
    EXPECT_EQ(fields,
              (std::vector<std::string>{"services[2]", "knox_manage_tenant_prefix", "request_id"}));
  }
}

TEST(InvitationEmail, CarriesTheLinkTheDeadlineAndARecognisableMessageId) {
  v1::Invitation invitation;
  invitation.set_name("msps/acme/invitations/abcdefghijklmnop");
  invitation.set_company_name("Contoso");
  invitation.set_management_type(customer::v1::FULLY_MANAGED);
  invitation.add_services(assignment::v1::KNOX_CONFIGURE);
  invitation.mutable_contact()->set_first_name("Ada");
  invitation.mutable_contact()->set_work_email("ada@contoso.example");
  invitation.mutable_expire_time()->set_seconds(1'800'000'000);
  invitation.set_send_count(2);
  EmailSettings settings;
  settings.portal_url = "https://portal.example";
  const auto email = InvitationEmail(invitation, "acme", "TOKEN_abc-123", settings, false);
  EXPECT_EQ(email.to, "ada@contoso.example");
  EXPECT_NE(email.text_body.find("https://portal.example/invitations/respond?invitation=msps%2F"
                                 "acme%2Finvitations%2Fabcdefghijklmnop&token=TOKEN_abc-123"),
            std::string::npos);
  EXPECT_NE(email.text_body.find("Knox Configure"), std::string::npos);
  EXPECT_NE(email.text_body.find("no longer have access"), std::string::npos);
  EXPECT_NE(email.text_body.find("2027-01-15"), std::string::npos);
  EXPECT_EQ(email.message_id, "invitation-abcdefghijklmnop-2@msp-portal.example");
  const auto reminder = InvitationEmail(invitation, "acme", "T", settings, true);
  EXPECT_EQ(reminder.subject.rfind("Reminder: ", 0), 0u);
  EXPECT_NE(reminder.message_id, email.message_id);
  EXPECT_NO_THROW(mail::CheckEmail(email));
}

TEST(InvitationIds, AreRandomAndChecked) {
  const auto a = NewInvitationId();
  EXPECT_TRUE(IsValidInvitationId(a));
  EXPECT_NE(a, NewInvitationId());
  EXPECT_FALSE(IsValidInvitationId("short"));
  EXPECT_FALSE(IsValidInvitationId("ABCDEFGHIJKLMNOP"));
}

}  // namespace
}  // namespace msp::onboarding
