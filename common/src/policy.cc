#include "msp/common/policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "msp/common/errors.h"
#include "msp/common/strings.h"

namespace msp::auth {

Grant MspAdmin() { return Grant{PrincipalKind::kMspAdmin, "", TenantScope::kOwn, {}}; }

Grant CustomerAdmin() { return Grant{PrincipalKind::kCustomerAdmin, "", TenantScope::kOwn, {}}; }

Grant Service(std::string_view identity, TenantScope tenants) {
  return Grant{PrincipalKind::kService, std::string(identity), tenants, {}};
}

Grant Grant::ActingFor(std::initializer_list<PrincipalKind> kinds) const {
  Grant out = *this;
  out.acting_for.assign(kinds);
  return out;
}

std::string Grant::Describe() const {
  if (kind != PrincipalKind::kService) return std::string(PrincipalKindName(kind));
  std::string out = absl::StrCat("service:", service);
  std::vector<std::string> notes;
  if (tenants == TenantScope::kAll) notes.push_back("every MSP, msps/-");
  if (!acting_for.empty()) {
    std::vector<std::string> kinds;
    for (auto k : acting_for) kinds.emplace_back(PrincipalKindName(k));
    notes.push_back(absl::StrCat("for ", absl::StrJoin(kinds, ", ")));
  }
  if (!notes.empty()) absl::StrAppend(&out, " (", absl::StrJoin(notes, "; "), ")");
  return out;
}

MethodPolicy& MethodPolicy::Allow(std::string full_method, std::vector<Grant> grants) {
  allowed_[std::move(full_method)] = std::move(grants);
  return *this;
}

MethodPolicy& MethodPolicy::Include(const MethodPolicy& other) {
  for (const auto& [method, grants] : other.allowed_) allowed_[method] = grants;
  return *this;
}

bool MethodPolicy::Covers(std::string_view full_method) const {
  return allowed_.find(full_method) != allowed_.end();
}

TenantScope MethodPolicy::Check(std::string_view full_method, const Principal& principal) const {
  auto it = allowed_.find(full_method);
  if (it != allowed_.end()) {
    for (const Grant& grant : it->second) {
      if (grant.kind != principal.kind) continue;
      if (grant.kind == PrincipalKind::kService && grant.service != principal.subject) continue;
      if (principal.on_behalf_of &&
          std::find(grant.acting_for.begin(), grant.acting_for.end(),
                    principal.on_behalf_of->kind) == grant.acting_for.end()) {
        throw ApiError::PermissionDenied(
            "DELEGATION_NOT_ALLOWED",
            absl::StrCat(principal.Actor(), ": ", principal.subject, " may not act for a ",
                         AbslView(PrincipalKindName(principal.on_behalf_of->kind)), " on ",
                         AbslView(full_method)));
      }
      return grant.tenants;
    }
  }
  const std::string who = principal.kind == PrincipalKind::kService
                              ? absl::StrCat("service:", principal.subject)
                              : std::string(PrincipalKindName(principal.kind));
  throw ApiError::PermissionDenied("PRINCIPAL_NOT_ALLOWED",
                                   absl::StrCat(who, " may not call ", AbslView(full_method)));
}

}  // namespace msp::auth
