#include "msp/common/invitation_request.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/tenancy.h"

namespace msp {

std::vector<knox::KnoxService> ValidateInvitationTerms(
    const onboarding::v1::CreateInvitationRequest& request) {
  std::vector<FieldViolation> violations;
  if (!IsValidCustomerId(request.customer_id())) {
    violations.push_back({"customer_id", "a customer id: 10 characters"});
  }
  if (request.management_type() != customer::v1::FULLY_MANAGED &&
      request.management_type() != customer::v1::JOINTLY_MANAGED) {
    violations.push_back({"management_type", "FULLY_MANAGED or JOINTLY_MANAGED"});
  }
  std::vector<knox::KnoxService> services;
  try {
    services = knox::ParseServiceList("services", request.services());
  } catch (const ApiError& e) {
    for (const auto& v : e.field_violations()) violations.push_back(v);
  }
  for (int i = 0; i < request.services_size(); ++i) {
    if (request.services(i) == assignment::v1::KNOX_GUARD) {
      violations.push_back(
          {absl::StrCat("services[", i, "]"), "Knox Guard is not offered to existing customers"});
    }
  }
  if (request.services().empty()) violations.push_back({"services", "at least one service"});
  const bool with_manage =
      std::find(services.begin(), services.end(), assignment::v1::KNOX_MANAGE) != services.end();
  if (!request.knox_manage_tenant_prefix().empty() && !with_manage) {
    violations.push_back(
        {"knox_manage_tenant_prefix", "only when KNOX_MANAGE is among the services"});
  } else if (auto problem = knox::TenantPrefixProblem(request.knox_manage_tenant_prefix())) {
    violations.push_back({"knox_manage_tenant_prefix", *problem});
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
  return services;
}

}  // namespace msp
