// The pipelined reader against a real PostgreSQL: many statements per round trip, each with
// its own result or error, and recovery after the server restarts.
#include "msp/common/pg_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "processes.h"

namespace msp::pg {
namespace {

std::future<Outcome> Read(PipelinedReader& reader, std::string sql, std::vector<Param> params) {
  auto promise = std::make_shared<std::promise<Outcome>>();
  auto future = promise->get_future();
  reader.Submit(std::move(sql), std::move(params),
                [promise](Outcome outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

class PipelinedReaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { conninfo_ = new std::string(testing::NewDatabase("pipeline")); }
  static std::string* conninfo_;
};
std::string* PipelinedReaderTest::conninfo_ = nullptr;

TEST_F(PipelinedReaderTest, ManyConcurrentReadsEachGetTheirOwnAnswer) {
  PipelinedReader reader({*conninfo_, 2});
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

TEST_F(PipelinedReaderTest, AFailingStatementFailsAlone) {
  PipelinedReader reader({*conninfo_, 1});
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

TEST_F(PipelinedReaderTest, NullParametersAndSessionSettings) {
  PipelinedReader reader({*conninfo_, 1, 1234, "pg_catalog, public"});
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

// Runs last in this binary: it restarts the shared server.
TEST_F(PipelinedReaderTest, ZZ_ReconnectsAfterTheServerRestarts) {
  PipelinedReader reader({*conninfo_, 1});
  EXPECT_EQ(std::get<Result>(Read(reader, "SELECT 5", {}).get()).Int64(0, 0), 5);
  testing::SharedPostgres().Stop();
  Outcome down = Read(reader, "SELECT 6", {}).get();
  ASSERT_TRUE(std::holds_alternative<PgError>(down));
  EXPECT_TRUE(std::get<PgError>(down).connection_lost());
  testing::SharedPostgres().Start();
  Outcome back = Read(reader, "SELECT 7", {}).get();
  if (std::holds_alternative<PgError>(back)) back = Read(reader, "SELECT 7", {}).get();
  ASSERT_TRUE(std::holds_alternative<Result>(back)) << std::get<PgError>(back).what();
  EXPECT_EQ(std::get<Result>(back).Int64(0, 0), 7);
}

}  // namespace
}  // namespace msp::pg
