#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "msp/common/auth.h"

// Who may call which method, and for which tenants: one table per service, deny by default.
namespace msp::auth {

// One entry of a method's allow-list.
struct Grant {
  PrincipalKind kind = PrincipalKind::kMspAdmin;
  // kService: the calling service's identity (identities.h). Empty for people.
  std::string service;
  TenantScope tenants = TenantScope::kOwn;
  // kService: the principals the service may relay this method for (a delegation in its
  // token, see OnBehalfOf). A service token that names someone else is refused otherwise.
  std::vector<PrincipalKind> acting_for;

  // "msp-admin", "customer-admin", "service:onboarding-invitation (any MSP; for customer-admin)"
  std::string Describe() const;
  Grant ActingFor(std::initializer_list<PrincipalKind> kinds) const;
};

// An MSP admin, for its own MSP.
Grant MspAdmin();
// A customer's admin, for its own customer.
Grant CustomerAdmin();
// A service, for whichever MSP the request names (kNamed) or for all at once (kAll: `msps/-`).
Grant Service(std::string_view identity, TenantScope tenants = TenantScope::kNamed);

class MethodPolicy {
 public:
  MethodPolicy& Allow(std::string full_method, std::vector<Grant> grants);
  // Adds another service's grants (a binary that serves two services has one policy).
  MethodPolicy& Include(const MethodPolicy& other);
  // The tenant scope of the grant that admits the principal. Throws PERMISSION_DENIED when the
  // method has no entry, no grant matches, or a service relays for someone the method does not
  // let it act for.
  TenantScope Check(std::string_view full_method, const Principal& principal) const;
  bool Covers(std::string_view full_method) const;
  const std::map<std::string, std::vector<Grant>, std::less<>>& grants() const { return allowed_; }

 private:
  std::map<std::string, std::vector<Grant>, std::less<>> allowed_;
};

}  // namespace msp::auth
