#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "msp/customer/v1/customer.pb.h"

// ListCustomers' request, parsed and checked: the filter grammar, order_by, page size and the
// opaque keyset page token. Plain code: no database.
namespace msp::customer {

enum class SortKey { kCompanyName, kCreateTime, kUpdateTime, kCustomerId };

struct ListQuery {
  SortKey sort_key = SortKey::kCompanyName;
  bool descending = false;
  std::vector<int> states;            // empty: any
  std::vector<int> management_types;  // empty: any
  bool matches_nothing = false;       // e.g. `state = ACTIVE AND state = PENDING`
  std::string search;                 // lower case; empty: no search
  int page_size = 50;
  // The last row of the previous page: its sort value in text form and its customer id.
  std::optional<std::pair<std::string, std::string>> after;
};

inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;

// Throws ApiError INVALID_ARGUMENT naming the field (filter, order_by, page_size, page_token,
// search).
ListQuery ParseListCustomersRequest(const v1::ListCustomersRequest& request,
                                    const std::string& msp_id);

// The token for the page after the row (sort_value, customer_id).
std::string EncodeCustomerPageToken(const v1::ListCustomersRequest& request,
                                    const std::string& msp_id, const std::string& sort_value,
                                    const std::string& customer_id);

// Page tokens for an append-only sequence (audit events): the last id seen.
std::string EncodeEventPageToken(const std::string& msp_id, const std::string& parent,
                                 int64_t last_event_id);
// Throws INVALID_ARGUMENT on a token that is not ours, or was made for another parent.
int64_t DecodeEventPageToken(const std::string& token, const std::string& msp_id,
                             const std::string& parent);

int ClampPageSize(int requested);  // throws on negative

}  // namespace msp::customer
