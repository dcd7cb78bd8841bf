#include "domain/customer_rules.h"

#include <gtest/gtest.h>

#include <functional>

#include "msp/common/idempotency.h"
#include "testdata/sample_customers.h"

namespace msp::customer {
namespace {

using testdata::ValidCustomer;

std::vector<std::string> Fields(const std::vector<FieldViolation>& violations) {
  std::vector<std::string> out;
  for (const auto& v : violations) out.push_back(v.field);
  return out;
}

ApiError ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(grpc::StatusCode::OK, "", "");
}

TEST(FreeMailTest, CoversTheDefaultProvidersUnderAnySuffix) {
  FreeMailDomains free_mail;
  for (const char* email :
       {"a@gmail.com",   "a@googlemail.com", "a@outlook.com",    "a@hotmail.co.uk", "a@live.de",
        "a@msn.com",     "a@yahoo.co.jp",    "a@ymail.com",      "a@aol.com",       "a@icloud.com",
        "a@me.com",      "a@proton.me",      "a@protonmail.com", "a@gmx.de",        "a@gmx.net",
        "a@mail.ru",     "a@yandex.ru",      "a@qq.com",         "a@163.com",       "A@GMAIL.COM",
        "a@eu.yahoo.com"}) {
    EXPECT_TRUE(free_mail.IsFreeMail(email)) << email;
  }
  for (const char* email : {"a@example.de", "a@gmailer.com", "a@corp-outlook.com",
                            "a@yahoo-partners.example.com", "a@mail.example.ru", "a@samsung.com"}) {
    EXPECT_FALSE(free_mail.IsFreeMail(email)) << email;
  }
}

TEST(FreeMailTest, IsConfigurable) {
  FreeMailDomains only_example({"example", "web.de"});
  EXPECT_TRUE(only_example.IsFreeMail("x@example.com"));
  EXPECT_TRUE(only_example.IsFreeMail("x@web.de"));
  EXPECT_FALSE(only_example.IsFreeMail("x@gmail.com"));
}

TEST(ValidateTest, AValidCustomerPasses) {
  auto c = ValidCustomer();
  Normalize(c);
  EXPECT_TRUE(ValidateCustomerFields(c, "customer.").empty());
  EXPECT_NO_THROW(ValidateNewCustomer(c, FreeMailDomains()));
  EXPECT_EQ(c.contact().phone(), "+49301234567");
}

TEST(ValidateTest, NormalizesWhitespaceCaseAndPhoneSeparators) {
  auto c = ValidCustomer();
  c.mutable_company()->set_display_name("  Example GmbH ");
  c.mutable_company()->set_country_code("de");
  c.mutable_contact()->set_work_email(" Erika@Example.DE ");
  c.mutable_contact()->set_phone("+1 (415) 555-0100");
  Normalize(c);
  EXPECT_EQ(c.company().display_name(), "Example GmbH");
  EXPECT_EQ(c.company().country_code(), "DE");
  EXPECT_EQ(c.contact().work_email(), "erika@example.de");
  EXPECT_EQ(c.contact().phone(), "+14155550100");
  // Tabs anywhere (found by the customer_validation fuzzer: a tab after "(" survived the trim,
  // so normalising twice gave another answer than once).
  c.mutable_contact()->set_phone("\t(\t+1 415) 555\t0100 ");
  Normalize(c);
  EXPECT_EQ(c.contact().phone(), "+14155550100");
}

// Every field's malformed forms, each naming its field.
struct BadCase {
  const char* field;
  std::function<void(v1::Customer&)> spoil;
};

TEST(ValidateTest, EveryMalformedFieldIsNamed) {
  const std::string long201(201, 'x');
  const std::vector<BadCase> cases = {
      {"customer.company.display_name",
       [](v1::Customer& c) { c.mutable_company()->clear_display_name(); }},
      {"customer.company.display_name",
       [&](v1::Customer& c) { c.mutable_company()->set_display_name(long201); }},
      {"customer.company.display_name",
       [](v1::Customer& c) {
         c.mutable_company()->set_display_name(
             "a\x01"
             "b");
       }},
      // Not UTF-8 (found by the customer_validation fuzzer; gRPC's parser refuses it too, but
      // the rules must not rely on the transport).
      {"customer.contact.first_name",
       [](v1::Customer& c) { c.mutable_contact()->set_first_name("Matti\xef"); }},
      {"customer.company.address.city",
       [](v1::Customer& c) {
         c.mutable_company()->mutable_address()->set_city(
             "\xc0\xaf"
             "etc");
       }},
      {"customer.company.size", [](v1::Customer& c) { c.mutable_company()->clear_size(); }},
      {"customer.company.size",
       [](v1::Customer& c) { c.mutable_company()->set_size(static_cast<v1::CompanySize>(99)); }},
      {"customer.company.industries",
       [](v1::Customer& c) { c.mutable_company()->clear_industries(); }},
      {"customer.company.industries",
       [](v1::Customer& c) { c.mutable_company()->add_industries(v1::RETAIL); }},
      {"customer.company.industries",
       [](v1::Customer& c) { c.mutable_company()->add_industries(v1::INDUSTRY_UNSPECIFIED); }},
      {"customer.company.country_code",
       [](v1::Customer& c) { c.mutable_company()->clear_country_code(); }},
      {"customer.company.country_code",
       [](v1::Customer& c) { c.mutable_company()->set_country_code("XX"); }},
      {"customer.company.country_code",
       [](v1::Customer& c) { c.mutable_company()->set_country_code("DEU"); }},
      {"customer.company.address.address_line1",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_address_line1(); }},
      {"customer.company.address.address_line2",
       [&](v1::Customer& c) {
         c.mutable_company()->mutable_address()->set_address_line2(long201);
       }},
      {"customer.company.address.city",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_city(); }},
      {"customer.company.address.state",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_state(); }},
      {"customer.company.address.zip_code",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_zip_code(); }},
      {"customer.company.address.zip_code",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->set_zip_code("1"); }},
      {"customer.company.address.zip_code",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->set_zip_code("10115;DROP"); }},
      {"customer.company.website_uri",
       [](v1::Customer& c) { c.mutable_company()->set_website_uri("example.de"); }},
      {"customer.company.website_uri",
       [](v1::Customer& c) { c.mutable_company()->set_website_uri("javascript:alert(1)"); }},
      {"customer.company.website_uri",
       [](v1::Customer& c) { c.mutable_company()->set_website_uri("https://user:pw@evil.com"); }},
      {"customer.company.website_uri",
       [](v1::Customer& c) { c.mutable_company()->set_website_uri("https://exa mple.de"); }},
      {"customer.contact.first_name",
       [](v1::Customer& c) { c.mutable_contact()->clear_first_name(); }},
      {"customer.contact.last_name",
       [](v1::Customer& c) { c.mutable_contact()->set_last_name("   "); }},
      {"customer.contact.work_email",
       [](v1::Customer& c) { c.mutable_contact()->clear_work_email(); }},
      {"customer.contact.work_email",
       [](v1::Customer& c) { c.mutable_contact()->set_work_email("erika"); }},
      {"customer.contact.work_email",
       [](v1::Customer& c) { c.mutable_contact()->set_work_email("erika@@example.de"); }},
      {"customer.contact.work_email",
       [](v1::Customer& c) { c.mutable_contact()->set_work_email("erika@localhost"); }},
      {"customer.contact.work_email",
       [](v1::Customer& c) { c.mutable_contact()->set_work_email(".erika@example.de"); }},
      {"customer.contact.phone", [](v1::Customer& c) { c.mutable_contact()->clear_phone(); }},
      {"customer.contact.phone",
       [](v1::Customer& c) { c.mutable_contact()->set_phone("030 1234567"); }},
      {"customer.contact.phone",
       [](v1::Customer& c) { c.mutable_contact()->set_phone("+49 30 CALL-ME"); }},
      {"customer.contact.phone", [](v1::Customer& c) { c.mutable_contact()->set_phone("+12345"); }},
      {"customer.contact.job_title",
       [&](v1::Customer& c) { c.mutable_contact()->set_job_title(long201); }},
      {"customer.management_type", [](v1::Customer& c) { c.clear_management_type(); }},
  };
  for (const auto& bad : cases) {
    auto c = ValidCustomer();
    bad.spoil(c);
    Normalize(c);
    ApiError error = ErrorOf([&] { ValidateNewCustomer(c, FreeMailDomains()); });
    EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.field;
    EXPECT_EQ(Fields(error.field_violations()), std::vector<std::string>{bad.field}) << bad.field;
  }
}

TEST(ValidateTest, ReportsEveryViolationAtOnce) {
  v1::Customer empty;
  Normalize(empty);
  ApiError error = ErrorOf([&] { ValidateNewCustomer(empty, FreeMailDomains()); });
  EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_GE(error.field_violations().size(), 12u);
}

// They reach email subjects and CSV files: NEL, line separators and bidi overrides are refused
// like C0 controls, each named.
TEST(ValidateTest, NamesRefuseInvisibleControlsSeparatorsAndBidiOverrides) {
  for (const std::string& bad : std::vector<std::string>{"Acme\xc2\x85GmbH", "Acme\xe2\x80\xa8GmbH",
                                                         "Acme\xe2\x80\xaeHbmG"}) {
    auto c = ValidCustomer(bad, "it@acme.example");
    Normalize(c);
    ApiError error = ErrorOf([&] { ValidateNewCustomer(c, FreeMailDomains()); });
    EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(Fields(error.field_violations()),
              std::vector<std::string>{"customer.company.display_name"})
        << bad;
  }
}

TEST(ValidateTest, JointlyManagedNeedsAWorkEmail) {
  auto c = ValidCustomer("Acme", "boss@gmail.com");
  c.set_management_type(v1::JOINTLY_MANAGED);
  Normalize(c);
  ApiError error = ErrorOf([&] { ValidateNewCustomer(c, FreeMailDomains()); });
  EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(error.reason(), "FREE_MAIL_DOMAIN_NOT_ALLOWED");
  EXPECT_EQ(Fields(error.field_violations()),
            std::vector<std::string>{"customer.contact.work_email"});
  c.set_management_type(v1::FULLY_MANAGED);  // a fully managed customer may use free mail
  EXPECT_NO_THROW(ValidateNewCustomer(c, FreeMailDomains()));
}

v1::Customer Stored(v1::ManagementType type, v1::State state = v1::ACTIVE) {
  auto c = ValidCustomer();
  Normalize(c);
  c.set_name("msps/acme/customers/0123456789");
  c.set_management_type(type);
  c.set_state(state);
  return c;
}

TEST(UpdateTest, FullyManagedMayChangeCompanyAndContactNameAndEmail) {
  auto current = Stored(v1::FULLY_MANAGED);
  v1::Customer patch;
  patch.mutable_company()->set_display_name("Renamed AG");
  patch.mutable_company()->mutable_address()->set_city("Hamburg");
  patch.mutable_contact()->set_first_name("Max");
  patch.mutable_contact()->set_work_email("MAX@example.de");
  patch.mutable_contact()->set_phone("+4900000000");  // not in the mask: ignored
  auto plan = PlanUpdate(
      current, patch,
      {"company.display_name", "company.address.city", "contact.first_name", "contact.work_email"});
  EXPECT_EQ(plan.updated.company().display_name(), "Renamed AG");
  EXPECT_EQ(plan.updated.company().address().city(), "Hamburg");
  EXPECT_EQ(plan.updated.contact().work_email(), "max@example.de");
  EXPECT_EQ(plan.updated.contact().phone(), current.contact().phone());
  EXPECT_EQ(plan.updated.contact().last_name(), current.contact().last_name());
  EXPECT_EQ(plan.changed_fields.size(), 4u);
}

TEST(UpdateTest, ClearingARequiredFieldIsInvalid) {
  auto current = Stored(v1::FULLY_MANAGED);
  v1::Customer patch;
  ApiError error = ErrorOf([&] { PlanUpdate(current, patch, {"contact.last_name"}); });
  EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Fields(error.field_violations()),
            std::vector<std::string>{"customer.contact.last_name"});
}

TEST(UpdateTest, ChangedFieldsListOnlyRealChanges) {
  auto current = Stored(v1::FULLY_MANAGED);
  v1::Customer patch = current;
  patch.mutable_company()->set_display_name("Other");
  auto plan = PlanUpdate(current, patch, {"company"});
  EXPECT_EQ(plan.changed_fields, std::vector<std::string>{"company.display_name"});
  auto same = PlanUpdate(current, current, {"company.address"});
  EXPECT_TRUE(same.changed_fields.empty());
}

TEST(UpdateTest, JointlyManagedContactBelongsToTheCustomer) {
  auto current = Stored(v1::JOINTLY_MANAGED);
  v1::Customer patch;
  patch.mutable_contact()->set_first_name("Max");
  ApiError error = ErrorOf([&] { PlanUpdate(current, patch, {"contact.first_name"}); });
  EXPECT_EQ(error.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(error.reason(), "CONTACT_MANAGED_BY_CUSTOMER");
  patch.mutable_company()->set_display_name("Still allowed");
  EXPECT_EQ(PlanUpdate(current, patch, {"company.display_name"}).updated.company().display_name(),
            "Still allowed");
}

TEST(UpdateTest, MaskRules) {
  auto current = Stored(v1::FULLY_MANAGED);
  for (const char* path : {"contact.phone", "contact.job_title", "contact", "management_type",
                           "state", "name", "create_time", "no.such.field"}) {
    ApiError error = ErrorOf([&] { PlanUpdate(current, current, {path}); });
    EXPECT_EQ(error.code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_EQ(error.reason(), "INVALID_UPDATE_MASK") << path;
    EXPECT_EQ(Fields(error.field_violations()), std::vector<std::string>{"update_mask"}) << path;
  }
  EXPECT_EQ(ErrorOf([&] { PlanUpdate(current, current, {}); }).reason(), "UPDATE_MASK_REQUIRED");
}

TEST(UpdateTest, NoEditsWhileDelinkRequestedOrNotActive) {
  auto delinking = Stored(v1::JOINTLY_MANAGED, v1::DELINK_REQUESTED);
  ApiError error = ErrorOf([&] { PlanUpdate(delinking, delinking, {"company.display_name"}); });
  EXPECT_EQ(error.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(error.reason(), "CUSTOMER_DELINK_REQUESTED");
  EXPECT_EQ(ErrorOf([&] { CheckUpgrade(delinking, FreeMailDomains()); }).reason(),
            "CUSTOMER_DELINK_REQUESTED");
  for (auto state : {v1::PENDING, v1::REJECTED, v1::CANCELED, v1::EXPIRED, v1::DELINKED}) {
    auto c = Stored(v1::FULLY_MANAGED, state);
    EXPECT_EQ(ErrorOf([&] { PlanUpdate(c, c, {"company.display_name"}); }).reason(),
              "CUSTOMER_NOT_ACTIVE");
  }
}

TEST(UpgradeTest, FullyToJointlyOnlyAndNeverForFreeMail) {
  EXPECT_NO_THROW(CheckUpgrade(Stored(v1::FULLY_MANAGED), FreeMailDomains()));
  EXPECT_EQ(ErrorOf([&] { CheckUpgrade(Stored(v1::JOINTLY_MANAGED), FreeMailDomains()); }).reason(),
            "ALREADY_JOINTLY_MANAGED");
  auto free_mail = Stored(v1::FULLY_MANAGED);
  free_mail.mutable_contact()->set_work_email("boss@outlook.com");
  ApiError error = ErrorOf([&] { CheckUpgrade(free_mail, FreeMailDomains()); });
  EXPECT_EQ(error.code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(error.reason(), "FREE_MAIL_DOMAIN_NOT_ALLOWED");
}

TEST(UpgradeTest, AnUpgradedCustomersSuperAdminGetsFullPortalAccess) {
  auto fully = Stored(v1::FULLY_MANAGED);
  fully.set_super_admin_portal_access(false);
  const v1::Customer upgraded = PlanUpgrade(fully, FreeMailDomains());
  EXPECT_EQ(upgraded.management_type(), v1::JOINTLY_MANAGED);
  EXPECT_TRUE(upgraded.super_admin_portal_access());
  EXPECT_EQ(ErrorOf([&] { PlanUpgrade(upgraded, FreeMailDomains()); }).reason(),
            "ALREADY_JOINTLY_MANAGED");
}

TEST(IdsTest, CustomerIdsAreRandomReadableAndValid) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = NewCustomerId();
    EXPECT_TRUE(IsValidCustomerId(id)) << id;
    EXPECT_EQ(id.find_first_of("ilou"), std::string::npos) << id;  // no look-alike letters
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_FALSE(IsValidCustomerId("ABCDEFGHJK"));
  EXPECT_FALSE(IsValidCustomerId("short"));
  EXPECT_TRUE(idempotency::IsValidRequestId("0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_FALSE(idempotency::IsValidRequestId(""));
  EXPECT_FALSE(idempotency::IsValidRequestId(std::string(65, 'a')));
  EXPECT_FALSE(idempotency::IsValidRequestId("a b"));
}

}  // namespace
}  // namespace msp::customer
