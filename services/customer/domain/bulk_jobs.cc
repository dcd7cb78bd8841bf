#include "domain/bulk_jobs.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "domain/csv_reader.h"
#include "msp/common/csv_cell.h"

namespace msp::customer {
namespace {

// A file's problem as the upload answers it: the file is the request's `chunk` field.
ApiError UnreadableFile(std::string description) {
  return ApiError::InvalidArgument({{"chunk", std::move(description)}}, "UNREADABLE_FILE");
}

}  // namespace

std::string_view RowOutcomeName(RowOutcome outcome, v1::BulkJob::Kind kind) {
  switch (outcome) {
    case RowOutcome::kPending:
      return "PENDING";
    case RowOutcome::kCreated:
      return kind == v1::BulkJob::INVITE_CUSTOMERS ? "INVITED" : "CREATED";
    case RowOutcome::kFailed:
      return "FAILED";
    case RowOutcome::kInvalid:
      return "INVALID";
    case RowOutcome::kCancelled:
      return "CANCELLED";
  }
  return "PENDING";
}

namespace {

// Reads the file a record at a time: each is parsed, checked and kept compact before the next
// is read, so that a 100,000-row file is never held as a table of cells nor as request
// messages. `check_row` makes a row of a record (the header matched by `columns`).
CheckedFile CheckFile(
    std::string_view text, const std::vector<ImportColumn>& columns,
    const std::function<CheckedRow(const ImportHeader&, CsvRecord&&, int)>& check_row) {
  if (text.empty()) throw UnreadableFile("the file is empty");
  if (text.size() > kMaxBulkJobFileBytes) {
    throw UnreadableFile(absl::StrCat("at most ", kMaxBulkJobFileBytes >> 20, " MiB"));
  }
  std::optional<ImportHeader> header;
  CheckedFile out;
  int number = 0;
  const auto error = ReadCsvRecords(text, [&](CsvRecord&& record) {
    if (!header) {
      header = MatchTemplateHeader(columns, CsvHeaderNames(std::move(record.fields)));
      if (!header->problems.empty()) {
        // Named by column: the header is what the caller fixes.
        std::vector<FieldViolation> violations;
        for (const auto& p : header->problems) {
          violations.push_back({"chunk", absl::StrCat("column ", p.field, ": ", p.description)});
        }
        throw ApiError::InvalidArgument(std::move(violations), "UNREADABLE_FILE");
      }
      return;
    }
    if (++number > kMaxBulkJobRows) {
      throw UnreadableFile(absl::StrCat("at most ", kMaxBulkJobRows, " rows a job"));
    }
    CheckedRow& kept = out.rows.emplace_back(check_row(*header, std::move(record), number));
    if (!kept.problems.empty()) ++out.invalid_rows;
  });
  if (error) throw UnreadableFile(absl::StrCat("line ", error->line, ": ", error->message));
  if (out.rows.empty()) throw UnreadableFile("the file has a header and no rows");
  return out;
}

// A parsed and checked row as the job keeps it (ImportRow, InviteRow).
template <typename Row>
CheckedRow Kept(Row& row) {
  CheckedRow kept;
  kept.row = row.row;
  kept.line = row.line;
  kept.problems = std::move(row.problems);
  kept.request = row.request.SerializeAsString();
  return kept;
}

}  // namespace

CheckedFile CheckImportFile(std::string_view text, const FreeMailDomains& free_mail) {
  RowChecker checker(free_mail);
  return CheckFile(text, ImportColumns(),
                   [&](const ImportHeader& header, CsvRecord&& record, int number) {
                     ImportRow row = ParseImportRow(header, record, number);
                     checker.Check(row);
                     CheckedRow kept = Kept(row);
                     if (kept.problems.empty()) {
                       if (auto tenant = RequestedTenantId(row.request))
                         kept.tenant_id = std::move(*tenant);
                     }
                     return kept;
                   });
}

CheckedFile CheckInviteFile(std::string_view text) {
  InviteRowChecker checker;
  return CheckFile(text, InviteColumns(),
                   [&](const ImportHeader& header, CsvRecord&& record, int number) {
                     InviteRow row = ParseInviteRow(header, record, number);
                     checker.Check(row);
                     CheckedRow kept = Kept(row);
                     kept.customer_id = row.request.customer_id();
                     return kept;
                   });
}

CheckedFile CheckBulkFile(v1::BulkJob::Kind kind, std::string_view text,
                          const FreeMailDomains& free_mail) {
  return kind == v1::BulkJob::INVITE_CUSTOMERS ? CheckInviteFile(text)
                                               : CheckImportFile(text, free_mail);
}

std::vector<std::string> CustomersToInvite(const CheckedFile& file) {
  std::vector<std::string> ids;
  for (const auto& row : file.rows) {
    if (row.problems.empty() && !row.customer_id.empty()) ids.push_back(row.customer_id);
  }
  return ids;
}

void MarkInviteTargets(CheckedFile& file, const std::string& msp_id,
                       const std::map<std::string, InviteTarget>& targets,
                       const FreeMailDomains& free_mail) {
  std::map<std::string, int> tenant_taken_by;  // Knox Manage tenant id -> row
  for (auto& row : file.rows) {
    if (!row.problems.empty() || row.customer_id.empty()) continue;
    onboarding::v1::CreateInvitationRequest request;
    request.ParseFromString(row.request);
    const auto found = targets.find(row.customer_id);
    row.tenant_id =
        CheckInviteTarget(request, msp_id, found == targets.end() ? nullptr : &found->second,
                          free_mail, row.problems);
    if (!row.tenant_id.empty()) {
      const auto [taken, free] = tenant_taken_by.emplace(row.tenant_id, row.row);
      if (!free) {
        row.problems.push_back(
            {"knox_manage_tenant_prefix",
             absl::StrCat("Knox Manage tenant id ", row.tenant_id, " is row ", taken->second,
                          "'s: give this row a prefix of its own")});
      }
    }
    if (!row.problems.empty()) {
      row.tenant_id.clear();
      ++file.invalid_rows;
    }
  }
}

std::vector<std::string> TenantIdsToCheck(const CheckedFile& file) {
  std::vector<std::string> ids;
  for (const auto& row : file.rows) {
    if (row.problems.empty() && !row.tenant_id.empty()) ids.push_back(row.tenant_id);
  }
  return ids;
}

void MarkTakenTenantIds(CheckedFile& file, const std::set<std::string>& taken) {
  if (taken.empty()) return;
  for (auto& row : file.rows) {
    if (!row.problems.empty() || row.tenant_id.empty() || !taken.contains(row.tenant_id)) continue;
    row.problems.push_back({"knox_manage_tenant_prefix",
                            absl::StrCat("Knox Manage tenant id ", row.tenant_id,
                                         " exists already: give this row a prefix of its own")});
    ++file.invalid_rows;
  }
}

void AddProblems(const std::vector<CheckedRow>& rows, int limit, v1::BulkJob& job) {
  for (const auto& row : rows) {
    for (const auto& problem : row.problems) {
      if (job.problems_size() >= limit) return;
      auto* out = job.add_problems();
      out->set_row(row.row);
      out->set_line(row.line);
      out->set_field(problem.field);
      out->set_reason(problem.description);
    }
  }
}

std::string EncodeProblems(const std::vector<FieldViolation>& problems) {
  std::string out;
  for (const auto& p : problems) {
    // A tab or line break inside would split the record: the reasons are ours, but a field
    // may echo a header the caller wrote.
    auto clean = [](std::string text) {
      std::replace_if(
          text.begin(), text.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
      return text;
    };
    absl::StrAppend(&out, clean(p.field), "\t", clean(p.description), "\n");
  }
  return out;
}

std::vector<FieldViolation> DecodeProblems(std::string_view text) {
  std::vector<FieldViolation> out;
  const std::string copy(text);
  for (absl::string_view piece : absl::StrSplit(copy, '\n', absl::SkipEmpty())) {
    const std::string_view line(piece.data(), piece.size());
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) {
      out.push_back({"", std::string(line)});
    } else {
      out.push_back({std::string(line.substr(0, tab)), std::string(line.substr(tab + 1))});
    }
  }
  return out;
}

std::string RowRequestId(const std::string& job_id, int row) {
  return absl::StrCat("bulkJobs/", job_id, "/rows/", row);
}

const std::string& ResultCsvHeader() {
  static const std::string kHeader = "row,line,outcome,customer_id,field,reason\r\n";
  return kHeader;
}

void AppendResultLines(std::string& out, const RowResult& row, v1::BulkJob::Kind kind) {
  auto line = [&](const FieldViolation* problem) {
    absl::StrAppend(&out, row.row, ",", row.line, ",",
                    std::string(RowOutcomeName(row.outcome, kind)), ",");
    AppendCsvCell(out, row.customer_id);
    out += ',';
    if (problem != nullptr) {
      AppendCsvCell(out, problem->field);
      out += ',';
      AppendCsvCell(out, problem->description);
    } else {
      out += ',';
    }
    out += "\r\n";
  };
  if (row.problems.empty()) {
    line(nullptr);
    return;
  }
  for (const auto& problem : row.problems) line(&problem);
}

FieldViolation FailureOf(const ApiError& error, v1::BulkJob::Kind kind) {
  if (!error.field_violations().empty()) {
    const auto& first = error.field_violations().front();
    const std::string column = kind == v1::BulkJob::INVITE_CUSTOMERS ? InviteColumnOf(first.field)
                                                                     : ImportColumnOf(first.field);
    return {column.empty() ? first.field : column, first.description};
  }
  return {"", absl::StrCat(error.reason(), ": ", error.what())};
}

bool MayStart(v1::BulkJob::State state) { return state == v1::BulkJob::VALIDATED; }

v1::BulkJob::State StateAfterCancel(v1::BulkJob::State state) {
  switch (state) {
    case v1::BulkJob::VALIDATED:
      return v1::BulkJob::CANCELLED;
    case v1::BulkJob::RUNNING:
      return v1::BulkJob::CANCELLING;
    default:
      return state;
  }
}

bool HasEnded(v1::BulkJob::State state) {
  return state == v1::BulkJob::SUCCEEDED || state == v1::BulkJob::CANCELLED;
}

RunRate EstimateRate(int rows_done, double seconds_running, int rows_left) {
  RunRate out;
  if (rows_done <= 0 || seconds_running <= 0) return out;
  out.rows_per_second = rows_done / seconds_running;
  out.time_left = std::chrono::seconds(
      static_cast<int64_t>(std::ceil(std::max(rows_left, 0) / out.rows_per_second)));
  return out;
}

}  // namespace msp::customer
