#include "bulk_job_store.h"

#include "absl/strings/str_cat.h"
#include "msp/common/timestamps.h"

namespace msp::customer {
namespace {

constexpr int kInsertBatch = 1000;

constexpr char kJobColumns[] =
    "kind, state, file_name, creator, row_count, invalid_row_count, rows_created, rows_failed, "
    "(extract(epoch from create_time) * 1000000)::bigint, "
    "(extract(epoch from start_time) * 1000000)::bigint, "
    "(extract(epoch from end_time) * 1000000)::bigint, "
    "extract(epoch from now() - start_time)";

std::string Micros(std::chrono::milliseconds d) { return std::to_string(d.count() * 1000); }

v1::BulkJob JobFromRow(const pg::Result& r, const BulkJobRef& ref) {
  v1::BulkJob job;
  job.set_name(absl::StrCat("msps/", ref.msp_id, "/bulkJobs/", ref.job_id));
  job.set_kind(static_cast<v1::BulkJob::Kind>(r.Int64(0, 0)));
  job.set_state(static_cast<v1::BulkJob::State>(r.Int64(0, 1)));
  job.set_file_name(r.String(0, 2));
  job.set_creator(r.String(0, 3));
  job.set_row_count(static_cast<int32_t>(r.Int64(0, 4)));
  job.set_invalid_row_count(static_cast<int32_t>(r.Int64(0, 5)));
  job.set_rows_created(static_cast<int32_t>(r.Int64(0, 6)));
  job.set_rows_failed(static_cast<int32_t>(r.Int64(0, 7)));
  job.set_rows_done(job.rows_created() + job.rows_failed());
  SetTimestampMicros(job.mutable_create_time(), r.Int64(0, 8));
  if (!r.IsNull(0, 9)) SetTimestampMicros(job.mutable_start_time(), r.Int64(0, 9));
  if (!r.IsNull(0, 10)) SetTimestampMicros(job.mutable_end_time(), r.Int64(0, 10));
  const bool running =
      job.state() == v1::BulkJob::RUNNING || job.state() == v1::BulkJob::CANCELLING;
  if (running && !r.IsNull(0, 11)) {
    const RunRate rate = EstimateRate(job.rows_done(), std::stod(r.String(0, 11)),
                                      job.row_count() - job.rows_done());
    job.set_rows_per_second(rate.rows_per_second);
    if (rate.time_left) job.mutable_estimated_time_left()->set_seconds(rate.time_left->count());
  }
  return job;
}

}  // namespace

void BulkJobStore::Insert(pg::Connection& conn, const BulkJobRef& ref, const v1::BulkJob& job,
                          const CheckedFile& file) const {
  conn.Exec(
      "INSERT INTO bulk_jobs (msp_id, job_id, kind, state, file_name, creator, row_count, "
      "invalid_row_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      {ref.msp_id, ref.job_id, std::to_string(job.kind()), std::to_string(v1::BulkJob::VALIDATED),
       job.file_name(), job.creator(), std::to_string(file.rows.size()),
       std::to_string(file.invalid_rows)},
      pg::Resend::kNever);
  static const std::string kRows =
      "INSERT INTO bulk_job_rows (msp_id, job_id, row_number, line, request, problems) "
      "SELECT $1, $2, r, l, q, NULLIF(p, '') "
      "FROM unnest($3::int[], $4::int[], $5::bytea[], $6::text[]) AS u(r, l, q, p)";
  for (size_t begin = 0; begin < file.rows.size(); begin += kInsertBatch) {
    const size_t end = std::min(file.rows.size(), begin + kInsertBatch);
    std::vector<int> rows, lines;
    std::vector<std::string> requests, problems;
    for (size_t i = begin; i < end; ++i) {
      const CheckedRow& row = file.rows[i];
      rows.push_back(row.row);
      lines.push_back(row.line);
      requests.push_back(pg::ToHex(row.request));
      problems.push_back(EncodeProblems(row.problems));
    }
    conn.Exec(kRows,
              {ref.msp_id, ref.job_id, pg::ArrayLiteral(rows), pg::ArrayLiteral(lines),
               pg::TextArrayLiteral(requests), pg::TextArrayLiteral(problems)},
              pg::Resend::kNever);
  }
}

std::optional<v1::BulkJob> BulkJobStore::Find(pg::Connection& conn, const BulkJobRef& ref,
                                              bool for_update, bool with_problems) const {
  static const std::string kSql =
      absl::StrCat("SELECT ", kJobColumns, " FROM bulk_jobs WHERE msp_id = $1 AND job_id = $2");
  static const std::string kSqlForUpdate = kSql + " FOR UPDATE";
  auto r = conn.Exec(for_update ? kSqlForUpdate : kSql, {ref.msp_id, ref.job_id});
  if (r.empty()) return std::nullopt;
  v1::BulkJob job = JobFromRow(r, ref);
  if (with_problems && job.invalid_row_count() > 0) {
    // The findings in row order; a row has one or a few, so this many rows are enough.
    auto p = conn.Exec(
        "SELECT row_number, line, problems FROM bulk_job_rows WHERE msp_id = $1 AND job_id = $2 "
        "AND problems IS NOT NULL ORDER BY row_number LIMIT $3",
        {ref.msp_id, ref.job_id, std::to_string(kBulkJobProblemsShown)});
    for (int i = 0; i < p.rows() && job.problems_size() < kBulkJobProblemsShown; ++i) {
      for (const auto& problem : DecodeProblems(p.Text(i, 2))) {
        if (job.problems_size() >= kBulkJobProblemsShown) break;
        auto* out = job.add_problems();
        out->set_row(static_cast<int32_t>(p.Int64(i, 0)));
        out->set_line(static_cast<int32_t>(p.Int64(i, 1)));
        out->set_field(problem.field);
        out->set_reason(problem.description);
      }
    }
  }
  return job;
}

int BulkJobStore::CountRunning(pg::Connection& conn, const std::string& msp_id) const {
  auto r =
      conn.Exec("SELECT count(*) FROM bulk_jobs WHERE msp_id = $1 AND state IN (2, 3)", {msp_id});
  return static_cast<int>(r.Int64(0, 0));
}

void BulkJobStore::Start(pg::Connection& conn, const BulkJobRef& ref) const {
  conn.Exec("UPDATE bulk_jobs SET state = $3, start_time = now() WHERE msp_id = $1 AND job_id = $2",
            {ref.msp_id, ref.job_id, std::to_string(v1::BulkJob::RUNNING)});
}

void BulkJobStore::Cancel(pg::Connection& conn, const BulkJobRef& ref,
                          v1::BulkJob::State state) const {
  if (state == v1::BulkJob::CANCELLED) {
    Finish(conn, ref, "", state);
    return;
  }
  conn.Exec("UPDATE bulk_jobs SET state = $3 WHERE msp_id = $1 AND job_id = $2",
            {ref.msp_id, ref.job_id, std::to_string(state)});
}

std::optional<ClaimedJob> BulkJobStore::Claim(pg::Connection& conn, const std::string& owner,
                                              std::chrono::milliseconds lease) const {
  static const std::string kSql =
      "UPDATE bulk_jobs j SET lease_owner = $1, "
      "lease_until = now() + $2::bigint * interval '1 microsecond' "
      "FROM (SELECT msp_id, job_id FROM bulk_jobs WHERE state IN (2, 3) "
      "AND (lease_until IS NULL OR lease_until < now()) "
      "ORDER BY lease_until NULLS FIRST, start_time LIMIT 1 FOR UPDATE SKIP LOCKED) free "
      "WHERE j.msp_id = free.msp_id AND j.job_id = free.job_id "
      "RETURNING j.msp_id, j.job_id, j.creator, j.state, j.kind";
  auto r = conn.Exec(kSql, {owner, Micros(lease)}, pg::Resend::kNever);
  if (r.empty()) return std::nullopt;
  return ClaimedJob{{r.String(0, 0), r.String(0, 1)},
                    r.String(0, 2),
                    static_cast<v1::BulkJob::State>(r.Int64(0, 3)),
                    static_cast<v1::BulkJob::Kind>(r.Int64(0, 4))};
}

std::optional<v1::BulkJob::State> BulkJobStore::Renew(pg::Connection& conn, const BulkJobRef& ref,
                                                      const std::string& owner,
                                                      std::chrono::milliseconds lease) const {
  auto r = conn.Exec(
      "UPDATE bulk_jobs SET lease_until = now() + $4::bigint * interval '1 microsecond' "
      "WHERE msp_id = $1 AND job_id = $2 AND lease_owner = $3 AND state IN (2, 3) "
      "RETURNING state",
      {ref.msp_id, ref.job_id, owner, Micros(lease)});
  if (r.empty()) return std::nullopt;
  return static_cast<v1::BulkJob::State>(r.Int64(0, 0));
}

void BulkJobStore::Yield(pg::Connection& conn, const BulkJobRef& ref,
                         const std::string& owner) const {
  conn.Exec(
      "UPDATE bulk_jobs SET lease_until = now() WHERE msp_id = $1 AND job_id = $2 AND "
      "lease_owner = $3",
      {ref.msp_id, ref.job_id, owner});
}

std::vector<PendingRow> BulkJobStore::Pending(pg::Connection& conn, const BulkJobRef& ref,
                                              int after, int limit) const {
  auto r = conn.Exec(
      "SELECT row_number, line, request, problems FROM bulk_job_rows WHERE msp_id = $1 AND "
      "job_id = $2 AND row_number > $3 AND outcome IS NULL ORDER BY row_number LIMIT $4",
      {ref.msp_id, ref.job_id, std::to_string(after), std::to_string(limit)});
  std::vector<PendingRow> out(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    auto& row = out[static_cast<size_t>(i)];
    row.row = static_cast<int>(r.Int64(i, 0));
    row.line = static_cast<int>(r.Int64(i, 1));
    row.request = r.Bytes(i, 2);
    if (!r.IsNull(i, 3)) row.problems = DecodeProblems(r.Text(i, 3));
  }
  return out;
}

void BulkJobStore::Record(pg::Connection& conn, const BulkJobRef& ref,
                          const std::vector<RowResult>& results) const {
  if (results.empty()) return;
  static const std::string kSql =
      "WITH done AS ("
      " UPDATE bulk_job_rows r SET outcome = u.o, customer_id = NULLIF(u.c, ''),"
      " error_field = NULLIF(u.f, ''), error = NULLIF(u.e, '')"
      " FROM unnest($3::int[], $4::smallint[], $5::text[], $6::text[], $7::text[])"
      " AS u(n, o, c, f, e)"
      " WHERE r.msp_id = $1 AND r.job_id = $2 AND r.row_number = u.n AND r.outcome IS NULL"
      " RETURNING u.o) "
      "UPDATE bulk_jobs SET rows_created = rows_created + (SELECT count(*) FROM done WHERE o = 1),"
      " rows_failed = rows_failed + (SELECT count(*) FROM done WHERE o <> 1) "
      "WHERE msp_id = $1 AND job_id = $2";
  std::vector<int> rows, outcomes;
  std::vector<std::string> customers, fields, errors;
  for (const auto& result : results) {
    rows.push_back(result.row);
    outcomes.push_back(static_cast<int>(result.outcome));
    customers.push_back(result.customer_id);
    // Invalid rows keep their findings in `problems`; a refused write has one reason.
    const bool failed = result.outcome == RowOutcome::kFailed && !result.problems.empty();
    fields.push_back(failed ? result.problems.front().field : "");
    errors.push_back(failed ? result.problems.front().description : "");
  }
  conn.Exec(kSql, {ref.msp_id, ref.job_id, pg::ArrayLiteral(rows), pg::ArrayLiteral(outcomes),
                   pg::TextArrayLiteral(customers), pg::TextArrayLiteral(fields),
                   pg::TextArrayLiteral(errors)});
}

void BulkJobStore::Finish(pg::Connection& conn, const BulkJobRef& ref, const std::string& owner,
                          v1::BulkJob::State state) const {
  if (state == v1::BulkJob::CANCELLED) {
    conn.Exec(
        "WITH left_out AS (UPDATE bulk_job_rows SET outcome = $3 WHERE msp_id = $1 AND job_id = $2"
        " AND outcome IS NULL RETURNING 1) "
        "UPDATE bulk_jobs SET rows_failed = rows_failed + (SELECT count(*) FROM left_out) "
        "WHERE msp_id = $1 AND job_id = $2",
        {ref.msp_id, ref.job_id, std::to_string(static_cast<int>(RowOutcome::kCancelled))});
  }
  conn.Exec(
      "UPDATE bulk_jobs SET state = $3, end_time = now(), lease_owner = NULL, lease_until = NULL "
      "WHERE msp_id = $1 AND job_id = $2 AND ($4 = '' OR lease_owner = $4)",
      {ref.msp_id, ref.job_id, std::to_string(state), owner});
}

bool BulkJobStore::PurgeOneEnded(pg::Connection& conn, std::chrono::hours retention) const {
  auto r = conn.Exec(
      "WITH gone AS (DELETE FROM bulk_jobs WHERE (msp_id, job_id) IN (SELECT msp_id, job_id FROM "
      "bulk_jobs WHERE state IN (4, 5) AND end_time < now() - $1::bigint * interval '1 hour' "
      "LIMIT 1) RETURNING msp_id, job_id), "
      "rows_gone AS (DELETE FROM bulk_job_rows r USING gone WHERE r.msp_id = gone.msp_id AND "
      "r.job_id = gone.job_id) "
      "SELECT count(*) FROM gone",
      {std::to_string(retention.count())});
  return r.Int64(0, 0) > 0;
}

void BulkJobStore::ForEachResult(pg::Connection& conn, const BulkJobRef& ref, int page_rows,
                                 const std::function<void(const RowResult&)>& fn) const {
  int after = 0;
  for (;;) {
    auto r = conn.Exec(
        "SELECT row_number, line, outcome, customer_id, problems, error_field, error "
        "FROM bulk_job_rows WHERE msp_id = $1 AND job_id = $2 AND row_number > $3 "
        "ORDER BY row_number LIMIT $4",
        {ref.msp_id, ref.job_id, std::to_string(after), std::to_string(page_rows)});
    for (int i = 0; i < r.rows(); ++i) {
      RowResult result;
      result.row = static_cast<int>(r.Int64(i, 0));
      result.line = static_cast<int>(r.Int64(i, 1));
      result.outcome =
          r.IsNull(i, 2) ? RowOutcome::kPending : static_cast<RowOutcome>(r.Int64(i, 2));
      if (!r.IsNull(i, 3)) result.customer_id = r.String(i, 3);
      if (!r.IsNull(i, 4)) {
        // A row the dry run found wrong is INVALID whatever became of the job.
        result.outcome = RowOutcome::kInvalid;
        result.problems = DecodeProblems(r.Text(i, 4));
      } else if (!r.IsNull(i, 6)) {
        result.problems.push_back({r.IsNull(i, 5) ? "" : r.String(i, 5), r.String(i, 6)});
      }
      fn(result);
      after = result.row;
    }
    if (r.rows() < page_rows) return;
  }
}

}  // namespace msp::customer
