#include "list_query.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "msp/common/errors.h"

namespace msp::customer {
namespace {

[[noreturn]] void Bad(const std::string& field, const std::string& description) {
  throw ApiError::InvalidArgument({{field, description}});
}

std::vector<std::string> Tokenize(const std::string& filter) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < filter.size()) {
    const char c = filter[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '(' || c == ')' || c == '=') {
      tokens.emplace_back(1, c);
      ++i;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < filter.size() &&
             (std::isalnum(static_cast<unsigned char>(filter[j])) || filter[j] == '_')) {
        ++j;
      }
      tokens.push_back(filter.substr(i, j - i));
      i = j;
    } else {
      Bad("filter", absl::StrCat("unexpected character '", std::string(1, c), "' at ", i));
    }
  }
  return tokens;
}

int EnumValue(const std::string& field, const std::string& value) {
  if (field == "state") {
    v1::State s;
    if (v1::State_Parse(value, &s) && s != v1::STATE_UNSPECIFIED) return s;
    Bad("filter", absl::StrCat("unknown state '", value, "'"));
  }
  if (field == "management_type") {
    v1::ManagementType m;
    if (v1::ManagementType_Parse(value, &m) && m != v1::MANAGEMENT_TYPE_UNSPECIFIED) return m;
    Bad("filter", absl::StrCat("unknown management_type '", value, "'"));
  }
  Bad("filter", absl::StrCat("unknown field '", field, "': filter on state or management_type"));
}

// filter := term (AND term)* ; term := cmp | '(' cmp (OR cmp)* ')' ; cmp := field '=' VALUE
void ParseFilter(const std::string& filter, ListQuery& query) {
  if (filter.size() > 1000) Bad("filter", "at most 1000 characters");
  const auto tokens = Tokenize(filter);
  if (tokens.empty()) return;
  size_t pos = 0;
  auto expect = [&](const std::string& what) {
    if (pos >= tokens.size() || tokens[pos] != what) {
      Bad("filter",
          absl::StrCat("expected '", what, "'",
                       pos < tokens.size() ? " before '" + tokens[pos] + "'" : " at the end"));
    }
    ++pos;
  };
  auto comparison = [&](std::string& field) {
    if (pos >= tokens.size()) Bad("filter", "expected a field name at the end");
    field = tokens[pos++];
    expect("=");
    if (pos >= tokens.size()) Bad("filter", "expected a value at the end");
    return EnumValue(field, tokens[pos++]);
  };
  std::optional<std::set<int>> states, types;
  auto restrict = [](std::optional<std::set<int>>& current, const std::set<int>& values) {
    if (!current) {
      current = values;
    } else {
      std::set<int> both;
      for (int v : values) {
        if (current->count(v)) both.insert(v);
      }
      current = both;
    }
  };
  while (true) {
    std::string field;
    std::set<int> values;
    if (pos < tokens.size() && tokens[pos] == "(") {
      ++pos;
      values.insert(comparison(field));
      while (pos < tokens.size() && tokens[pos] == "OR") {
        ++pos;
        std::string other;
        values.insert(comparison(other));
        if (other != field) Bad("filter", "OR may only combine values of one field");
      }
      expect(")");
    } else {
      values.insert(comparison(field));
    }
    restrict(field == "state" ? states : types, values);
    if (pos == tokens.size()) break;
    expect("AND");
  }
  if (states) {
    query.states.assign(states->begin(), states->end());
    query.matches_nothing |= states->empty();
  }
  if (types) {
    query.management_types.assign(types->begin(), types->end());
    query.matches_nothing |= types->empty();
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

std::string EncodeCursor(const v1::CustomerPageCursor& cursor) {
  std::string out;
  absl::WebSafeBase64Escape(cursor.SerializeAsString(), &out);
  return out;
}

v1::CustomerPageCursor DecodeCursor(const std::string& token) {
  std::string raw;
  v1::CustomerPageCursor cursor;
  if (token.size() > 2048 || !absl::WebSafeBase64Unescape(token, &raw) ||
      !cursor.ParseFromString(raw)) {
    Bad("page_token", "not a page token of this list");
  }
  return cursor;
}

}  // namespace

int ClampPageSize(int requested) {
  if (requested < 0) Bad("page_size", "must not be negative");
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

ListQuery ParseListCustomersRequest(const v1::ListCustomersRequest& request,
                                    const std::string& msp_id) {
  ListQuery query;
  query.page_size = ClampPageSize(request.page_size());
  ParseFilter(request.filter(), query);
  ParseOrderBy(request.order_by(), query);
  const std::string search(absl::StripAsciiWhitespace(request.search()));
  if (search.size() > 100) Bad("search", "at most 100 characters");
  query.search = absl::AsciiStrToLower(search);
  if (!request.page_token().empty()) {
    const auto cursor = DecodeCursor(request.page_token());
    if (cursor.msp_id() != msp_id || cursor.order_by() != request.order_by() ||
        cursor.filter() != request.filter() || cursor.search() != request.search() ||
        cursor.last_customer_id().empty()) {
      Bad("page_token",
          "the page token belongs to a different query: keep filter, order_by and search "
          "unchanged");
    }
    query.after = std::make_pair(cursor.last_sort_value(), cursor.last_customer_id());
  }
  return query;
}

std::string EncodeCustomerPageToken(const v1::ListCustomersRequest& request,
                                    const std::string& msp_id, const std::string& sort_value,
                                    const std::string& customer_id) {
  v1::CustomerPageCursor cursor;
  cursor.set_msp_id(msp_id);
  cursor.set_order_by(request.order_by());
  cursor.set_filter(request.filter());
  cursor.set_search(request.search());
  cursor.set_last_sort_value(sort_value);
  cursor.set_last_customer_id(customer_id);
  return EncodeCursor(cursor);
}

std::string EncodeEventPageToken(const std::string& msp_id, const std::string& parent,
                                 int64_t last_event_id) {
  v1::CustomerPageCursor cursor;
  cursor.set_msp_id(msp_id);
  cursor.set_filter(parent);
  cursor.set_last_event_id(last_event_id);
  return EncodeCursor(cursor);
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
