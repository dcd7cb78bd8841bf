#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../domain/bulk_jobs.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/bulk_jobs.pb.h"
#include "msp/customer/v1/customer.pb.h"

// SQL for bulk jobs (migrations/0013_bulk_jobs.sql): a job and its rows, the runners' leases,
// each row's outcome. Stateless: every call runs on the connection (and transaction) it is given.
namespace msp::customer {

struct BulkJobRef {
  std::string msp_id;
  std::string job_id;
};

// A row a runner has yet to write.
struct PendingRow {
  int row = 0;
  int line = 0;
  std::string request;  // serialized, as CheckedRow keeps it (the job's kind says which)
  std::vector<FieldViolation> problems;  // the dry run's: written INVALID, never sent
};

// A job a runner holds the lease of.
struct ClaimedJob {
  BulkJobRef ref;
  std::string creator;
  v1::BulkJob::State state = v1::BulkJob::RUNNING;
  v1::BulkJob::Kind kind = v1::BulkJob::CREATE_CUSTOMERS;
};

class BulkJobStore {
 public:
  // The job, VALIDATED, and its rows, in the caller's transaction (rows a statement per 1,000).
  void Insert(pg::Connection& conn, const BulkJobRef& ref, const v1::BulkJob& job,
              const CheckedFile& file) const;

  // The job with its progress and (`with_problems`) its first kBulkJobProblemsShown findings;
  // nullopt when the MSP has no such job.
  std::optional<v1::BulkJob> Find(pg::Connection& conn, const BulkJobRef& ref,
                                  bool for_update = false, bool with_problems = true) const;

  // Jobs of the MSP RUNNING or CANCELLING.
  int CountRunning(pg::Connection& conn, const std::string& msp_id) const;
  // VALIDATED -> RUNNING, with its start time.
  void Start(pg::Connection& conn, const BulkJobRef& ref) const;
  // A cancel: to `state` (CANCELLING, or CANCELLED with its end time and every row left
  // CANCELLED).
  void Cancel(pg::Connection& conn, const BulkJobRef& ref, v1::BulkJob::State state) const;

  // The runners' protocol. Claims the running job whose lease is free (none held, or expired)
  // and that was run least recently, for `owner` until `lease` from now.
  std::optional<ClaimedJob> Claim(pg::Connection& conn, const std::string& owner,
                                  std::chrono::milliseconds lease) const;
  // Extends the lease; the job's state now, or nullopt when the lease was lost (expired and
  // taken by another replica): the runner stops.
  std::optional<v1::BulkJob::State> Renew(pg::Connection& conn, const BulkJobRef& ref,
                                          const std::string& owner,
                                          std::chrono::milliseconds lease) const;
  // Gives the job up after a batch: free at once, and last in the claim order among free jobs.
  void Yield(pg::Connection& conn, const BulkJobRef& ref, const std::string& owner) const;
  // Rows without an outcome after row `after`, in order, at most `limit`.
  std::vector<PendingRow> Pending(pg::Connection& conn, const BulkJobRef& ref, int after,
                                  int limit) const;
  // Records outcomes of rows still without one, and counts them in the job's progress, in one
  // statement (a row recorded before, by a runner that lost its lease, is not counted twice).
  void Record(pg::Connection& conn, const BulkJobRef& ref,
              const std::vector<RowResult>& results) const;
  // Ends a job its runner holds: SUCCEEDED, or CANCELLED with the rows left CANCELLED; the
  // lease is released.
  void Finish(pg::Connection& conn, const BulkJobRef& ref, const std::string& owner,
              v1::BulkJob::State state) const;

  // Deletes one ended job (SUCCEEDED or CANCELLED) that ended over `retention` ago, with its
  // rows; false when there is none.
  bool PurgeOneEnded(pg::Connection& conn, std::chrono::hours retention) const;

  // Every row's result in row order, `page_rows` a query (call inside one snapshot).
  void ForEachResult(pg::Connection& conn, const BulkJobRef& ref, int page_rows,
                     const std::function<void(const RowResult&)>& fn) const;
};

}  // namespace msp::customer
