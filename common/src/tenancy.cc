#include "msp/common/tenancy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/resource_names.h"

namespace msp {
namespace {

bool MayActFor(const auth::Principal& principal, const std::string& msp_id) {
  if (principal.kind == auth::PrincipalKind::kService) {
    if (msp_id == kAnyMsp) return principal.tenants == auth::TenantScope::kAll;
    // A relayed MSP admin's call stays within that admin's MSP.
    return !principal.on_behalf_of ||
           principal.on_behalf_of->kind != auth::PrincipalKind::kMspAdmin ||
           principal.on_behalf_of->msp_id == msp_id;
  }
  return principal.kind == auth::PrincipalKind::kMspAdmin && principal.msp_id == msp_id &&
         msp_id != kAnyMsp;
}

// A relayed customer admin's call is about that admin's own customer only.
bool MayActForCustomer(const auth::Principal& principal, const std::string& customer_id) {
  return !principal.on_behalf_of ||
         principal.on_behalf_of->kind != auth::PrincipalKind::kCustomerAdmin ||
         principal.on_behalf_of->customer_id == customer_id;
}

}  // namespace

std::string CustomerRef::Name() const {
  return absl::StrCat("msps/", msp_id, "/customers/", customer_id);
}

bool IsValidCustomerId(std::string_view id) {
  static constexpr std::string_view kCrockford = "0123456789abcdefghjkmnpqrstvwxyz";
  return id.size() == 10 && std::all_of(id.begin(), id.end(), [](char c) {
           return kCrockford.find(c) != std::string_view::npos;
         });
}

void RequireActingFor(const auth::Principal& principal, const CustomerRef& customer) {
  if (!MayActFor(principal, customer.msp_id) ||
      !MayActForCustomer(principal, customer.customer_id)) {
    throw ApiError::NotFound("customer", customer.Name());
  }
}

std::string RequireMspParent(const std::string& field, const std::string& parent,
                             const auth::Principal& principal) {
  auto vars = ParseResourceName("msps/{msp}", parent);
  if (!vars) throw ApiError::InvalidArgument({{field, "must be msps/{msp}"}});
  if (!MayActFor(principal, (*vars)[0])) throw ApiError::NotFound("msp", parent);
  return (*vars)[0];
}

CustomerRef RequireCustomerName(const std::string& field, const std::string& name,
                                const auth::Principal& principal) {
  auto vars = ParseResourceName("msps/{msp}/customers/{customer}", name);
  if (!vars || !IsValidCustomerId((*vars)[1])) {
    throw ApiError::InvalidArgument({{field, "must be msps/{msp}/customers/{customer}"}});
  }
  if (!MayActFor(principal, (*vars)[0]) || !MayActForCustomer(principal, (*vars)[1])) {
    throw ApiError::NotFound("customer", name);
  }
  return {(*vars)[0], (*vars)[1]};
}

}  // namespace msp
