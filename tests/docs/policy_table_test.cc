// docs/architecture.md's "Who may call what" table is the four services' policies as they are
// built: this test renders them and compares. A changed grant without its doc line fails here,
// with the table to paste.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "assignment_service.h"
#include "bulk_job_service.h"
#include "customer_service.h"
#include "msp/common/identities.h"
#include "onboarding_service.h"
#include "reporting_service.h"

namespace msp {
namespace {

std::string Cell(const std::vector<auth::Grant>& grants, auth::PrincipalKind kind) {
  std::vector<std::string> parts;
  for (const auto& grant : grants) {
    if (grant.kind != kind) continue;
    if (kind == auth::PrincipalKind::kMspAdmin) parts.push_back("own MSP");
    if (kind == auth::PrincipalKind::kCustomerAdmin) parts.push_back("own customer");
    if (kind == auth::PrincipalKind::kService) {
      // "service:customer (for msp-admin)" -> "`service:customer` (for msp-admin)"
      const std::string described = grant.Describe();
      const size_t space = std::min(described.find(' '), described.size());
      parts.push_back(absl::StrCat("`", described.substr(0, space), "`", described.substr(space)));
    }
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, "<br>");
}

std::string RenderTable() {
  std::string out =
      "| method | MSP admin | customer admin | services (identity, tenants, relays for) |\n"
      "| --- | --- | --- | --- |\n";
  for (const auto& policy :
       {customer::CustomerServiceImpl::Policy(), customer::BulkJobServiceImpl::Policy(),
        assignment::ServiceAssignmentImpl::Policy(), onboarding::OnboardingServiceImpl::Policy(),
        reporting::ReportingServiceImpl::Policy()}) {
    for (const auto& [method, grants] : policy.grants()) {
      // "/msp.customer.v1.CustomerService/GetCustomer" -> "CustomerService/GetCustomer"
      const std::string shown = method.substr(method.rfind('.') + 1);
      absl::StrAppend(&out, "| ", shown, " | ", Cell(grants, auth::PrincipalKind::kMspAdmin), " | ",
                      Cell(grants, auth::PrincipalKind::kCustomerAdmin), " | ",
                      Cell(grants, auth::PrincipalKind::kService), " |\n");
    }
  }
  return out;
}

std::string DocumentedTable() {
  std::ifstream in(std::string(MSP_SOURCE_DIR) + "/docs/architecture.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::string begin = "<!-- policy-table:begin -->\n";
  const std::string end = "<!-- policy-table:end -->";
  const size_t b = doc.find(begin);
  const size_t e = doc.find(end);
  if (b == std::string::npos || e == std::string::npos) return "";
  return doc.substr(b + begin.size(), e - b - begin.size());
}

// An identity nobody grants anything is a caller the policies forgot (or one to remove).
TEST(PolicyTableDoc, EveryIdentityHasAGrant) {
  std::set<std::string> granted;
  for (const auto& policy :
       {customer::CustomerServiceImpl::Policy(), customer::BulkJobServiceImpl::Policy(),
        assignment::ServiceAssignmentImpl::Policy(), onboarding::OnboardingServiceImpl::Policy(),
        reporting::ReportingServiceImpl::Policy()}) {
    for (const auto& [method, grants] : policy.grants()) {
      for (const auto& grant : grants) granted.insert(grant.service);
    }
  }
  for (const auto& identity : identity::AllIdentities()) {
    EXPECT_TRUE(granted.count(identity)) << identity << " has no grant in any policy";
  }
}

TEST(PolicyTableDoc, ArchitectureMdShowsThePoliciesAsBuilt) {
  const std::string rendered = RenderTable();
  EXPECT_EQ(DocumentedTable(), rendered)
      << "docs/architecture.md's policy table differs from the services' policies; it should "
         "read, between the policy-table markers:\n"
      << rendered;
}

}  // namespace
}  // namespace msp
