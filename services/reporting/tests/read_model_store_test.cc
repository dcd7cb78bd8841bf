// The read model's SQL against a real PostgreSQL with reporting's migrations: applying events
// in any order and any number of times, concurrent consumers, the export's snapshot and
// pages, and that every order of the table is an index range scan.
#include "store/read_model_store.h"

#include <gtest/gtest.h>

#include "msp/common/list_filter.h"

#include <algorithm>
#include <random>
#include <thread>

#include "msp/common/migrations.h"
#include "msp/common/timestamps.h"
#include "processes.h"

namespace msp::reporting {
namespace {

using assignment::v1::AssignedService;

events::v1::CustomerChanged Account(const std::string& id, const std::string& msp, int64_t version,
                                    const std::string& company) {
  events::v1::CustomerChanged e;
  e.set_customer_id(id);
  e.set_msp_id(msp);
  e.set_version(version);
  auto* c = e.mutable_customer();
  c->set_name("msps/" + msp + "/customers/" + id);
  c->set_customer_id(id);
  c->mutable_company()->set_display_name(company);
  c->set_state(customer::v1::ACTIVE);
  c->set_management_type(customer::v1::FULLY_MANAGED);
  SetTimestampMicros(c->mutable_create_time(), 1'700'000'000'000'000 + version);
  SetTimestampMicros(c->mutable_update_time(), 1'700'000'000'000'000 + version);
  SetTimestampMicros(e.mutable_change_time(), 1'700'000'000'000'000 + version);
  return e;
}

events::v1::CustomerServicesChanged Devices(const std::string& id, const std::string& msp,
                                            int64_t version, int64_t devices) {
  events::v1::CustomerServicesChanged e;
  e.set_customer_id(id);
  e.set_msp_id(msp);
  e.set_version(version);
  auto* s = e.add_services();
  s->set_name("msps/" + msp + "/customers/" + id + "/services/knox-guard");
  s->set_service(assignment::v1::KNOX_GUARD);
  s->set_state(AssignedService::ACTIVE);
  s->set_device_count(devices);
  return e;
}

class ReadModelStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string conninfo = testing::NewDatabase("reporting_store");
    pg::Connection conn(conninfo, 10000);
    ApplyMigrations(conn, "reporting", ReportingSchemaMigrations());
    pool_ = new pg::Pool({conninfo, 4, std::chrono::milliseconds(2000), 5000, "reporting, public"});
  }
  static void TearDownTestSuite() { delete pool_; }

  ApplyOutcome Apply(const ChangeBatch& batch) {
    return pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto outcome = store_.Apply(tx.conn(), batch);
      tx.Commit();
      return outcome;
    });
  }

  std::vector<v1::TableRow> Table(const std::string& msp, TableQuery query = {}) {
    auto conn = pool_->Acquire();
    return store_.Query(*conn, msp, query, true).rows;
  }

  static pg::Pool* pool_;
  ReadModelStore store_;
};
pg::Pool* ReadModelStoreTest::pool_ = nullptr;

TEST_F(ReadModelStoreTest, AnyOrderAndAnyRepeatOfEventsEndsTheSame) {
  // Three versions of an account and of its services, shuffled and repeated, in batches.
  std::vector<std::function<void(ChangeBatch&)>> events;
  for (int v = 1; v <= 3; ++v) {
    events.push_back([v](ChangeBatch& b) {
      b.customers.push_back(Account("perm000001", "mp", v, "Version " + std::to_string(v)));
    });
    events.push_back(
        [v](ChangeBatch& b) { b.services.push_back(Devices("perm000001", "mp", v, v * 10)); });
  }
  std::mt19937 random(42);
  for (int round = 0; round < 5; ++round) {
    auto order = events;
    order.insert(order.end(), events.begin(), events.end());  // every event twice
    std::shuffle(order.begin(), order.end(), random);
    for (size_t i = 0; i < order.size(); i += 3) {
      ChangeBatch batch;
      for (size_t j = i; j < std::min(order.size(), i + 3); ++j) order[j](batch);
      Apply(batch);
    }
    const auto rows = Table("mp");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].company_name(), "Version 3");
    EXPECT_EQ(rows[0].total_devices(), 30);
  }
  // A newer event still applies; an old one is counted stale.
  ChangeBatch batch;
  batch.customers.push_back(Account("perm000001", "mp", 4, "Version 4"));
  batch.customers.push_back(Account("perm000001", "mp", 2, "Version 2"));
  const auto outcome = Apply(batch);
  EXPECT_EQ(outcome.applied, 1);
  EXPECT_EQ(outcome.stale, 1);
  EXPECT_EQ(Table("mp")[0].company_name(), "Version 4");
}

TEST_F(ReadModelStoreTest, ARowLeavesTheTableWhenTheCustomerLeavesItsMsp) {
  ChangeBatch batch;
  batch.customers.push_back(Account("leave00001", "ml", 1, "Leaver"));
  Apply(batch);
  EXPECT_EQ(Table("ml").size(), 1u);
  ChangeBatch left;
  left.customers.push_back(Account("leave00001", "", 2, "Leaver"));
  Apply(left);
  EXPECT_TRUE(Table("ml").empty());
  // Its services alone (heard before any account) show nothing either.
  ChangeBatch orphan;
  orphan.services.push_back(Devices("orphan0001", "ml", 1, 5));
  Apply(orphan);
  EXPECT_TRUE(Table("ml").empty());
}

// Search folds case in every script ("MÜLLER" found nothing when only ASCII was folded).
TEST_F(ReadModelStoreTest, SearchFoldsCaseInEveryScript) {
  ChangeBatch batch;
  batch.customers.push_back(Account("fold000001", "mfold", 1, "Müller Söhne"));
  batch.customers.push_back(Account("fold000002", "mfold", 1, "Other Ltd"));
  Apply(batch);
  for (const char* search : {"MÜLLER", "müller", "SÖHNE"}) {
    TableQuery query;
    query.search = ParseSearch(search);  // as the request's search arrives
    const auto rows = Table("mfold", query);
    ASSERT_EQ(rows.size(), 1u) << search;
    EXPECT_EQ(rows[0].company_name(), "Müller Söhne");
  }
}

TEST_F(ReadModelStoreTest, ConcurrentConsumersConverge) {
  // Two consumers apply overlapping batches of the same customers' events in opposite orders.
  auto run = [&](bool reversed) {
    for (int v = 1; v <= 20; ++v) {
      const int version = reversed ? 21 - v : v;
      ChangeBatch batch;
      for (int c = 0; c < 10; ++c) {
        const std::string id = "conc00000" + std::to_string(c);
        batch.customers.push_back(Account(id, "mc", version, "Name " + std::to_string(version)));
        batch.services.push_back(Devices(id, "mc", version, version));
      }
      Apply(batch);
    }
  };
  std::thread a(run, false), b(run, true);
  a.join();
  b.join();
  const auto rows = Table("mc");
  ASSERT_EQ(rows.size(), 10u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.company_name(), "Name 20");
    EXPECT_EQ(row.total_devices(), 20);
  }
}

TEST_F(ReadModelStoreTest, TheExportReadsEveryRowOnceInPagesFromOneSnapshot) {
  ChangeBatch batch;
  for (int i = 0; i < 25; ++i) {
    batch.customers.push_back(
        Account("expo0000" + std::to_string(10 + i), "me", 1, "Export " + std::to_string(10 + i)));
  }
  Apply(batch);
  auto conn = pool_->Acquire();
  pg::Transaction tx(*conn, pg::Isolation::kSnapshotReadOnly);
  std::vector<std::string> ids;
  bool wrote = false;
  store_.ForEachCsvRow(*conn, "me", {}, 4, [&](const CsvCustomerRow& row) {
    ids.push_back(row.customer_id);
    if (!wrote) {
      // A change committed after the export began is not in it (it sorts last: a later page
      // would show it if the pages came from different snapshots).
      ChangeBatch late;
      late.customers.push_back(Account("expo000099", "me", 1, "Export 99 (late)"));
      Apply(late);
      wrote = true;
    }
  });
  tx.Commit();
  ASSERT_EQ(ids.size(), 25u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 25u);
}

TEST_F(ReadModelStoreTest, EveryTableOrderIsAnIndexRangeScan) {
  auto conn = pool_->Acquire();
  // Bulk rows for two MSPs (the plan must not depend on one MSP being small).
  for (const char* msp : {"plan-a", "plan-b"}) {
    conn->Exec(
        "INSERT INTO customer_rows SELECT $1 || lpad(g::text, 7, '0'), $1, 'Company ' || g, "
        "'company ' || g, 1 + g % 7, 1 + g % 2, 'knox-guard:ACTIVE', 64, 64, g % 1000, NULL, "
        "g % 1000, 1700000000000000 + g, 1700000000000000 + g * 3, 0, 'company ' || g "
        "FROM generate_series(1, 20000) g",
        {msp});
  }
  conn->Exec("ANALYZE customer_rows");
  for (auto order :
       {OrderKey::kName, OrderKey::kServiceStatus, OrderKey::kCustomerId, OrderKey::kManagementType,
        OrderKey::kTotalDevices, OrderKey::kModified, OrderKey::kCreated, OrderKey::kMspLinked}) {
    for (bool descending : {false, true}) {
      for (bool later_page : {false, true}) {
        TableQuery query;
        query.order = order;
        query.descending = descending;
        if (later_page) query.after = std::make_pair("1", "plan-a0005000");
        const auto sql = ReadModelStore::BuildQuerySql("plan-a", query);
        auto plan = conn->Exec("EXPLAIN " + sql.sql, sql.params);
        std::string text;
        for (int i = 0; i < plan.rows(); ++i) text += plan.String(i, 0) + "\n";
        const int label = static_cast<int>(order);
        EXPECT_EQ(text.find("Seq Scan"), std::string::npos) << label << "\n" << text;
        EXPECT_EQ(text.find("Sort"), std::string::npos) << label << "\n" << text;
        EXPECT_NE(text.find("Index"), std::string::npos) << label << "\n" << text;
      }
    }
  }
}

TEST_F(ReadModelStoreTest, PreferencesAreKeptPerAdmin) {
  auto conn = pool_->Acquire();
  EXPECT_FALSE(store_.FindPreference(*conn, "mp", "alice").has_value());
  store_.SavePreference(*conn, "mp", "alice", {v1::CREATED, v1::NAME});
  store_.SavePreference(*conn, "mp", "alice", {v1::NAME, v1::CREATED});
  EXPECT_EQ(*store_.FindPreference(*conn, "mp", "alice"),
            (std::vector<int>{v1::NAME, v1::CREATED}));
  EXPECT_FALSE(store_.FindPreference(*conn, "mp", "bob").has_value());
  EXPECT_FALSE(store_.FindPreference(*conn, "other", "alice").has_value());
}

}  // namespace
}  // namespace msp::reporting
