#include "domain/invite_rows.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "domain/bulk_jobs.h"
#include "msp/common/idempotency.h"
#include "testdata/sample_customers.h"

namespace msp::customer {
namespace {

namespace av1 = assignment::v1;

constexpr char kHeader[] = "Customer_ID;services;management_type\r\n";

// "row:field" of each finding.
std::vector<std::string> Findings(const CheckedFile& file) {
  std::vector<std::string> out;
  for (const auto& row : file.rows) {
    for (const auto& p : row.problems) out.push_back(absl::StrCat(row.row, ":", p.field));
  }
  return out;
}

TEST(InviteRows, EachRowIsCreateInvitationsRequestCheckedWithItsRules) {
  const CheckedFile file = CheckInviteFile(
      absl::StrCat("\xEF\xBB\xBF", kHeader,
                   "abcdefghjk;Knox Configure|knox-mobile-enrollment;fully\r\n",  // 1
                   "abcdefghjk;KNOX_CONFIGURE;JOINTLY_MANAGED\r\n",               // 2: 1's customer
                   "not-an-id;KNOX_CONFIGURE;FULLY_MANAGED\r\n",                  // 3
                   "bcdefghjkm;KNOX_GUARD;FULLY_MANAGED\r\n",                     // 4
                   "cdefghjkmn;;FULLY_MANAGED\r\n",                               // 5
                   "defghjkmnp;KNOX_CONFIGURE;partly\r\n",                        // 6
                   "efghjkmnpq;knox-teleport;FULLY_MANAGED\r\n"));                // 7
  ASSERT_EQ(file.rows.size(), 7u);
  EXPECT_EQ(Findings(file),
            (std::vector<std::string>{"2:customer_id", "3:customer_id", "4:services", "5:services",
                                      "6:management_type", "7:services"}));
  EXPECT_EQ(file.invalid_rows, 6);
  EXPECT_EQ(file.rows[1].problems[0].description, "the same customer as row 1");
  EXPECT_EQ(file.rows[3].problems[0].description,
            "Knox Guard is not offered to existing customers");
  onboarding::v1::CreateInvitationRequest first;
  ASSERT_TRUE(first.ParseFromString(file.rows[0].request));
  EXPECT_EQ(first.customer_id(), "abcdefghjk");
  EXPECT_EQ(first.management_type(), v1::FULLY_MANAGED);
  EXPECT_EQ(first.services_size(), 2);
  EXPECT_EQ(file.rows[0].customer_id, "abcdefghjk");
  EXPECT_EQ(CustomersToInvite(file), (std::vector<std::string>{"abcdefghjk"}));
}

TEST(InviteRows, APrefixWithoutKnoxManageIsRefused) {
  const CheckedFile file = CheckInviteFile(
      "customer_id,management_type,services,knox_manage_tenant_prefix\r\n"
      "abcdefghjk,FULLY_MANAGED,KNOX_CONFIGURE,hq\r\n");
  EXPECT_EQ(Findings(file), (std::vector<std::string>{"1:knox_manage_tenant_prefix"}));
}

InviteTarget Target(const std::string& email, const std::string& msp = "",
                    v1::State state = v1::ACTIVE, bool own_manage = false) {
  InviteTarget target;
  target.customer = testdata::ValidCustomer("Target GmbH", email);
  target.customer.set_name("msps/-/customers/abcdefghjk");
  target.link.msp_id = msp;
  target.link.state = state;
  target.has_own_knox_manage = own_manage;
  return target;
}

onboarding::v1::CreateInvitationRequest Invitation(v1::ManagementType type,
                                                   const std::string& prefix = "") {
  onboarding::v1::CreateInvitationRequest request;
  request.set_customer_id("abcdefghjk");
  request.set_management_type(type);
  request.add_services(av1::KNOX_MANAGE);
  request.set_knox_manage_tenant_prefix(prefix);
  return request;
}

std::string Problem(const onboarding::v1::CreateInvitationRequest& request,
                    const InviteTarget* target) {
  std::vector<FieldViolation> problems;
  CheckInviteTarget(request, "msp-a", target, FreeMailDomains(), problems);
  return problems.empty() ? "" : absl::StrCat(problems[0].field, ": ", problems[0].description);
}

TEST(InviteTargets, TheStoredCustomerIsCheckedAsTheInvitationsTransitionChecksIt) {
  EXPECT_EQ(Problem(Invitation(v1::FULLY_MANAGED), nullptr),
            "customer_id: no Samsung Knox customer has this id");
  const auto pending = Target("it@target.example", "msp-b", v1::PENDING);
  EXPECT_EQ(Problem(Invitation(v1::FULLY_MANAGED), &pending),
            "customer_id: the customer has an open invitation from an MSP");
  const auto managed = Target("it@target.example", "msp-b", v1::ACTIVE);
  EXPECT_EQ(Problem(Invitation(v1::FULLY_MANAGED), &managed),
            "customer_id: the customer is managed by an MSP: it must be delinked first");
  // A link that ended leaves the customer free to invite.
  const auto rejected = Target("it@target.example", "msp-b", v1::REJECTED);
  EXPECT_EQ(Problem(Invitation(v1::JOINTLY_MANAGED), &rejected), "");
  const auto free_mail = Target("boss@gmail.com");
  EXPECT_EQ(Problem(Invitation(v1::FULLY_MANAGED), &free_mail), "");
  EXPECT_EQ(Problem(Invitation(v1::JOINTLY_MANAGED), &free_mail).rfind("management_type: ", 0), 0u);
}

TEST(InviteTargets, ATenantIdIsMadeOnlyWithAPrefixForACustomerWithoutOne) {
  std::vector<FieldViolation> problems;
  const auto target = Target("it@target.example");
  EXPECT_EQ(CheckInviteTarget(Invitation(v1::FULLY_MANAGED, "hq"), "msp-a", &target,
                              FreeMailDomains(), problems),
            "hq.target.example");
  EXPECT_EQ(CheckInviteTarget(Invitation(v1::FULLY_MANAGED), "msp-a", &target, FreeMailDomains(),
                              problems),
            "");
  const auto with_tenant = Target("it@target.example", "", v1::ACTIVE, /*own_manage=*/true);
  EXPECT_EQ(CheckInviteTarget(Invitation(v1::FULLY_MANAGED, "hq"), "msp-a", &with_tenant,
                              FreeMailDomains(), problems),
            "");
  EXPECT_TRUE(problems.empty());
}

TEST(InviteTargets, TwoRowsMakingOneTenantIdAreAClash) {
  CheckedFile file = CheckInviteFile(
      "customer_id,management_type,services,knox_manage_tenant_prefix\r\n"
      "abcdefghjk,FULLY_MANAGED,KNOX_MANAGE,hq\r\n"
      "bcdefghjkm,FULLY_MANAGED,KNOX_MANAGE,hq\r\n"
      "cdefghjkmn,FULLY_MANAGED,KNOX_MANAGE,hq\r\n");
  std::map<std::string, InviteTarget> targets;
  targets["abcdefghjk"] = Target("a@same.example");
  targets["bcdefghjkm"] = Target("b@same.example");
  targets["cdefghjkmn"] = Target("c@other.example");
  MarkInviteTargets(file, "msp-a", targets, FreeMailDomains());
  EXPECT_EQ(Findings(file), (std::vector<std::string>{"2:knox_manage_tenant_prefix"}));
  EXPECT_EQ(file.invalid_rows, 1);
  EXPECT_EQ(TenantIdsToCheck(file),
            (std::vector<std::string>{"hq.same.example", "hq.other.example"}));
}

TEST(InviteRequestIds, AServicesIdNamesTheRowAndIsKeptApart) {
  const std::string id = RowRequestId("abc0123456", 3);
  EXPECT_TRUE(idempotency::IsValidServiceRequestId(id));
  EXPECT_NO_THROW(idempotency::CheckRequestId(id, "request_id", /*from_service=*/true));
  EXPECT_THROW(idempotency::CheckRequestId(id, "request_id", /*from_service=*/false), ApiError);
  EXPECT_EQ(idempotency::RequestIdOfKey(idempotency::KeyOf(true, id)), id);
  EXPECT_EQ(idempotency::RequestIdOfKey("chosen-by-admin"), "chosen-by-admin");
}

}  // namespace
}  // namespace msp::customer
