#include "msp/common/knox_services.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/strings.h"

namespace msp::knox {
namespace {

struct ServiceInfo {
  KnoxService service;
  std::string_view id;
  std::string_view display_name;
};

constexpr std::array<ServiceInfo, 7> kServices = {{
    {assignment::v1::KNOX_MOBILE_ENROLLMENT, "knox-mobile-enrollment", "Knox Mobile Enrollment"},
    {assignment::v1::KNOX_MANAGE, "knox-manage", "Knox Manage"},
    {assignment::v1::KNOX_EFOTA, "knox-efota", "Knox E-FOTA"},
    {assignment::v1::KNOX_ASSET_INTELLIGENCE, "knox-asset-intelligence", "Knox Asset Intelligence"},
    {assignment::v1::KNOX_CONFIGURE, "knox-configure", "Knox Configure"},
    {assignment::v1::KNOX_GUARD, "knox-guard", "Knox Guard"},
    {assignment::v1::SAMSUNG_CARE_PLUS_FOR_BUSINESS, "samsung-care-plus-for-business",
     "Samsung Care+ for Business"},
}};

const ServiceInfo* Find(KnoxService service) {
  for (const auto& info : kServices) {
    if (info.service == service) return &info;
  }
  return nullptr;
}

bool IsSeparator(char c) { return c == '.' || c == '-' || c == '_'; }

}  // namespace

const std::vector<KnoxService>& AllServices() {
  static const std::vector<KnoxService> kAll = [] {
    std::vector<KnoxService> all;
    for (const auto& info : kServices) all.push_back(info.service);
    return all;
  }();
  return kAll;
}

bool IsKnownService(int value) { return Find(static_cast<KnoxService>(value)) != nullptr; }

std::string_view ServiceId(KnoxService service) {
  const ServiceInfo* info = Find(service);
  return info ? info->id : std::string_view("unknown");
}

std::optional<KnoxService> ServiceFromId(std::string_view id) {
  for (const auto& info : kServices) {
    if (info.id == id) return info.service;
  }
  return std::nullopt;
}

std::string_view DisplayName(KnoxService service) {
  const ServiceInfo* info = Find(service);
  return info ? info->display_name : std::string_view("Unknown service");
}

std::vector<KnoxService> ParseServiceList(const std::string& field,
                                          const google::protobuf::RepeatedField<int>& services) {
  std::vector<KnoxService> out;
  std::vector<FieldViolation> violations;
  for (int i = 0; i < services.size(); ++i) {
    const auto service = static_cast<KnoxService>(services.Get(i));
    if (!IsKnownService(service)) {
      violations.push_back({absl::StrCat(field, "[", i, "]"),
                            "must be one of KNOX_MOBILE_ENROLLMENT, KNOX_MANAGE, KNOX_EFOTA, "
                            "KNOX_ASSET_INTELLIGENCE, KNOX_CONFIGURE, KNOX_GUARD, "
                            "SAMSUNG_CARE_PLUS_FOR_BUSINESS"});
      continue;
    }
    if (std::find(out.begin(), out.end(), service) == out.end()) out.push_back(service);
  }
  if (!violations.empty()) throw ApiError::InvalidArgument(std::move(violations));
  return out;
}

std::optional<std::string> TenantPrefixProblem(std::string_view prefix) {
  if (prefix.empty()) return std::nullopt;
  if (prefix.size() > kMaxTenantPrefixLength) {
    return absl::StrCat("at most ", kMaxTenantPrefixLength, " characters");
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    const char c = prefix[i];
    if (IsSeparator(c)) {
      if (i == 0 || i + 1 == prefix.size()) {
        return std::string("'.', '-' and '_' separate: not first or last");
      }
      if (IsSeparator(prefix[i - 1])) return std::string("two separators in a row");
    } else if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return std::string("letters and digits, with '.', '-' or '_' between them");
    }
  }
  return std::nullopt;
}

std::string EmailDomain(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at + 1 >= email.size()) return "";
  return absl::AsciiStrToLower(AbslView(email.substr(at + 1)));
}

std::string TenantId(std::string_view prefix, std::string_view domain) {
  std::string id =
      prefix.empty() ? std::string(domain) : absl::StrCat(AbslView(prefix), ".", AbslView(domain));
  absl::AsciiStrToLower(&id);
  return id;
}

std::vector<std::string> TenantIdCandidates(std::string_view prefix, std::string_view domain,
                                            std::string_view company_hint) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (p.empty() || TenantPrefixProblem(p)) return;
    std::string id = TenantId(p, domain);
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(std::move(id));
  };
  // The company's name as a prefix: letters and digits only, cut to fit.
  std::string company;
  for (char c : company_hint) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)))
      company.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  company = company.substr(0, kMaxTenantPrefixLength);
  std::string base = prefix.empty() ? company : std::string(prefix);
  if (base.empty()) base = "tenant";
  add(base);
  for (int n = 1; n <= 9; ++n) {
    const std::string suffix = absl::StrCat("-", n);
    add(absl::StrCat(base.substr(0, kMaxTenantPrefixLength - suffix.size()), suffix));
  }
  if (!company.empty() && company != base) add(company);
  return out;
}

void CheckTenantKept(const std::string& existing_tenant_id, std::string_view prefix,
                     const std::string& requested_tenant_id, const std::string& customer_name) {
  if (existing_tenant_id.empty() || prefix.empty() || requested_tenant_id == existing_tenant_id) {
    return;
  }
  throw ApiError::FailedPrecondition(
      "KNOX_MANAGE_TENANT_EXISTS",
      absl::StrCat("the customer's account has the Knox Manage tenant ", existing_tenant_id,
                   "; it stays with the account: leave knox_manage_tenant_prefix out"),
      customer_name)
      .WithMetadata("tenant_id", existing_tenant_id);
}

}  // namespace msp::knox
