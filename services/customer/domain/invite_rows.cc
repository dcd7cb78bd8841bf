#include "domain/invite_rows.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/invitation_request.h"

namespace msp::customer {
namespace {

constexpr size_t kCustomerId = 0;
constexpr size_t kManagementType = 1;
constexpr size_t kServices = 2;
constexpr size_t kTenantPrefix = 3;

}  // namespace

const std::vector<ImportColumn>& InviteColumns() {
  static const auto* columns = new std::vector<ImportColumn>{
      {"customer_id", "customer_id", true},
      {"management_type", "management_type", true},
      {"services", "services", true},
      {"knox_manage_tenant_prefix", "knox_manage_tenant_prefix", false},
  };
  return *columns;
}

std::string InviteColumnOf(const std::string& field) { return ColumnOf(InviteColumns(), field); }

InviteRow ParseInviteRow(const ImportHeader& header, const CsvRecord& record, int number) {
  InviteRow row;
  row.row = number;
  row.line = record.line;
  if (record.fields.size() != header.by_position.size()) {
    row.problems.push_back({"", absl::StrCat(record.fields.size(), " fields where the header has ",
                                             header.by_position.size())});
  }
  const auto& columns = InviteColumns();
  for (size_t i = 0; i < header.by_position.size() && i < record.fields.size(); ++i) {
    const auto column = static_cast<size_t>(header.by_position[i]);
    const std::string cell(absl::StripAsciiWhitespace(record.fields[i]));
    std::string problem;
    switch (column) {
      case kCustomerId:
        row.request.set_customer_id(cell);
        break;
      case kManagementType:
        row.request.set_management_type(ParseManagementTypeCell(cell, &problem));
        break;
      case kServices:
        for (auto service : ParseServicesCell(cell, &problem)) row.request.add_services(service);
        break;
      case kTenantPrefix:
        row.request.set_knox_manage_tenant_prefix(cell);
        break;
      default:
        break;
    }
    if (!problem.empty()) row.problems.push_back({std::string(columns[column].name), problem});
  }
  return row;
}

void InviteRowChecker::Check(InviteRow& row) {
  bool valid = row.problems.empty();
  try {
    ValidateInvitationTerms(row.request);
  } catch (const ApiError& e) {
    AddRefusal(e, InviteColumns(), row.problems);
    valid = false;
  }
  if (!valid) return;  // duplicates are judged between valid rows only
  const auto [first, inserted] = first_row_of_.emplace(row.request.customer_id(), row.row);
  if (!inserted) {
    row.problems.push_back(
        {"customer_id", absl::StrCat("the same customer as row ", first->second)});
  }
}

std::string CheckInviteTarget(const onboarding::v1::CreateInvitationRequest& request,
                              const std::string& msp_id, const InviteTarget* target,
                              const FreeMailDomains& free_mail,
                              std::vector<FieldViolation>& problems) {
  if (target == nullptr) {
    problems.push_back({"customer_id", "no Samsung Knox customer has this id"});
    return "";
  }
  // The rules the invitation's own transition applies (TransitionCustomer INVITE).
  v1::TransitionCustomerRequest transition;
  transition.set_customer_id(request.customer_id());
  transition.set_msp_id(msp_id);
  transition.set_transition(v1::INVITE);
  transition.set_link_id("dry-run");
  transition.set_management_type(request.management_type());
  try {
    PlanLinkTransition(target->link, target->customer.name(), transition);
  } catch (const ApiError& e) {
    problems.push_back({"customer_id", e.what()});
    return "";
  }
  try {
    CheckInvitedManagement(target->customer, request.management_type(), free_mail);
  } catch (const ApiError& e) {
    problems.push_back({"management_type", e.what()});
    return "";
  }
  const auto& services = request.services();
  const bool with_manage =
      std::find(services.begin(), services.end(), assignment::v1::KNOX_MANAGE) != services.end();
  // Without a prefix the tenant is decided when the customer accepts; a tenant the account has
  // is its own whatever the prefix (the call itself says whether the prefix names it).
  if (!with_manage || request.knox_manage_tenant_prefix().empty() || target->has_own_knox_manage) {
    return "";
  }
  return knox::TenantId(request.knox_manage_tenant_prefix(),
                        knox::EmailDomain(target->customer.contact().work_email()));
}

}  // namespace msp::customer
