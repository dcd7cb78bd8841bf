// QueryCustomerTable's order_by, filter, search, page size and page tokens.
#include "domain/table_query.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::reporting {
namespace {

std::string ViolatedField(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.field_violations().empty() ? "" : e.field_violations()[0].field;
  }
  return "(no error)";
}

TEST(TableQuery, DefaultsToNameOrderAndFiftyRows) {
  v1::QueryCustomerTableRequest request;
  const TableQuery q = ParseTableQuery(request, "m1");
  EXPECT_EQ(q.order, OrderKey::kName);
  EXPECT_FALSE(q.descending);
  EXPECT_EQ(q.page_size, 50);
  request.set_page_size(100000);
  EXPECT_EQ(ParseTableQuery(request, "m1").page_size, kMaxTablePageSize);
}

TEST(TableQuery, EveryColumnOrders) {
  v1::QueryCustomerTableRequest request;
  const std::vector<std::pair<std::string, OrderKey>> cases = {
      {"name", OrderKey::kName},
      {"service_status", OrderKey::kServiceStatus},
      {"customer_id", OrderKey::kCustomerId},
      {"management_type", OrderKey::kManagementType},
      {"total_devices desc", OrderKey::kTotalDevices},
      {"modified", OrderKey::kModified},
      {"created asc", OrderKey::kCreated},
      {"msp_linked", OrderKey::kMspLinked}};
  for (const auto& [order_by, key] : cases) {
    request.set_order_by(order_by);
    const TableQuery q = ParseTableQuery(request, "m1");
    EXPECT_EQ(q.order, key) << order_by;
    EXPECT_EQ(q.descending, order_by == "total_devices desc") << order_by;
  }
}

TEST(TableQuery, FilterOnStateTypeAndService) {
  v1::QueryCustomerTableRequest request;
  request.set_filter(
      "state = PENDING AND management_type = JOINTLY_MANAGED AND (service = KNOX_MANAGE OR "
      "service = KNOX_GUARD)");
  const TableQuery q = ParseTableQuery(request, "m1");
  EXPECT_EQ(q.states, std::vector<int>{customer::v1::PENDING});
  EXPECT_EQ(q.management_types, std::vector<int>{customer::v1::JOINTLY_MANAGED});
  EXPECT_EQ(q.service_mask, (1 << assignment::v1::KNOX_MANAGE) | (1 << assignment::v1::KNOX_GUARD));
  EXPECT_FALSE(q.matches_nothing);
  request.set_filter("state = ACTIVE AND state = PENDING");
  EXPECT_TRUE(ParseTableQuery(request, "m1").matches_nothing);
}

TEST(TableQuery, BadInputNamesTheField) {
  auto with = [](auto set) {
    return [set] {
      v1::QueryCustomerTableRequest request;
      set(request);
      ParseTableQuery(request, "m1");
    };
  };
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_order_by("color"); })), "order_by");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_order_by("name sideways"); })), "order_by");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_filter("service = KNOX_TOASTER"); })), "filter");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_filter("city = Berlin"); })), "filter");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_filter("state = ACTIVE OR"); })), "filter");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_search(std::string(101, 'x')); })), "search");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_page_size(-1); })), "page_size");
  EXPECT_EQ(ViolatedField(with([](auto& r) { r.set_page_token("not-a-token!"); })), "page_token");
}

TEST(TableQuery, PageTokensBelongToTheirQueryAndMsp) {
  v1::QueryCustomerTableRequest request;
  request.set_order_by("modified desc");
  request.set_filter("state = ACTIVE");
  request.set_page_token(EncodeTablePageToken(request, "m1", "1732442400000000", "abc"));
  const TableQuery q = ParseTableQuery(request, "m1");
  ASSERT_TRUE(q.after.has_value());
  EXPECT_EQ(q.after->first, "1732442400000000");
  EXPECT_EQ(q.after->second, "abc");
  // Another MSP's token, or a changed query: refused.
  EXPECT_EQ(ViolatedField([&] { ParseTableQuery(request, "m2"); }), "page_token");
  request.set_filter("state = PENDING");
  EXPECT_EQ(ViolatedField([&] { ParseTableQuery(request, "m1"); }), "page_token");
}

TEST(TableQuery, SearchIsTrimmedAndLowerCased) {
  v1::ExportCustomersCsvRequest request;
  request.set_search("  ACME  ");
  EXPECT_EQ(ParseExportQuery(request).search, "acme");
}

}  // namespace
}  // namespace msp::reporting
