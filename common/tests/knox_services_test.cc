#include "msp/common/knox_services.h"

#include <gtest/gtest.h>

#include <set>

#include "msp/common/errors.h"

namespace msp::knox {
namespace {

TEST(KnoxServices, EveryServiceHasAnIdThatMapsBack) {
  EXPECT_EQ(AllServices().size(), 7u);
  std::set<std::string_view> ids;
  for (auto s : AllServices()) {
    EXPECT_TRUE(IsKnownService(s));
    ids.insert(ServiceId(s));
    EXPECT_EQ(ServiceFromId(ServiceId(s)), s);
    EXPECT_NE(DisplayName(s), "Unknown service");
  }
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_FALSE(IsKnownService(0));
  EXPECT_FALSE(IsKnownService(8));
  EXPECT_EQ(ServiceFromId("KNOX_MANAGE"), std::nullopt);
  EXPECT_EQ(ServiceId(assignment::v1::SAMSUNG_CARE_PLUS_FOR_BUSINESS),
            "samsung-care-plus-for-business");
}

TEST(KnoxServices, ServiceListsDropRepeatsAndNameTheBadEntry) {
  google::protobuf::RepeatedField<int> services;
  services.Add(assignment::v1::KNOX_GUARD);
  services.Add(assignment::v1::KNOX_MANAGE);
  services.Add(assignment::v1::KNOX_GUARD);
  EXPECT_EQ(ParseServiceList("services", services),
            (std::vector<KnoxService>{assignment::v1::KNOX_GUARD, assignment::v1::KNOX_MANAGE}));
  services.Add(0);
  services.Add(42);
  try {
    ParseServiceList("services", services);
    FAIL() << "expected INVALID_ARGUMENT";
  } catch (const ApiError& e) {
    ASSERT_EQ(e.field_violations().size(), 2u);
    EXPECT_EQ(e.field_violations()[0].field, "services[3]");
    EXPECT_EQ(e.field_violations()[1].field, "services[4]");
  }
}

TEST(KnoxManageTenantIds, PrefixRules) {
  for (const std::string& ok :
       std::vector<std::string>{"", "hq", "HQ2", "eu.west", "a-b_c.d", std::string(30, 'x')}) {
    EXPECT_EQ(TenantPrefixProblem(ok), std::nullopt) << ok;
  }
  for (const std::string& bad :
       std::vector<std::string>{".hq", "hq.", "-hq", "hq_", "h..q", "h-_q", "h q", "h/q", "hä",
                                "h@q", std::string(31, 'x')}) {
    EXPECT_NE(TenantPrefixProblem(bad), std::nullopt) << bad;
  }
}

TEST(KnoxManageTenantIds, PrefixPlusEmailDomainLowercased) {
  EXPECT_EQ(EmailDomain("Erika@Example.DE"), "example.de");
  EXPECT_EQ(EmailDomain("no-at-sign"), "");
  EXPECT_EQ(EmailDomain("trailing@"), "");
  EXPECT_EQ(TenantId("", "example.de"), "example.de");
  EXPECT_EQ(TenantId("HQ", "example.de"), "hq.example.de");
}

TEST(KnoxManageTenantIds, CandidatesAreValidDistinctAndDifferFromTheTakenOne) {
  const auto from_prefix = TenantIdCandidates("hq", "example.de", "");
  ASSERT_GE(from_prefix.size(), 5u);
  std::set<std::string> seen(from_prefix.begin(), from_prefix.end());
  EXPECT_EQ(seen.size(), from_prefix.size());
  EXPECT_TRUE(seen.contains("hq-1.example.de"));
  // Without a prefix, the company's name makes one.
  const auto from_company = TenantIdCandidates("", "example.de", "Müller & Söhne GmbH");
  ASSERT_FALSE(from_company.empty());
  EXPECT_EQ(from_company.front(), "mllershnegmbh.example.de");
  // A long prefix is cut so the numbered variants still fit.
  for (const auto& id : TenantIdCandidates(std::string(30, 'a'), "x.de", "")) {
    const auto prefix = id.substr(0, id.size() - std::string(".x.de").size());
    EXPECT_EQ(TenantPrefixProblem(prefix), std::nullopt) << id;
  }
}

}  // namespace
}  // namespace msp::knox
