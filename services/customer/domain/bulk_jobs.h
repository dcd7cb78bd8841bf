#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "domain/customer_rules.h"
#include "domain/import_rows.h"
#include "domain/invite_rows.h"
#include "msp/common/errors.h"
#include "msp/customer/v1/bulk_jobs.pb.h"

// Bulk jobs' rules (BulkJobService): what a file may hold, the dry run as a whole, the lifecycle
// of a job, each row's outcome and how it reads in the result CSV, and the progress a caller
// sees. No storage and no gRPC here.
namespace msp::customer {

inline constexpr int kMaxBulkJobRows = 100000;
inline constexpr size_t kMaxBulkJobFileBytes = size_t{64} << 20;
// Findings a BulkJob message carries (the result CSV has them all).
inline constexpr int kBulkJobProblemsShown = 1000;
inline constexpr size_t kMaxBulkJobFileNameChars = 200;

// What became of a row; stored as its number.
enum class RowOutcome { kPending = 0, kCreated = 1, kFailed = 2, kInvalid = 3, kCancelled = 4 };
// kCreated is INVITED in an INVITE_CUSTOMERS job.
std::string_view RowOutcomeName(RowOutcome outcome, v1::BulkJob::Kind kind);

// The dry run of a whole file: every row with its problems (none: the run writes it). Throws
// ApiError INVALID_ARGUMENT (field `chunk`) when the file cannot be read as a whole: not UTF-8, a
// quote left open, unknown or missing columns, no rows, more than kMaxBulkJobRows rows.
// A row as a job keeps it: its CreateCustomerRequest serialized (a few hundred bytes, where the
// message itself takes over a KiB), its findings, and the Knox Manage tenant id it would take.
struct CheckedRow {
  int row = 0;
  int line = 0;
  // A serialized v1::CreateCustomerRequest (normalised), or onboarding's
  // CreateInvitationRequest (INVITE_CUSTOMERS).
  std::string request;
  std::vector<FieldViolation> problems;
  std::string tenant_id;    // the Knox Manage tenant id it would make; "" when none
  std::string customer_id;  // INVITE_CUSTOMERS: the customer it invites
};
struct CheckedFile {
  std::vector<CheckedRow> rows;
  int invalid_rows = 0;
};
CheckedFile CheckImportFile(std::string_view text, const FreeMailDomains& free_mail);
// The same for a file of invitations (InviteColumns()): each row's request alone, and a
// customer two rows invite.
CheckedFile CheckInviteFile(std::string_view text);
// The one the job's kind reads.
CheckedFile CheckBulkFile(v1::BulkJob::Kind kind, std::string_view text,
                          const FreeMailDomains& free_mail);

// The dry run of invitations against the customers as stored: the ids of the customers the
// file's valid rows invite, then the checks of each such row against its customer
// (CheckInviteTarget; `targets` by customer id, a missing one does not exist) and the Knox
// Manage tenant ids two rows would both make.
std::vector<std::string> CustomersToInvite(const CheckedFile& file);
void MarkInviteTargets(CheckedFile& file, const std::string& msp_id,
                       const std::map<std::string, InviteTarget>& targets,
                       const FreeMailDomains& free_mail);

// The dry run's check against the tenants that exist: the Knox Manage tenant ids the file's
// valid rows would create, and a problem for each row whose id another customer has already.
std::vector<std::string> TenantIdsToCheck(const CheckedFile& file);
void MarkTakenTenantIds(CheckedFile& file, const std::set<std::string>& taken);

// The findings of `rows` for a BulkJob message: in row order, at most `limit`.
void AddProblems(const std::vector<CheckedRow>& rows, int limit, v1::BulkJob& job);

// A row's problems as the store keeps them: a "field<TAB>reason" line each.
std::string EncodeProblems(const std::vector<FieldViolation>& problems);
std::vector<FieldViolation> DecodeProblems(std::string_view text);

// The request id a row is written under: one customer per job and row, whatever retries or
// resumes come between. It names the row (`bulkJobs/{job}/rows/{row}`), so the customer's trail
// names the job; the '/' keeps it out of the ids an MSP may choose.
std::string RowRequestId(const std::string& job_id, int row);

// One row of the result.
struct RowResult {
  int row = 0;
  int line = 0;
  RowOutcome outcome = RowOutcome::kPending;
  std::string customer_id;               // kCreated: the customer created or invited
  std::vector<FieldViolation> problems;  // kInvalid: the dry run's; kFailed: the refusal
};
// The result CSV: `row,line,outcome,customer_id,field,reason`, CRLF line ends, cells as the
// export writes them (msp::CsvCell). A row with several problems has a line for each.
const std::string& ResultCsvHeader();
void AppendResultLines(std::string& out, const RowResult& row, v1::BulkJob::Kind kind);

// Why a row the store refused failed, as its result says it: the first field the error names
// (INVALID_ARGUMENT), else its reason and message.
FieldViolation FailureOf(const ApiError& error, v1::BulkJob::Kind kind);

// Lifecycle. Runs only from VALIDATED; RUNNING or ended: the caller answers the operation as it
// is. FAILED_PRECONDITION otherwise (never: every state is one of those).
bool MayStart(v1::BulkJob::State state);
// The state a cancel leaves: VALIDATED ends at once (CANCELLED), RUNNING goes CANCELLING until
// the rows in flight finish; CANCELLING and ended jobs stay as they are.
v1::BulkJob::State StateAfterCancel(v1::BulkJob::State state);
bool HasEnded(v1::BulkJob::State state);

// The run's rate since it started (restarts, and the other jobs it shares the runners with,
// included: what the caller waits through), and the time left at that rate (none until a row is
// done).
struct RunRate {
  double rows_per_second = 0;
  std::optional<std::chrono::seconds> time_left;
};
RunRate EstimateRate(int rows_done, double seconds_running, int rows_left);

}  // namespace msp::customer
