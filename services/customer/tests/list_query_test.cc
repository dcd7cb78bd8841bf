#include "domain/list_query.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "msp/common/errors.h"
#include "msp/common/page_tokens.h"

namespace msp::customer {
namespace {

v1::ListCustomersRequest Request(const std::string& filter, const std::string& order_by = "") {
  v1::ListCustomersRequest r;
  r.set_parent("msps/acme");
  r.set_filter(filter);
  r.set_order_by(order_by);
  return r;
}

std::string BadField(const v1::ListCustomersRequest& r) {
  try {
    ParseListCustomersRequest(r, "acme");
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT);
    return e.field_violations().empty() ? "" : e.field_violations()[0].field;
  }
  return "accepted";
}

TEST(ListQueryTest, FilterGrammar) {
  auto q = ParseListCustomersRequest(Request("state = ACTIVE"), "acme");
  EXPECT_EQ(q.states, std::vector<int>{v1::ACTIVE});
  EXPECT_TRUE(q.management_types.empty());
  q = ParseListCustomersRequest(
      Request("management_type = JOINTLY_MANAGED AND (state = ACTIVE OR state = PENDING)"), "acme");
  EXPECT_EQ(q.states, (std::vector<int>{v1::ACTIVE, v1::PENDING}));
  EXPECT_EQ(q.management_types, std::vector<int>{v1::JOINTLY_MANAGED});
  // OR binds tighter than AND (AIP-160): no parentheses needed.
  q = ParseListCustomersRequest(
      Request("state = ACTIVE OR state = PENDING AND management_type = FULLY_MANAGED"), "acme");
  EXPECT_EQ(q.states, (std::vector<int>{v1::ACTIVE, v1::PENDING}));
  EXPECT_EQ(q.management_types, std::vector<int>{v1::FULLY_MANAGED});
  q = ParseListCustomersRequest(Request("state = ACTIVE AND state = PENDING"), "acme");
  EXPECT_TRUE(q.matches_nothing);
  q = ParseListCustomersRequest(Request(""), "acme");
  EXPECT_TRUE(q.states.empty());
  EXPECT_FALSE(q.matches_nothing);
}

TEST(ListQueryTest, BadFiltersNameTheFilter) {
  for (const char* f :
       {"state", "state =", "state = NOPE", "color = RED", "state = ACTIVE OR",
        "(state = ACTIVE OR management_type = FULLY_MANAGED)",
        "state = ACTIVE OR management_type = FULLY_MANAGED", "state = ACTIVE AND",
        "state == ACTIVE", "state = ACTIVE; DROP TABLE customers", "(state = ACTIVE"}) {
    EXPECT_EQ(BadField(Request(f)), "filter") << f;
  }
}

TEST(ListQueryTest, OrderBy) {
  EXPECT_EQ(ParseListCustomersRequest(Request("", "create_time desc"), "acme").sort_key,
            SortKey::kCreateTime);
  EXPECT_TRUE(ParseListCustomersRequest(Request("", "create_time desc"), "acme").descending);
  EXPECT_EQ(ParseListCustomersRequest(Request("", ""), "acme").sort_key, SortKey::kCompanyName);
  for (const char* o : {"email", "company_name up", "a b c"}) {
    EXPECT_EQ(BadField(Request("", o)), "order_by") << o;
  }
}

TEST(ListQueryTest, PageSizeDefaultsAndClamps) {
  auto r = Request("");
  EXPECT_EQ(ParseListCustomersRequest(r, "acme").page_size, 50);
  r.set_page_size(10000);
  EXPECT_EQ(ParseListCustomersRequest(r, "acme").page_size, 500);
  r.set_page_size(-1);
  EXPECT_EQ(BadField(r), "page_size");
}

TEST(ListQueryTest, PageTokensRoundTripAndAreBoundToTheQueryAndMsp) {
  auto r = Request("state = ACTIVE", "company_name");
  r.set_page_token(EncodeCustomerPageToken(r, "acme", "example gmbh", "0123456789"));
  auto q = ParseListCustomersRequest(r, "acme");
  ASSERT_TRUE(q.after.has_value());
  EXPECT_EQ(q.after->first, "example gmbh");
  EXPECT_EQ(q.after->second, "0123456789");
  EXPECT_EQ(BadField([&] {
              auto x = r;
              x.set_filter("state = PENDING");
              return x;
            }()),
            "page_token");
  EXPECT_THROW(ParseListCustomersRequest(r, "other-msp"), ApiError);
  auto garbage = r;
  garbage.set_page_token("!!!not-base64!!!");
  EXPECT_EQ(BadField(garbage), "page_token");
}

// A cursor written by anyone but the server (the old, unsigned form with a sort value of
// "abc", an overflowing number or a quote) gave INTERNAL and a database error. Tokens carry a
// MAC now: anything that does not verify is INVALID_ARGUMENT naming page_token.
TEST(ListQueryTest, ForgedOrTamperedPageTokensAreRefused) {
  auto r = Request("", "create_time desc");
  for (const std::string& sort_value :
       {std::string("abc"), std::string("99999999999999999999"), std::string("'")}) {
    v1::CustomerPageCursor forged;
    forged.set_msp_id("acme");
    forged.set_order_by(r.order_by());
    forged.set_last_sort_value(sort_value);
    forged.set_last_customer_id("0123456789");
    std::string unsigned_token;
    absl::WebSafeBase64Escape(forged.SerializeAsString(), &unsigned_token);
    r.set_page_token(unsigned_token);
    EXPECT_EQ(BadField(r), "page_token") << sort_value;
  }
  // One flipped bit anywhere in a genuine token.
  const std::string genuine = EncodeCustomerPageToken(r, "acme", "1732442400000000", "0123456789");
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(genuine, &raw));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string flipped = raw;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    std::string token;
    absl::WebSafeBase64Escape(flipped, &token);
    r.set_page_token(token);
    EXPECT_EQ(BadField(r), "page_token") << i;
  }
  // Signed by a server with another key.
  SetPageTokenKey("another server's key, 32 bytes.");
  const std::string foreign = EncodeCustomerPageToken(r, "acme", "1732442400000000", "0123456789");
  SetPageTokenKey("this server's page token key ...");
  r.set_page_token(foreign);
  EXPECT_EQ(BadField(r), "page_token");
  r.set_page_token(EncodeCustomerPageToken(r, "acme", "1732442400000000", "0123456789"));
  EXPECT_TRUE(ParseListCustomersRequest(r, "acme").after.has_value());
}

TEST(ListQueryTest, EventTokens) {
  const auto token = EncodeEventPageToken("acme", "msps/acme/customers/x", 42);
  EXPECT_EQ(DecodeEventPageToken(token, "acme", "msps/acme/customers/x"), 42);
  EXPECT_THROW(DecodeEventPageToken(token, "acme", "msps/acme/customers/y"), ApiError);
  EXPECT_THROW(DecodeEventPageToken(token, "evil", "msps/acme/customers/x"), ApiError);
}

}  // namespace
}  // namespace msp::customer
