// The statement pipeline against a real PostgreSQL: many statements per round trip, each with
// its own result or error; group commit (one transaction per round trip, a failing statement
// alone); recovery after the server restarts.
#include "msp/common/pg_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "msp/common/trace.h"
#include "processes.h"

namespace msp::pg {
namespace {

std::future<Outcome> Read(StatementPipeline& reader, std::string sql, std::vector<Param> params) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto future = promise->get_future();
  reader.Submit(std::move(sql), std::move(params),
                [promise](Outcome outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

class StatementPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { conninfo_ = new std::string(testing::NewDatabase("pipeline")); }
  static std::string* conninfo_;
};
std::string* StatementPipelineTest::conninfo_ = nullptr;

TEST_F(StatementPipelineTest, ManyConcurrentReadsEachGetTheirOwnAnswer) {
  StatementPipeline reader({*conninfo_, 2});
  std::vector<std::future<Outcome>> futures;
  for (int i = 0; i < 2000; ++i) {
    futures.push_back(Read(reader, "SELECT $1::int * 2", {std::to_string(i)}));
  }
  for (int i = 0; i < 2000; ++i) {
    Outcome outcome = futures[i].get();
    ASSERT_TRUE(std::holds_alternative<Result>(outcome)) << i;
    EXPECT_EQ(std::get<Result>(outcome).Int64(0, 0), 2 * i);
  }
}

TEST_F(StatementPipelineTest, AFailingStatementFailsAlone) {
  StatementPipeline reader({*conninfo_, 1});
  auto before = Read(reader, "SELECT 1", {});
  auto syntax = Read(reader, "SELEC nonsense", {});
  auto runtime = Read(reader, "SELECT 1 / $1::int", {"0"});
  auto after = Read(reader, "SELECT $1::text", {"still fine"});
  EXPECT_EQ(std::get<Result>(before.get()).Int64(0, 0), 1);
  Outcome s = syntax.get();
  ASSERT_TRUE(std::holds_alternative<PgError>(s));
  EXPECT_EQ(std::get<PgError>(s).sqlstate(), "42601");
  Outcome r = runtime.get();
  ASSERT_TRUE(std::holds_alternative<PgError>(r));
  EXPECT_EQ(std::get<PgError>(r).sqlstate(), "22012");
  EXPECT_FALSE(std::get<PgError>(r).connection_lost());
  EXPECT_EQ(std::get<Result>(after.get()).String(0, 0), "still fine");
}

TEST_F(StatementPipelineTest, NullParametersAndSessionSettings) {
  StatementPipeline reader({*conninfo_, 1, 1234, "pg_catalog, public"});
  Outcome o = Read(reader,
                   "SELECT $1::text IS NULL, current_setting('statement_timeout'), "
                   "current_setting('search_path')",
                   {std::nullopt})
                  .get();
  ASSERT_TRUE(std::holds_alternative<Result>(o));
  EXPECT_TRUE(std::get<Result>(o).Bool(0, 0));
  EXPECT_EQ(std::get<Result>(o).String(0, 1), "1234ms");
  EXPECT_EQ(std::get<Result>(o).String(0, 2), "pg_catalog, public");
}

StatementPipeline::Options GroupCommit(const std::string& conninfo) {
  StatementPipeline::Options options{conninfo, 1};
  options.group_commit = true;
  return options;
}

// Holds the writer's one connection for a moment, so that what is submitted next queues up and
// goes in one round trip. Returns once the server runs the sleep (a fixed pause before going on
// would be a race on a loaded machine).
std::future<Outcome> HoldWriter(StatementPipeline& writer, const std::string& conninfo) {
  auto hold = Read(writer, "SELECT pg_sleep(0.5) AS hold_writer", {});
  pg::Connection watcher(conninfo, 10000);
  for (int i = 0; i < 1000; ++i) {
    if (watcher
            .Exec("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
                  "'%hold_writer%' AND pid <> pg_backend_pid()",
                  {})
            .Int64(0, 0) > 0) {
      return hold;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << "the writer never ran the hold";
  return hold;
}

TEST_F(StatementPipelineTest, GroupCommitRunsARoundTripsWritesAsOneTransaction) {
  pg::Connection conn(*conninfo_, 10000);
  conn.Exec("CREATE TABLE gc_rows (id int PRIMARY KEY, tx bigint NOT NULL)");
  StatementPipeline writer(GroupCommit(*conninfo_));
  auto hold = HoldWriter(writer, *conninfo_);
  std::vector<std::future<Outcome>> writes;
  for (int i = 0; i < 50; ++i) {
    writes.push_back(Read(writer, "INSERT INTO gc_rows VALUES ($1, txid_current()) RETURNING tx",
                          {std::to_string(i)}));
  }
  ASSERT_TRUE(std::holds_alternative<Result>(hold.get()));
  std::set<int64_t> transactions;
  for (auto& w : writes) {
    Outcome o = w.get();
    ASSERT_TRUE(std::holds_alternative<Result>(o)) << std::get<PgError>(o).what();
    transactions.insert(std::get<Result>(o).Int64(0, 0));
  }
  EXPECT_EQ(transactions.size(), 1u);
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM gc_rows").Int64(0, 0), 50);
}

TEST_F(StatementPipelineTest, GroupCommitAFailingWriteFailsAloneAndTheRestCommit) {
  pg::Connection conn(*conninfo_, 10000);
  conn.Exec("CREATE TABLE gc_unique (id int PRIMARY KEY)");
  conn.Exec("INSERT INTO gc_unique VALUES (7)");
  StatementPipeline writer(GroupCommit(*conninfo_));
  auto hold = HoldWriter(writer, *conninfo_);
  std::map<int, std::future<Outcome>> writes;
  for (int id = 1; id <= 10; ++id) {
    writes.emplace(id, Read(writer, "INSERT INTO gc_unique VALUES ($1)", {std::to_string(id)}));
  }
  hold.get();
  for (auto& [id, w] : writes) {
    Outcome o = w.get();
    if (id == 7) {
      ASSERT_TRUE(std::holds_alternative<PgError>(o));
      EXPECT_TRUE(std::get<PgError>(o).IsUniqueViolation());
      EXPECT_FALSE(std::get<PgError>(o).connection_lost());
      EXPECT_FALSE(std::get<PgError>(o).unanswered());
    } else {
      EXPECT_TRUE(std::holds_alternative<Result>(o)) << id << ": " << std::get<PgError>(o).what();
    }
  }
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM gc_unique").Int64(0, 0), 10);
}

TEST_F(StatementPipelineTest, GroupCommitAnswersOnlyAfterTheCommit) {
  pg::Connection conn(*conninfo_, 10000);
  conn.Exec("CREATE TABLE gc_visible (id int PRIMARY KEY)");
  StatementPipeline writer(GroupCommit(*conninfo_));
  auto hold = HoldWriter(writer, *conninfo_);
  std::vector<std::future<int64_t>> seen;
  for (int i = 0; i < 20; ++i) {
    auto promise = std::make_shared<std::promise<int64_t>>();
    seen.push_back(promise->get_future());
    writer.Submit(
        "INSERT INTO gc_visible VALUES ($1)", {std::to_string(i)}, [this, promise, i](Outcome o) {
          if (!std::holds_alternative<Result>(o)) {
            promise->set_value(-1);
            return;
          }
          // Another session sees the row as soon as its writer hears back.
          pg::Connection other(*conninfo_, 10000);
          promise->set_value(
              other.Exec("SELECT count(*) FROM gc_visible WHERE id = $1", {std::to_string(i)})
                  .Int64(0, 0));
        });
  }
  hold.get();
  for (auto& s : seen) EXPECT_EQ(s.get(), 1);
}

TEST_F(StatementPipelineTest, GroupCommitAStatementThatCannotBePreparedFailsAlone) {
  StatementPipeline writer(GroupCommit(*conninfo_));
  auto hold = HoldWriter(writer, *conninfo_);
  auto good = Read(writer, "SELECT $1::int + 1", {"1"});
  auto bad = Read(writer, "SELEC nonsense", {});
  auto also_good = Read(writer, "SELECT $1::text", {"fine"});
  hold.get();
  EXPECT_EQ(std::get<Result>(good.get()).Int64(0, 0), 2);
  Outcome b = bad.get();
  ASSERT_TRUE(std::holds_alternative<PgError>(b));
  EXPECT_EQ(std::get<PgError>(b).sqlstate(), "42601");
  EXPECT_EQ(std::get<Result>(also_good.get()).String(0, 0), "fine");
  // The statement stays usable after the failure was forgotten.
  EXPECT_EQ(std::get<Result>(Read(writer, "SELECT $1::int + 1", {"4"}).get()).Int64(0, 0), 5);
}

// Runs last in this binary: it restarts the shared server.
// A write runs with its submitter's trace as the transaction's kTraceparentSetting (what
// outbox rows take as their trace), also beside writes of other traces or of none in the same
// round trip, and when a failing write makes the round trip run statement by statement.
TEST_F(StatementPipelineTest, GroupCommitEachWriteCarriesItsSubmittersTrace) {
  pg::Connection conn(*conninfo_, 10000);
  conn.Exec(
      absl::StrCat("CREATE TABLE gc_traced (id int PRIMARY KEY, traceparent text NOT NULL DEFAULT "
                   "coalesce(current_setting('",
                   kTraceparentSetting, "', true), ''))"));
  conn.Exec("INSERT INTO gc_traced (id) VALUES (99)");
  const trace::Context a = trace::NewTrace();
  const trace::Context b = trace::NewTrace();
  for (bool with_failure : {false, true}) {
    conn.Exec("DELETE FROM gc_traced WHERE id <> 99");
    StatementPipeline writer(GroupCommit(*conninfo_));
    auto hold = HoldWriter(writer, *conninfo_);
    // id -> the span it was submitted in (nullptr: none)
    const std::vector<std::pair<int, const trace::Context*>> writes = {
        {1, &a}, {2, &a}, {3, nullptr}, {4, &b}, {5, nullptr}, {6, &a}};
    std::vector<std::future<Outcome>> answers;
    for (const auto& [id, span] : writes) {
      std::optional<trace::Scope> scope;
      if (span != nullptr) scope.emplace(*span);
      answers.push_back(
          Read(writer, "INSERT INTO gc_traced (id) VALUES ($1)", {std::to_string(id)}));
      if (with_failure && id == 3) {
        answers.push_back(Read(writer, "INSERT INTO gc_traced (id) VALUES (99)", {}));
      }
    }
    hold.get();
    for (auto& answer : answers) answer.wait();
    for (const auto& [id, span] : writes) {
      const auto row =
          conn.Exec("SELECT traceparent FROM gc_traced WHERE id = $1", {std::to_string(id)});
      ASSERT_EQ(row.rows(), 1) << id;
      EXPECT_EQ(row.String(0, 0), span != nullptr ? trace::Format(*span) : "")
          << "write " << id << (with_failure ? " (run alone)" : " (one transaction)");
    }
  }
}

TEST_F(StatementPipelineTest, ZZ_ReconnectsAfterTheServerRestarts) {
  StatementPipeline reader({*conninfo_, 1});
  EXPECT_EQ(std::get<Result>(Read(reader, "SELECT 5", {}).get()).Int64(0, 0), 5);
  StatementPipeline writer(GroupCommit(*conninfo_));
  EXPECT_EQ(std::get<Result>(Read(writer, "SELECT 8", {}).get()).Int64(0, 0), 8);
  testing::SharedPostgres().Stop();
  Outcome down = Read(reader, "SELECT 6", {}).get();
  ASSERT_TRUE(std::holds_alternative<PgError>(down));
  EXPECT_TRUE(std::get<PgError>(down).connection_lost());
  EXPECT_FALSE(std::get<PgError>(down).unanswered());  // a read may simply be sent again
  // A write sent on a connection that died may or may not have run: never resent.
  Outcome write_down = Read(writer, "SELECT 9", {}).get();
  ASSERT_TRUE(std::holds_alternative<PgError>(write_down));
  EXPECT_TRUE(std::get<PgError>(write_down).connection_lost());
  EXPECT_TRUE(std::get<PgError>(write_down).unanswered());
  testing::SharedPostgres().Start();
  Outcome back = Read(reader, "SELECT 7", {}).get();
  if (std::holds_alternative<PgError>(back)) back = Read(reader, "SELECT 7", {}).get();
  ASSERT_TRUE(std::holds_alternative<Result>(back)) << std::get<PgError>(back).what();
  EXPECT_EQ(std::get<Result>(back).Int64(0, 0), 7);
}

}  // namespace
}  // namespace msp::pg
