// The bulk job store's protocol against a real PostgreSQL with the service's migrations: a job
// and its rows, the runners' leases (one holder, taken over after expiry), outcomes counted
// once however often recorded, a cancel, results in row order, and the purge of ended jobs.
#include "store/bulk_job_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "msp/common/migrations.h"
#include "processes.h"
#include "store/customer_store.h"
#include "testdata/bulk_import_files.h"

namespace msp::customer {
namespace {

using std::chrono::milliseconds;

class BulkJobStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    conninfo_ = new std::string(testing::NewDatabase("bulk_jobs"));
    pg::Connection conn(*conninfo_, 10000);
    ApplyMigrations(conn, "customer", CustomerSchemaMigrations());
  }
  static void TearDownTestSuite() { delete conninfo_; }

  pg::Connection Connect() const { return pg::Connection(*conninfo_, 10000, "customer, public"); }

  // A job of `rows` valid rows and one invalid row (the last), VALIDATED.
  BulkJobRef NewJob(pg::Connection& conn, const std::string& msp, int rows) {
    const BulkJobRef ref{msp, NewCustomerId()};
    std::string file = testdata::ValidBulkCsv(ref.job_id, rows);
    file += testdata::BulkCsvRow("Bad GmbH", "not-an-email");
    const CheckedFile checked = CheckImportFile(file, FreeMailDomains());
    v1::BulkJob job;
    job.set_kind(v1::BulkJob::CREATE_CUSTOMERS);
    job.set_file_name("f.csv");
    job.set_creator("msp-admin:test");
    store_.Insert(conn, ref, job, checked);
    return ref;
  }

  static std::string* conninfo_;
  BulkJobStore store_;
};

std::string* BulkJobStoreTest::conninfo_ = nullptr;

TEST_F(BulkJobStoreTest, AJobIsStoredWithItsRowsAndFindings) {
  auto conn = Connect();
  const BulkJobRef ref = NewJob(conn, "store-a", 3);
  const auto job = store_.Find(conn, ref);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->name(), absl::StrCat("msps/store-a/bulkJobs/", ref.job_id));
  EXPECT_EQ(job->state(), v1::BulkJob::VALIDATED);
  EXPECT_EQ(job->row_count(), 4);
  EXPECT_EQ(job->invalid_row_count(), 1);
  ASSERT_EQ(job->problems_size(), 1);
  EXPECT_EQ(job->problems(0).row(), 4);
  EXPECT_EQ(job->problems(0).field(), "work_email");
  // Another MSP has no such job.
  EXPECT_FALSE(store_.Find(conn, {"store-b", ref.job_id}).has_value());
  const auto pending = store_.Pending(conn, ref, 0, 10);
  ASSERT_EQ(pending.size(), 4u);
  v1::CreateCustomerRequest first;
  ASSERT_TRUE(first.ParseFromString(pending[0].request));
  EXPECT_EQ(first.customer().company().display_name(), absl::StrCat(ref.job_id, " 1 GmbH"));
  EXPECT_TRUE(pending[0].problems.empty());
  EXPECT_EQ(pending[3].problems.size(), 1u);
}

TEST_F(BulkJobStoreTest, OneRunnerHoldsAJobUntilItsLeaseRunsOut) {
  auto conn = Connect();
  const BulkJobRef ref = NewJob(conn, "store-lease", 2);
  // Not started: nothing to claim (the other tests' jobs never run).
  EXPECT_FALSE(store_.Claim(conn, "runner-a", milliseconds(300)).has_value());
  store_.Start(conn, ref);
  const auto claimed = store_.Claim(conn, "runner-a", milliseconds(300));
  ASSERT_TRUE(claimed.has_value());
  ASSERT_EQ(claimed->ref.job_id, ref.job_id);
  EXPECT_EQ(claimed->creator, "msp-admin:test");
  // Held: another runner does not get it; its holder renews it.
  EXPECT_FALSE(store_.Claim(conn, "runner-b", milliseconds(300)).has_value());
  EXPECT_EQ(store_.Renew(conn, ref, "runner-a", milliseconds(300)), v1::BulkJob::RUNNING);
  EXPECT_FALSE(store_.Renew(conn, ref, "runner-b", milliseconds(300)).has_value());
  // Expired: the next runner takes it, and the first one's renewal says it lost it.
  std::this_thread::sleep_for(milliseconds(400));
  const auto taken = store_.Claim(conn, "runner-b", milliseconds(60000));
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->ref.job_id, ref.job_id);
  EXPECT_FALSE(store_.Renew(conn, ref, "runner-a", milliseconds(300)).has_value());
  // A cancel reaches its holder at the next renewal.
  store_.Cancel(conn, ref, v1::BulkJob::CANCELLING);
  EXPECT_EQ(store_.Renew(conn, ref, "runner-b", milliseconds(60000)), v1::BulkJob::CANCELLING);
  store_.Finish(conn, ref, "runner-b", v1::BulkJob::CANCELLED);
  const auto job = store_.Find(conn, ref);
  EXPECT_EQ(job->state(), v1::BulkJob::CANCELLED);
  EXPECT_EQ(job->rows_failed(), 3);  // every row left CANCELLED
  EXPECT_TRUE(job->has_end_time());
}

// Runners give a job up after each batch and take the job run least recently: every running job
// gets its turns, whichever MSP's and however long the others.
TEST_F(BulkJobStoreTest, RunningJobsTakeTurns) {
  auto conn = Connect();
  const BulkJobRef first = NewJob(conn, "store-turns-a", 2);
  const BulkJobRef second = NewJob(conn, "store-turns-b", 2);
  store_.Start(conn, first);
  store_.Start(conn, second);
  std::vector<std::string> turns;
  for (int i = 0; i < 4; ++i) {
    const auto claimed = store_.Claim(conn, "runner", milliseconds(60000));
    ASSERT_TRUE(claimed.has_value());
    turns.push_back(claimed->ref.msp_id);
    store_.Yield(conn, claimed->ref, "runner");
  }
  EXPECT_EQ(turns, (std::vector<std::string>{"store-turns-a", "store-turns-b", "store-turns-a",
                                             "store-turns-b"}));
  // Only its holder gives a job up.
  const auto held = store_.Claim(conn, "runner", milliseconds(60000));
  ASSERT_TRUE(held.has_value());
  store_.Yield(conn, held->ref, "someone-else");
  const auto next = store_.Claim(conn, "runner-2", milliseconds(60000));
  ASSERT_TRUE(next.has_value());
  EXPECT_NE(next->ref.job_id, held->ref.job_id);
  store_.Finish(conn, first, "", v1::BulkJob::CANCELLED);
  store_.Finish(conn, second, "", v1::BulkJob::CANCELLED);
}

TEST_F(BulkJobStoreTest, AnOutcomeRecordedTwiceIsCountedOnce) {
  auto conn = Connect();
  const BulkJobRef ref = NewJob(conn, "store-record", 3);
  const std::vector<RowResult> first = {{1, 2, RowOutcome::kCreated, "aaaaaaaaaa", {}},
                                        {2, 3, RowOutcome::kFailed, "", {{"phone", "bad"}}}};
  store_.Record(conn, ref, first);
  // A runner that lost its lease records the same rows again (and one more).
  std::vector<RowResult> again = first;
  again.push_back({3, 4, RowOutcome::kCreated, "bbbbbbbbbb", {}});
  store_.Record(conn, ref, again);
  const auto job = store_.Find(conn, ref);
  EXPECT_EQ(job->rows_created(), 2);
  EXPECT_EQ(job->rows_failed(), 1);
  EXPECT_EQ(job->rows_done(), 3);
  const auto pending = store_.Pending(conn, ref, 0, 10);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].row, 4);
  std::string csv = ResultCsvHeader();
  store_.ForEachResult(conn, ref, 2, [&](const RowResult& r) {
    AppendResultLines(csv, r, v1::BulkJob::CREATE_CUSTOMERS);
  });
  EXPECT_EQ(csv,
            "row,line,outcome,customer_id,field,reason\r\n"
            "1,2,CREATED,aaaaaaaaaa,,\r\n"
            "2,3,FAILED,,phone,bad\r\n"
            "3,4,CREATED,bbbbbbbbbb,,\r\n"
            "4,5,INVALID,,work_email,"
            "must be an email address such as name@company.com\r\n");
}

TEST_F(BulkJobStoreTest, EndedJobsArePurgedAfterTheirRetention) {
  auto conn = Connect();
  const BulkJobRef old_job = NewJob(conn, "store-purge", 2);
  const BulkJobRef recent = NewJob(conn, "store-purge", 2);
  const BulkJobRef waiting = NewJob(conn, "store-purge", 2);
  store_.Finish(conn, old_job, "", v1::BulkJob::SUCCEEDED);
  store_.Finish(conn, recent, "", v1::BulkJob::SUCCEEDED);
  conn.Exec("UPDATE bulk_jobs SET end_time = now() - interval '31 days' WHERE job_id = $1",
            {old_job.job_id});
  while (store_.PurgeOneEnded(conn, std::chrono::hours(24 * 30))) {
  }
  EXPECT_FALSE(store_.Find(conn, old_job).has_value());
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM bulk_job_rows WHERE job_id = $1", {old_job.job_id})
                .Int64(0, 0),
            0);
  EXPECT_TRUE(store_.Find(conn, recent).has_value());
  EXPECT_TRUE(store_.Find(conn, waiting).has_value());
}

}  // namespace
}  // namespace msp::customer
