// The PostgreSQL pool, transactions and the migrations runner against a real server.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

#include "fault_proxy.h"
#include "msp/common/idempotency.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"
#include "processes.h"

namespace msp {
namespace {

using testing::NewDatabase;
using testing::SharedPostgres;

class PgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { conninfo_ = new std::string(NewDatabase("pgtest")); }
  static std::string* conninfo_;
};
std::string* PgTest::conninfo_ = nullptr;

TEST_F(PgTest, ExecutesPreparedStatementsWithParametersAndNulls) {
  pg::Pool pool({*conninfo_, 2});
  auto conn = pool.Acquire();
  auto r = conn->Exec("SELECT $1::int + 1, $2::text IS NULL, 'x'::bytea", {"41", std::nullopt});
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.Int64(0, 0), 42);
  EXPECT_TRUE(r.Bool(0, 1));
  EXPECT_EQ(r.Bytes(0, 2), "x");
  // The same SQL again runs the statement prepared the first time.
  EXPECT_EQ(conn->Exec("SELECT $1::int + 1, $2::text IS NULL, 'x'::bytea", {"1", "a"}).Int64(0, 0),
            2);
}

// libpq has no client-side timeout of its own: a server that stops answering (here: a proxy
// that holds every byte) must fail the call, drop the connection and turn readiness false,
// instead of holding the caller for ever; once the path heals the pool works again. The bounds
// are generous: they tell "fails" from "hangs", they do not measure speed.
TEST_F(PgTest, ADatabaseThatStopsAnsweringFailsCallsAndReadinessAndThePoolRecovers) {
  testing::FaultProxy proxy(SharedPostgres().port());
  const std::string via_proxy = std::regex_replace(*conninfo_, std::regex("port=\\d+"),
                                                   "port=" + std::to_string(proxy.port()));
  pg::Pool pool({via_proxy, 2, std::chrono::milliseconds(2000), /*statement_timeout_ms=*/500});
  EXPECT_EQ(pool.Acquire()->Exec("SELECT 1").Int64(0, 0), 1);
  EXPECT_TRUE(pool.Ping());

  proxy.SetMode(testing::FaultProxy::Mode::kBlackhole);
  auto start = std::chrono::steady_clock::now();
  try {
    auto conn = pool.Acquire();
    conn->Exec("SELECT 2");
    ADD_FAILURE() << "a statement nobody answered succeeded";
  } catch (const pg::PgError& e) {
    EXPECT_TRUE(e.connection_lost()) << e.what();
    EXPECT_TRUE(e.unanswered()) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  start = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.Ping());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));

  proxy.SetMode(testing::FaultProxy::Mode::kPass);
  EXPECT_TRUE(pool.Ping());
  EXPECT_EQ(pool.Acquire()->Exec("SELECT 3").Int64(0, 0), 3);
}

TEST_F(PgTest, ArrayParametersRoundTrip) {
  pg::Pool pool({*conninfo_, 2});
  auto conn = pool.Acquire();
  const std::vector<std::string> texts = {"plain", "a,b", "say \"hi\"", "back\\slash", "{}"};
  auto r = conn->Exec(
      "SELECT array_length($1::text[], 1), ($1::text[])[3], ($1::text[])[4], $2::smallint[], "
      "($3::bigint[])[2] IS NULL, $4::smallint[]",
      {pg::TextArrayLiteral(texts), pg::ArrayLiteral(std::vector<int>{3, 1, 2}),
       pg::ArrayLiteral(std::vector<std::string>{"7", "NULL"}),
       pg::ArrayLiteral(std::vector<int>{})});
  EXPECT_EQ(r.Int64(0, 0), 5);
  EXPECT_EQ(r.String(0, 1), "say \"hi\"");
  EXPECT_EQ(r.String(0, 2), "back\\slash");
  EXPECT_EQ(pg::ParseIntArray(r.Text(0, 3)), (std::vector<int>{3, 1, 2}));
  EXPECT_TRUE(r.Bool(0, 4));
  EXPECT_TRUE(pg::ParseIntArray(r.Text(0, 5)).empty());
}

TEST_F(PgTest, TransactionsRollBackUnlessCommitted) {
  pg::Pool pool({*conninfo_, 2});
  {
    auto conn = pool.Acquire();
    conn->ExecScript("CREATE TABLE IF NOT EXISTS tx_test (v int PRIMARY KEY)");
  }
  try {
    pg::WithTransaction(pool, [](pg::Transaction& tx) {
      tx.Exec("INSERT INTO tx_test VALUES (1)");
      throw std::runtime_error("boom");
      return 0;
    });
  } catch (const std::runtime_error&) {
  }
  pg::WithTransaction(pool, [](pg::Transaction& tx) {
    tx.Exec("INSERT INTO tx_test VALUES (2)");
    tx.Commit();
    return 0;
  });
  auto conn = pool.Acquire();
  auto r = conn->Exec("SELECT array_agg(v ORDER BY v)::text FROM tx_test");
  EXPECT_EQ(r.String(0, 0), "{2}");
  try {
    conn->Exec("INSERT INTO tx_test VALUES (2)");
    FAIL() << "duplicate key accepted";
  } catch (const pg::PgError& e) {
    EXPECT_TRUE(e.IsUniqueViolation()) << e.what();
    EXPECT_FALSE(e.connection_lost());
  }
}

TEST_F(PgTest, PoolIsBoundedAndTimesOut) {
  pg::Pool pool({*conninfo_, 1, std::chrono::milliseconds(100)});
  auto held = pool.Acquire();
  EXPECT_EQ(pool.in_use(), 1);
  EXPECT_THROW(pool.Acquire(), pg::PoolTimeout);
}

// Two replicas schedule the same periodic job: while one runs it the other's round is skipped
// (not queued behind it), then the job is free again; a job that throws frees it too.
TEST_F(PgTest, AnExclusiveJobRunsOnOneReplicaAtATime) {
  pg::Pool replica_a({*conninfo_, 2});
  pg::Pool replica_b({*conninfo_, 2});
  std::mutex mu;
  std::condition_variable cv;
  bool a_running = false;
  bool b_tried = false;
  bool b_ran = false;
  std::thread a([&] {
    EXPECT_TRUE(pg::RunExclusively(replica_a, "test:sweep", [&] {
      std::unique_lock<std::mutex> lock(mu);
      a_running = true;
      cv.notify_all();
      cv.wait(lock, [&] { return b_tried; });
    }));
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return a_running; });
  }
  const bool b_got = pg::RunExclusively(replica_b, "test:sweep", [&] { b_ran = true; });
  // Another job's name is not held.
  EXPECT_TRUE(pg::RunExclusively(replica_b, "test:purge", [] {}));
  {
    std::lock_guard<std::mutex> lock(mu);
    b_tried = true;
  }
  cv.notify_all();
  a.join();
  EXPECT_FALSE(b_got);
  EXPECT_FALSE(b_ran);
  EXPECT_TRUE(pg::RunExclusively(replica_b, "test:sweep", [&] { b_ran = true; }));
  EXPECT_TRUE(b_ran);
  EXPECT_THROW(
      pg::RunExclusively(replica_a, "test:sweep", [] { throw std::runtime_error("job failed"); }),
      std::runtime_error);
  int runs = 0;
  EXPECT_TRUE(pg::RunExclusively(replica_b, "test:sweep", [&] { ++runs; }));
  EXPECT_EQ(runs, 1);
  // No lock is left behind on a pooled connection.
  auto conn = replica_a.Acquire();
  EXPECT_EQ(conn->Exec("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                       "database = (SELECT oid FROM pg_database WHERE datname = "
                       "current_database())")
                .Int64(0, 0),
            0);
}

TEST_F(PgTest, MigrationsApplyOnceEvenWhenReplicasStartTogether) {
  static const std::vector<Migration> kMigrations = {
      {1, "0001_a", "CREATE TABLE a (id int); INSERT INTO a VALUES (1);"},
      {2, "0002_b", "CREATE TABLE b (id int); INSERT INTO a VALUES (2);"},
  };
  std::atomic<int> applied{0};
  std::vector<std::thread> replicas;
  for (int i = 0; i < 4; ++i) {
    replicas.emplace_back([&] {
      pg::Connection conn(*conninfo_, 10000);
      applied += ApplyMigrations(conn, "mig_test", kMigrations);
    });
  }
  for (auto& t : replicas) t.join();
  EXPECT_EQ(applied.load(), 2);
  pg::Connection conn(*conninfo_, 10000);
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM mig_test.a").Int64(0, 0), 2);
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM mig_test.schema_migrations").Int64(0, 0), 2);
  EXPECT_EQ(ApplyMigrations(conn, "mig_test", kMigrations), 0);
}

TEST_F(PgTest, FailedMigrationLeavesNothingHalfApplied) {
  static const std::vector<Migration> kBroken = {
      {1, "0001_ok", "CREATE TABLE ok (id int);"},
      {2, "0002_bad", "CREATE TABLE half (id int); SELECT no_such_function();"},
  };
  pg::Connection conn(*conninfo_, 10000);
  EXPECT_THROW(ApplyMigrations(conn, "broken_test", kBroken), pg::PgError);
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM broken_test.schema_migrations").Int64(0, 0), 1);
  EXPECT_EQ(conn.Exec("SELECT to_regclass('broken_test.half') IS NULL").Bool(0, 0), true);
}

// A batch's prior answers are found by their whole keys, whatever the planner believes about
// the MSP: here its keys are not in the statistics (a new MSP, as in a bulk start), which made
// a join over the ids a scan of all the MSP's keys, its cost growing with the MSP.
TEST_F(PgTest, ABatchsPriorAnswersAreLookedUpByKeyNotByScanningTheMspsKeys) {
  pg::Connection conn(*conninfo_, 10000);
  ApplyMigrations(conn, "idem_plan", {idempotency::TableMigration(1)});
  conn.Exec("SET search_path TO idem_plan, public");
  const char* kFill =
      "INSERT INTO idempotency_keys (msp_id, request_id, method, request_hash, response) "
      "SELECT $1, 'r' || g, 'M', 'h'::bytea, 'answer'::bytea FROM generate_series(1, 3000) g";
  conn.Exec(kFill, {"known"});
  conn.Exec("ANALYZE idempotency_keys");
  conn.Exec(kFill, {"new"});
  conn.Exec("BEGIN");
  const auto prior = idempotency::FindResponses(conn, "new", {"r7", "x1", "r2999", "x2", "x3"}, "M",
                                                {"h", "h", "h", "h", "h"});
  // Heap rows an index handed over in this transaction: the two that exist, not the MSP's 3000.
  const int64_t fetched =
      conn.Exec(
              "SELECT idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relid = "
              "'idem_plan.idempotency_keys'::regclass")
          .Int64(0, 0);
  conn.Exec("ROLLBACK");
  ASSERT_EQ(prior.size(), 5u);
  EXPECT_EQ(prior[0].response, std::optional<std::string>("answer"));
  EXPECT_FALSE(prior[1].response.has_value());
  EXPECT_EQ(prior[2].response, std::optional<std::string>("answer"));
  EXPECT_FALSE(prior[3].response.has_value() || prior[4].response.has_value());
  EXPECT_LE(fetched, 5);
}

// Runs last in this binary (it restarts the shared server).
TEST_F(PgTest, ZZ_PingFollowsTheServerAndThePoolReconnects) {
  pg::Pool pool({*conninfo_, 2, std::chrono::milliseconds(500)});
  EXPECT_TRUE(pool.Ping());
  SharedPostgres().Stop();
  EXPECT_FALSE(pool.Ping());
  SharedPostgres().Start();
  EXPECT_TRUE(pool.Ping());
  auto conn = pool.Acquire();
  EXPECT_EQ(conn->Exec("SELECT 7").Int64(0, 0), 7);
}

}  // namespace
}  // namespace msp
