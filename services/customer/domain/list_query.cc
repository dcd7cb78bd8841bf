#include "list_query.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "msp/common/errors.h"
#include "msp/common/list_filter.h"
#include "msp/common/page_tokens.h"

namespace msp::customer {
namespace {

[[noreturn]] void Bad(const std::string& field, const std::string& description) {
  throw ApiError::InvalidArgument({{field, description}});
}

void ParseFilter(const std::string& filter, ListQuery& query) {
  static const std::vector<FilterField> kFields = {
      EnumFilterField("state", &v1::State_Parse),
      EnumFilterField("management_type", &v1::ManagementType_Parse)};
  for (const auto& [field, values] : ParseEnumFilter(filter, kFields)) {
    auto& target = field == "state" ? query.states : query.management_types;
    target.assign(values.begin(), values.end());
    query.matches_nothing |= values.empty();
  }
}

void ParseOrderBy(const std::string& order_by, ListQuery& query) {
  std::vector<std::string> parts = absl::StrSplit(order_by, ' ', absl::SkipWhitespace());
  if (parts.empty()) return;
  if (parts.size() > 2 || (parts.size() == 2 && parts[1] != "desc" && parts[1] != "asc")) {
    Bad("order_by", "one field, optionally followed by ' desc'");
  }
  const std::string& field = parts[0];
  if (field == "company_name") {
    query.sort_key = SortKey::kCompanyName;
  } else if (field == "create_time") {
    query.sort_key = SortKey::kCreateTime;
  } else if (field == "update_time") {
    query.sort_key = SortKey::kUpdateTime;
  } else if (field == "customer_id") {
    query.sort_key = SortKey::kCustomerId;
  } else {
    Bad("order_by", absl::StrCat("can't order by '", field,
                                 "': use company_name, create_time, update_time or customer_id"));
  }
  query.descending = parts.size() == 2 && parts[1] == "desc";
}

v1::CustomerPageCursor DecodeCursor(const std::string& token) {
  v1::CustomerPageCursor cursor;
  if (!DecodePageToken(token, &cursor)) Bad("page_token", "not a page token of this list");
  return cursor;
}

}  // namespace

int ClampPageSize(int requested) {
  return msp::ClampPageSize(requested, kDefaultPageSize, kMaxPageSize);
}

ListQuery ParseListCustomersRequest(const v1::ListCustomersRequest& request,
                                    const std::string& msp_id) {
  ListQuery query;
  query.page_size = ClampPageSize(request.page_size());
  ParseFilter(request.filter(), query);
  ParseOrderBy(request.order_by(), query);
  query.search = ParseSearch(request.search());
  query.after = DecodeKeysetPageToken<v1::CustomerPageCursor>(request, msp_id);
  return query;
}

std::string EncodeCustomerPageToken(const v1::ListCustomersRequest& request,
                                    const std::string& msp_id, const std::string& sort_value,
                                    const std::string& customer_id) {
  return EncodeKeysetPageToken<v1::CustomerPageCursor>(request, msp_id, sort_value, customer_id);
}

std::string EncodeEventPageToken(const std::string& msp_id, const std::string& parent,
                                 int64_t last_event_id) {
  v1::CustomerPageCursor cursor;
  cursor.set_msp_id(msp_id);
  cursor.set_filter(parent);
  cursor.set_last_event_id(last_event_id);
  return EncodePageToken(cursor);
}

int64_t DecodeEventPageToken(const std::string& token, const std::string& msp_id,
                             const std::string& parent) {
  const auto cursor = DecodeCursor(token);
  if (cursor.msp_id() != msp_id || cursor.filter() != parent || cursor.last_event_id() <= 0) {
    Bad("page_token", "the page token belongs to a different list");
  }
  return cursor.last_event_id();
}

}  // namespace msp::customer
