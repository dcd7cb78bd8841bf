// The customer store's SQL against a real PostgreSQL with the service's own migrations.
#include "store/customer_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "domain/customer_rules.h"
#include "msp/common/idempotency.h"
#include "msp/common/migrations.h"
#include "processes.h"
#include "testdata/sample_customers.h"

namespace msp::customer {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class CustomerStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string conninfo = testing::NewDatabase("store");
    pg::Connection conn(conninfo, 10000);
    ApplyMigrations(conn, "customer", CustomerSchemaMigrations());
    pool_ = new pg::Pool({conninfo, 4, std::chrono::milliseconds(2000), 5000, "customer, public"});
  }
  static void TearDownTestSuite() { delete pool_; }

  StoredCustomer Insert(const std::string& msp, const std::string& company,
                        const std::string& email = "erika@example.de") {
    NewCustomer created{msp, testdata::ValidCustomer(company, email), "msp-admin:test", "", ""};
    Normalize(created.customer);
    PrepareNewCustomer(created.customer, msp, NewCustomerId(), NowMicros());
    auto conn = pool_->Acquire();
    EXPECT_EQ(store_.Create(*conn, created), CreateOutcome::kCreated);
    auto stored = store_.Find(*conn, msp, created.customer.customer_id(), false);
    EXPECT_TRUE(stored.has_value());
    // What Create was handed is exactly what a read returns.
    EXPECT_EQ(stored->customer.SerializeAsString(), created.customer.SerializeAsString());
    return *stored;
  }

  std::vector<std::string> ListAll(const std::string& msp, v1::ListCustomersRequest request,
                                   int page_size) {
    std::vector<std::string> names;
    request.set_parent("msps/" + msp);
    request.set_page_size(page_size);
    auto conn = pool_->Acquire();
    for (int pages = 0; pages < 1000; ++pages) {
      auto query = ParseListCustomersRequest(request, msp);
      auto page = store_.List(*conn, msp, query);
      for (const auto& c : page.customers) names.push_back(c.customer.company().display_name());
      if (!page.next_after) break;
      request.set_page_token(
          EncodeCustomerPageToken(request, msp, page.next_after->first, page.next_after->second));
    }
    return names;
  }

  static pg::Pool* pool_;
  CustomerStore store_;
};
pg::Pool* CustomerStoreTest::pool_ = nullptr;

TEST_F(CustomerStoreTest, InsertFindAndTenantScope) {
  auto stored = Insert("store-a", "Alpha GmbH");
  EXPECT_EQ(stored.version, 1);
  EXPECT_EQ(stored.customer.state(), v1::ACTIVE);
  EXPECT_EQ(stored.customer.name(), "msps/store-a/customers/" + stored.customer.customer_id());
  EXPECT_TRUE(stored.customer.has_msp_link_time());
  auto conn = pool_->Acquire();
  auto found = store_.Find(*conn, "store-a", stored.customer.customer_id(), false);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->customer.SerializeAsString(), stored.customer.SerializeAsString());
  EXPECT_FALSE(store_.Find(*conn, "store-b", stored.customer.customer_id(), false).has_value());
  // A taken id is refused, not overwritten.
  NewCustomer clash{"store-b", stored.customer, "msp-admin:test", "", ""};
  EXPECT_EQ(store_.Create(*conn, clash), CreateOutcome::kCustomerIdTaken);
  EXPECT_FALSE(store_.Find(*conn, "store-b", stored.customer.customer_id(), false).has_value());
}

TEST_F(CustomerStoreTest, CreateWithRequestIdClaimsOnceAndLeavesNothingOnAClash) {
  NewCustomer created{"store-c", testdata::ValidCustomer("Claimed"), "msp-admin:test", "req-c1",
                      "hash-1"};
  Normalize(created.customer);
  PrepareNewCustomer(created.customer, "store-c", NewCustomerId(), NowMicros());
  auto conn = pool_->Acquire();
  EXPECT_EQ(store_.Create(*conn, created), CreateOutcome::kCreated);
  // The same request again: nothing new, and the saved answer is the first one.
  NewCustomer retry = created;
  PrepareNewCustomer(retry.customer, "store-c", NewCustomerId(), NowMicros());
  EXPECT_EQ(store_.Create(*conn, retry), CreateOutcome::kRequestSeen);
  auto saved = idempotency::FindResponse(*conn, "store-c", "req-c1", "CreateCustomer", "hash-1");
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(*saved, created.customer.SerializeAsString());
  // A new request that draws a taken id: no claim stays behind, so a redraw can succeed.
  NewCustomer clash{"store-c", created.customer, "msp-admin:test", "req-c2", "hash-2"};
  EXPECT_EQ(store_.Create(*conn, clash), CreateOutcome::kCustomerIdTaken);
  EXPECT_FALSE(idempotency::FindResponse(*conn, "store-c", "req-c2", "CreateCustomer", "hash-2"));
  PrepareNewCustomer(clash.customer, "store-c", NewCustomerId(), NowMicros());
  EXPECT_EQ(store_.Create(*conn, clash), CreateOutcome::kCreated);
  EXPECT_EQ(conn->Exec("SELECT count(*) FROM customers WHERE msp_id = 'store-c'").Int64(0, 0), 2);
  EXPECT_EQ(conn->Exec("SELECT count(*) FROM customer_events WHERE msp_id = 'store-c'").Int64(0, 0),
            2);
}

TEST_F(CustomerStoreTest, CreateWritesTheAssignmentToTheOutboxInTheSameStatement) {
  NewCustomer with{"store-o",
                   testdata::ValidCustomer("Outbox AG"),
                   "msp-admin:test",
                   "",
                   "",
                   {assignment::v1::KNOX_MANAGE, assignment::v1::KNOX_GUARD},
                   "payload-bytes"};
  Normalize(with.customer);
  PrepareNewCustomer(with.customer, "store-o", NewCustomerId(), NowMicros());
  NewCustomer without{"store-o", testdata::ValidCustomer("No Outbox AG"), "msp-admin:test", "", ""};
  Normalize(without.customer);
  PrepareNewCustomer(without.customer, "store-o", NewCustomerId(), NowMicros());
  auto conn = pool_->Acquire();
  ASSERT_EQ(store_.Create(*conn, with), CreateOutcome::kCreated);
  ASSERT_EQ(store_.Create(*conn, without), CreateOutcome::kCreated);
  auto outbox = conn->Exec(
      "SELECT message_key, topic, payload FROM outbox WHERE msp_id = 'store-o' AND topic <> $1 "
      "ORDER BY id",
      {kCustomerChangedTopic});
  ASSERT_EQ(outbox.rows(), 1);
  EXPECT_EQ(outbox.String(0, 0), with.customer.customer_id());
  EXPECT_EQ(outbox.String(0, 1), kAssignServicesTopic);
  EXPECT_EQ(outbox.Bytes(0, 2), "payload-bytes");
  const auto stored = store_.Find(*conn, "store-o", with.customer.customer_id(), false);
  EXPECT_EQ(
      stored->requested_services,
      (std::vector<knox::KnoxService>{assignment::v1::KNOX_MANAGE, assignment::v1::KNOX_GUARD}));
  EXPECT_EQ(stored->services_error, "");
  store_.SetServicesError(*conn, "store-o", with.customer.customer_id(),
                          "KNOX_MANAGE_TENANT_ID_TAKEN");
  EXPECT_EQ(store_.Find(*conn, "store-o", with.customer.customer_id(), false)->services_error,
            "KNOX_MANAGE_TENANT_ID_TAKEN");
  // An id clash leaves no outbox message behind.
  NewCustomer clash = with;
  EXPECT_EQ(store_.Create(*conn, clash), CreateOutcome::kCustomerIdTaken);
  EXPECT_EQ(conn->Exec("SELECT count(*) FROM outbox WHERE msp_id = 'store-o' AND topic = $1",
                       {kAssignServicesTopic})
                .Int64(0, 0),
            1);
}

TEST_F(CustomerStoreTest, EveryChangeOfAnMspsCustomerBecomesAChangeEvent) {
  auto stored = Insert("store-ev", "Evented GmbH");
  const std::string id = stored.customer.customer_id();
  auto conn = pool_->Acquire();
  auto changed = stored.customer;
  changed.mutable_company()->set_display_name("Evented AG");
  store_.Update(*conn, "store-ev", changed);
  store_.SetServicesError(*conn, "store-ev", id, "ASSIGNMENT_REFUSED");
  // Delinked: the MSP hears of it once more (the row leaves its table), then nothing.
  store_.ApplyLink(*conn, id, LinkState{"", v1::DELINKED, v1::FULLY_MANAGED, "", true}, false);
  store_.ApplyLink(*conn, id, LinkState{"", v1::ACTIVE, v1::FULLY_MANAGED, "", true}, false);
  // The trigger's topic (migrations/0006 spells it in SQL) is the relay's.
  auto events = conn->Exec(
      "SELECT msp_id, message_key, convert_from(payload, 'UTF8') FROM outbox WHERE topic = $2 "
      "AND payload = convert_to($1, 'UTF8') ORDER BY id",
      {id, kCustomerChangedTopic});
  ASSERT_EQ(events.rows(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(events.String(i, 0), "store-ev");
    EXPECT_EQ(events.String(i, 1), id + ":" + std::to_string(i + 1));  // id:version
    EXPECT_EQ(events.String(i, 2), id);
  }
}

TEST_F(CustomerStoreTest, UpdateBumpsVersionEtagAndUpdateTime) {
  auto stored = Insert("store-u", "Update Me");
  auto changed = stored.customer;
  changed.mutable_company()->set_display_name("Updated");
  auto conn = pool_->Acquire();
  auto updated = store_.Update(*conn, "store-u", changed);
  EXPECT_EQ(updated.version, 2);
  EXPECT_NE(updated.customer.etag(), stored.customer.etag());
  EXPECT_EQ(updated.customer.company().display_name(), "Updated");
  const auto before = stored.customer.update_time();
  const auto after = updated.customer.update_time();
  EXPECT_TRUE(after.seconds() > before.seconds() ||
              (after.seconds() == before.seconds() && after.nanos() > before.nanos()));
  EXPECT_EQ(updated.customer.create_time().SerializeAsString(),
            stored.customer.create_time().SerializeAsString());
}

TEST_F(CustomerStoreTest, KeysetPagesCoverEveryRowOnceInOrder) {
  std::vector<std::string> expected;
  for (int i = 0; i < 37; ++i) {
    // Duplicated names on purpose: ties are broken by customer id.
    const std::string name = "Company " + std::to_string(i % 13);
    Insert("store-p", name);
    expected.push_back(name);
  }
  std::sort(expected.begin(), expected.end(), [](const std::string& a, const std::string& b) {
    std::string la = a, lb = b;
    std::transform(la.begin(), la.end(), la.begin(), ::tolower);
    std::transform(lb.begin(), lb.end(), lb.begin(), ::tolower);
    return la < lb;
  });
  v1::ListCustomersRequest request;
  for (int page_size : {1, 5, 36, 37, 500}) {
    EXPECT_EQ(ListAll("store-p", request, page_size), expected) << page_size;
  }
  request.set_order_by("company_name desc");
  auto reversed = expected;
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(ListAll("store-p", request, 7), reversed);
  for (const char* order : {"create_time", "create_time desc", "update_time", "customer_id desc"}) {
    request.set_order_by(order);
    EXPECT_EQ(ListAll("store-p", request, 4).size(), 37u) << order;
  }
}

TEST_F(CustomerStoreTest, PagingStaysCorrectWhileRowsAreInserted) {
  for (int i = 0; i < 10; ++i) Insert("store-i", "B" + std::to_string(i));
  v1::ListCustomersRequest request;
  request.set_parent("msps/store-i");
  request.set_page_size(4);
  auto conn = pool_->Acquire();
  std::vector<std::string> seen;
  auto page = store_.List(*conn, "store-i", ParseListCustomersRequest(request, "store-i"));
  for (const auto& c : page.customers) seen.push_back(c.customer.company().display_name());
  // Rows sorting before the cursor and after it arrive between pages.
  Insert("store-i", "A-new");
  Insert("store-i", "Z-new");
  while (page.next_after) {
    request.set_page_token(EncodeCustomerPageToken(request, "store-i", page.next_after->first,
                                                   page.next_after->second));
    page = store_.List(*conn, "store-i", ParseListCustomersRequest(request, "store-i"));
    for (const auto& c : page.customers) seen.push_back(c.customer.company().display_name());
  }
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a row came twice";
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(unique.count("B" + std::to_string(i))) << i;
  EXPECT_TRUE(unique.count("Z-new"));   // after the cursor: seen
  EXPECT_FALSE(unique.count("A-new"));  // before the cursor: not, and nothing skipped
}

TEST_F(CustomerStoreTest, FilterAndSearch) {
  Insert("store-f", "Searchable Widgets", "ceo@widgets.example");
  auto hidden = Insert("store-f", "Other Company", "x@other.example");
  auto conn = pool_->Acquire();
  conn->Exec("UPDATE customers SET state = 2 WHERE customer_id = $1",
             {hidden.customer.customer_id()});
  v1::ListCustomersRequest request;
  request.set_search("WIDGETS");
  EXPECT_EQ(ListAll("store-f", request, 10), std::vector<std::string>{"Searchable Widgets"});
  request.set_search("ceo@widg");
  EXPECT_EQ(ListAll("store-f", request, 10), std::vector<std::string>{"Searchable Widgets"});
  request.set_search(hidden.customer.customer_id());
  EXPECT_EQ(ListAll("store-f", request, 10), std::vector<std::string>{"Other Company"});
  request.set_search("%");  // LIKE wildcards are literal
  EXPECT_TRUE(ListAll("store-f", request, 10).empty());
  // Case folds in every script, not only ASCII ("MÜLLER" found nothing).
  Insert("store-f", "Müller Söhne", "info@mueller.example");
  for (const char* search : {"MÜLLER", "müller", "SÖHNE"}) {
    request.set_search(search);
    EXPECT_EQ(ListAll("store-f", request, 10), std::vector<std::string>{"Müller Söhne"}) << search;
  }
  request.clear_search();
  request.set_filter("state = PENDING");
  EXPECT_EQ(ListAll("store-f", request, 10), std::vector<std::string>{"Other Company"});
  request.set_filter("state = ACTIVE AND management_type = JOINTLY_MANAGED");
  EXPECT_TRUE(ListAll("store-f", request, 10).empty());
}

// A page must cost the same with 10 or 10 million customers: every order_by, both directions,
// first page and later pages, is an index range scan that stops after the page, never a
// sequential scan or a sort of the MSP's customers.
TEST_F(CustomerStoreTest, EveryListOrderIsAnIndexRangeScan) {
  auto conn = pool_->Acquire();
  // Bulk rows for two MSPs (the plan must not depend on one MSP being small).
  for (const char* msp : {"plan-a", "plan-b"}) {
    conn->Exec(
        "INSERT INTO customers (customer_id, msp_id, company_name, company_size, industries, "
        "country_code, address_line1, city, region, zip_code, contact_first_name, "
        "contact_last_name, contact_email, contact_phone, management_type, state, create_time, "
        "update_time) SELECT $1 || lpad(g::text, 6, '0'), $1, 'Company ' || g, 1, '{1}', 'DE', "
        "'x', 'x', 'x', '10115', 'A', 'B', 'a' || g || '@example.de', '+4930123456', 1 + g % 2, "
        "1, now() - g * interval '1 minute', now() - g * interval '1 second' "
        "FROM generate_series(1, 20000) g",
        {msp});
  }
  conn->Exec("ANALYZE customers");
  for (const char* order : {"company_name", "company_name desc", "create_time", "create_time desc",
                            "update_time", "update_time desc", "customer_id", "customer_id desc"}) {
    for (bool later_page : {false, true}) {
      v1::ListCustomersRequest request;
      request.set_parent("msps/plan-a");
      request.set_order_by(order);
      request.set_page_size(50);
      if (later_page) {
        const std::string sort_value = std::string(order).rfind("company", 0) == 0 ? "company 5000"
                                       : std::string(order).rfind("customer", 0) == 0
                                           ? "plan-a005000"
                                           : "1790000000000000";
        request.set_page_token(
            EncodeCustomerPageToken(request, "plan-a", sort_value, "plan-a005000"));
      }
      const auto list =
          CustomerStore::BuildListSql("plan-a", ParseListCustomersRequest(request, "plan-a"));
      auto plan = conn->Exec("EXPLAIN " + list.sql, list.params);
      std::string text;
      for (int i = 0; i < plan.rows(); ++i) text += plan.String(i, 0) + "\n";
      EXPECT_EQ(text.find("Seq Scan"), std::string::npos) << order << "\n" << text;
      EXPECT_EQ(text.find("Sort"), std::string::npos) << order << "\n" << text;
      EXPECT_NE(text.find("Index Scan"), std::string::npos) << order << "\n" << text;
    }
  }
}

TEST_F(CustomerStoreTest, RequestIdsReturnTheFirstAnswer) {
  auto conn = pool_->Acquire();
  EXPECT_FALSE(
      idempotency::Claim(*conn, "store-r", "req-1", "CreateCustomer", "hash-a").has_value());
  idempotency::SaveResponse(*conn, "store-r", "req-1", "first-answer");
  auto again = idempotency::Claim(*conn, "store-r", "req-1", "CreateCustomer", "hash-a");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, "first-answer");
  EXPECT_THROW(idempotency::Claim(*conn, "store-r", "req-1", "CreateCustomer", "hash-b"), ApiError);
  // Request ids are per MSP.
  EXPECT_FALSE(
      idempotency::Claim(*conn, "store-s", "req-1", "CreateCustomer", "hash-b").has_value());
}

TEST_F(CustomerStoreTest, OldRequestIdsArePurgedRecentOnesKept) {
  auto conn = pool_->Acquire();
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(idempotency::Claim(*conn, "store-purge", "old-" + std::to_string(i), "M", "h"));
  }
  EXPECT_FALSE(idempotency::Claim(*conn, "store-purge", "recent", "M", "h"));
  conn->Exec(
      "UPDATE idempotency_keys SET create_time = now() - interval '8 days' "
      "WHERE msp_id = 'store-purge' AND request_id LIKE 'old-%'");
  EXPECT_EQ(idempotency::Purge(*conn, std::chrono::hours(7 * 24), 3), 3);
  EXPECT_EQ(idempotency::Purge(*conn, std::chrono::hours(7 * 24), 3), 2);
  EXPECT_EQ(idempotency::Purge(*conn, std::chrono::hours(7 * 24), 3), 0);
  EXPECT_EQ(conn->Exec("SELECT request_id FROM idempotency_keys WHERE msp_id = 'store-purge'")
                .String(0, 0),
            "recent");
}

TEST_F(CustomerStoreTest, EventsPageNewestFirst) {
  auto stored = Insert("store-e", "Events");
  auto conn = pool_->Acquire();
  for (int i = 0; i < 5; ++i) {
    store_.AppendEvent(*conn, "store-e", stored.customer.customer_id(), "CUSTOMER_UPDATED",
                       "msp-admin:a", {"company.display_name", "contact.first_name"},
                       "r" + std::to_string(i));
  }
  auto page = store_.ListEvents(*conn, "store-e", stored.customer.customer_id(), 3, 0);
  ASSERT_EQ(page.events.size(), 3u);
  EXPECT_EQ(page.events[0].request_id(), "r4");
  EXPECT_EQ(page.events[0].changed_fields_size(), 2);
  EXPECT_EQ(page.events[0].changed_fields(1), "contact.first_name");
  ASSERT_GT(page.next_after_event_id, 0);
  auto rest = store_.ListEvents(*conn, "store-e", stored.customer.customer_id(), 3,
                                page.next_after_event_id);
  ASSERT_EQ(rest.events.size(), 3u);  // two updates and the creation
  EXPECT_EQ(rest.events.back().action(), "CUSTOMER_CREATED");
  EXPECT_EQ(rest.events.back().actor(), "msp-admin:test");
  EXPECT_EQ(rest.next_after_event_id, 0);
  EXPECT_TRUE(
      store_.ListEvents(*conn, "store-x", stored.customer.customer_id(), 3, 0).events.empty());
}

}  // namespace
}  // namespace msp::customer
