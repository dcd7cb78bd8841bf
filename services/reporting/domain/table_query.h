#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "msp/reporting/v1/reporting.pb.h"

// QueryCustomerTable's and ExportCustomersCsv's request, parsed and checked: order_by, the
// filter (state, management_type, service), search, page size and the keyset page token.
// Plain code: no database.
namespace msp::reporting {

enum class OrderKey {
  kName,
  kServiceStatus,
  kCustomerId,
  kManagementType,
  kTotalDevices,
  kModified,
  kCreated,
  kMspLinked
};

struct TableQuery {
  OrderKey order = OrderKey::kName;
  bool descending = false;
  std::vector<int> states;            // empty: any
  std::vector<int> management_types;  // empty: any
  int32_t service_mask = 0;           // 0: any; else a customer with any of these services
  bool matches_nothing = false;       // e.g. `state = ACTIVE AND state = PENDING`
  std::string search;                 // lower case; empty: no search
  int page_size = 50;
  // The last row of the previous page: its sort value in text form and its customer id.
  std::optional<std::pair<std::string, std::string>> after;
};

inline constexpr int kDefaultTablePageSize = 50;
inline constexpr int kMaxTablePageSize = 500;

// Throws ApiError INVALID_ARGUMENT naming the field (order_by, filter, search, page_size,
// page_token).
TableQuery ParseTableQuery(const v1::QueryCustomerTableRequest& request, const std::string& msp_id);
// The export's optional filter and search (the table's grammar).
TableQuery ParseExportQuery(const v1::ExportCustomersCsvRequest& request);

// The token for the page after the row (sort_value, customer_id).
std::string EncodeTablePageToken(const v1::QueryCustomerTableRequest& request,
                                 const std::string& msp_id, const std::string& sort_value,
                                 const std::string& customer_id);

}  // namespace msp::reporting
