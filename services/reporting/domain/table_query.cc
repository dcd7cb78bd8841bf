#include "table_query.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/common/errors.h"
#include "msp/common/list_filter.h"
#include "msp/common/page_tokens.h"
#include "msp/customer/v1/customer.pb.h"

namespace msp::reporting {
namespace {

[[noreturn]] void Bad(const std::string& field, const std::string& description) {
  throw ApiError::InvalidArgument({{field, description}});
}

void ParseFilterInto(const std::string& filter, TableQuery& query) {
  static const std::vector<FilterField> kFields = {
      EnumFilterField("state", &customer::v1::State_Parse),
      EnumFilterField("management_type", &customer::v1::ManagementType_Parse),
      EnumFilterField("service", &assignment::v1::KnoxService_Parse)};
  for (const auto& [field, values] : ParseEnumFilter(filter, kFields)) {
    query.matches_nothing |= values.empty();
    if (field == "state") {
      query.states.assign(values.begin(), values.end());
    } else if (field == "management_type") {
      query.management_types.assign(values.begin(), values.end());
    } else {
      for (int v : values) query.service_mask |= 1 << v;
    }
  }
}

void ParseSearchInto(const std::string& search, TableQuery& query) {
  query.search = ParseSearch(search);
}

void ParseOrderBy(const std::string& order_by, TableQuery& query) {
  std::vector<std::string> parts = absl::StrSplit(order_by, ' ', absl::SkipWhitespace());
  if (parts.empty()) return;
  if (parts.size() > 2 || (parts.size() == 2 && parts[1] != "desc" && parts[1] != "asc")) {
    Bad("order_by", "one column, optionally followed by ' desc'");
  }
  static const std::vector<std::pair<std::string, OrderKey>> kKeys = {
      {"name", OrderKey::kName},
      {"service_status", OrderKey::kServiceStatus},
      {"customer_id", OrderKey::kCustomerId},
      {"management_type", OrderKey::kManagementType},
      {"total_devices", OrderKey::kTotalDevices},
      {"modified", OrderKey::kModified},
      {"created", OrderKey::kCreated},
      {"msp_linked", OrderKey::kMspLinked}};
  auto it =
      std::find_if(kKeys.begin(), kKeys.end(), [&](const auto& k) { return k.first == parts[0]; });
  if (it == kKeys.end()) {
    Bad("order_by", absl::StrCat("can't order by '", parts[0],
                                 "': use name, service_status, customer_id, management_type, "
                                 "total_devices, modified, created or msp_linked"));
  }
  query.order = it->second;
  query.descending = parts.size() == 2 && parts[1] == "desc";
}

}  // namespace

TableQuery ParseTableQuery(const v1::QueryCustomerTableRequest& request,
                           const std::string& msp_id) {
  TableQuery query;
  query.page_size = ClampPageSize(request.page_size(), kDefaultTablePageSize, kMaxTablePageSize);
  ParseOrderBy(request.order_by(), query);
  ParseFilterInto(request.filter(), query);
  ParseSearchInto(request.search(), query);
  query.after = DecodeKeysetPageToken<v1::TablePageCursor>(request, msp_id);
  return query;
}

TableQuery ParseExportQuery(const v1::ExportCustomersCsvRequest& request) {
  TableQuery query;
  ParseFilterInto(request.filter(), query);
  ParseSearchInto(request.search(), query);
  return query;
}

std::string EncodeTablePageToken(const v1::QueryCustomerTableRequest& request,
                                 const std::string& msp_id, const std::string& sort_value,
                                 const std::string& customer_id) {
  return EncodeKeysetPageToken<v1::TablePageCursor>(request, msp_id, sort_value, customer_id);
}

}  // namespace msp::reporting
