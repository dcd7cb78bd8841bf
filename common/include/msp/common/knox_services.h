#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/repeated_field.h>

#include "msp/assignment/v1/service_assignment.pb.h"

// The Knox services and the Knox Manage tenant id rules, which the customer, assignment,
// onboarding and reporting services all speak.
namespace msp::knox {

using KnoxService = assignment::v1::KnoxService;

// Every assignable service, in the order the portal lists them.
const std::vector<KnoxService>& AllServices();
bool IsKnownService(int value);
// The service's id in resource names: "knox-manage".
std::string_view ServiceId(KnoxService service);
std::optional<KnoxService> ServiceFromId(std::string_view id);
// For people: "Knox Manage".
std::string_view DisplayName(KnoxService service);

// The services of a request field, each known and listed once (a repeat is dropped: adding a
// service twice is adding it once). Throws INVALID_ARGUMENT naming `field[i]`.
std::vector<KnoxService> ParseServiceList(const std::string& field,
                                          const google::protobuf::RepeatedField<int>& services);

// Knox Manage tenant ids: an optional prefix plus the domain of the contact's work email.
inline constexpr size_t kMaxTenantPrefixLength = 30;
// Why a prefix is not allowed, or nullopt when it is (an empty prefix is allowed). Letters and
// digits, with '.', '-' or '_' as separators: not first, not last, never two in a row.
std::optional<std::string> TenantPrefixProblem(std::string_view prefix);
// The lowercased domain of an email address ("" when it has none).
std::string EmailDomain(std::string_view email);
// "prefix.domain" (lowercased), or the domain alone without a prefix.
std::string TenantId(std::string_view prefix, std::string_view domain);

// A Knox Manage tenant belongs to the customer's account and stays with it from one MSP to the
// next (its devices are enrolled there): a prefix that would make another tenant id for a
// customer that has one is refused. Throws FAILED_PRECONDITION KNOX_MANAGE_TENANT_EXISTS (with
// the tenant id in ErrorInfo metadata) when `existing_tenant_id` is set, a prefix is given and
// the id it makes (`requested_tenant_id`) is not that tenant.
void CheckTenantKept(const std::string& existing_tenant_id, std::string_view prefix,
                     const std::string& requested_tenant_id, const std::string& customer_name);
// Tenant ids to offer when `taken` is: numbered and shortened variants of the prefix, in the
// order to offer them (the caller keeps the free ones).
std::vector<std::string> TenantIdCandidates(std::string_view prefix, std::string_view domain,
                                            std::string_view company_hint);

}  // namespace msp::knox
