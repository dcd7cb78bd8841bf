#include "domain/bulk_jobs.h"

#include <algorithm>
#include <cmath>

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

std::string_view RowOutcomeName(RowOutcome outcome) {
  switch (outcome) {
    case RowOutcome::kPending:
      return "PENDING";
    case RowOutcome::kCreated:
      return "CREATED";
    case RowOutcome::kFailed:
      return "FAILED";
    case RowOutcome::kInvalid:
      return "INVALID";
    case RowOutcome::kCancelled:
      return "CANCELLED";
  }
  return "PENDING";
}

CheckedFile CheckImportFile(std::string_view text, const FreeMailDomains& free_mail) {
  if (text.empty()) throw UnreadableFile("the file is empty");
  if (text.size() > kMaxBulkJobFileBytes) {
    throw UnreadableFile(absl::StrCat("at most ", kMaxBulkJobFileBytes >> 20, " MiB"));
  }
  CsvReadResult read = ReadCsv(text);
  if (read.error) {
    throw UnreadableFile(absl::StrCat("line ", read.error->line, ": ", read.error->message));
  }
  if (read.table->rows.empty()) throw UnreadableFile("the file has a header and no rows");
  if (read.table->rows.size() > static_cast<size_t>(kMaxBulkJobRows)) {
    throw UnreadableFile(absl::StrCat("at most ", kMaxBulkJobRows, " rows a job; the file has ",
                                      read.table->rows.size()));
  }
  ImportRows parsed = ParseImportRows(*read.table);
  if (!parsed.file_problems.empty()) {
    // Named by column: the header is what the caller fixes.
    std::vector<FieldViolation> violations;
    for (auto& p : parsed.file_problems) {
      violations.push_back({"chunk", absl::StrCat("column ", p.field, ": ", p.description)});
    }
    throw ApiError::InvalidArgument(std::move(violations), "UNREADABLE_FILE");
  }
  CheckRowsAlone(parsed.rows, free_mail);
  CheckedFile out;
  out.rows = std::move(parsed.rows);
  out.invalid_rows = static_cast<int>(
      std::count_if(out.rows.begin(), out.rows.end(), [](const ImportRow& r) {
        return !r.problems.empty();
      }));
  return out;
}

std::vector<std::string> TenantIdsToCheck(const CheckedFile& file) {
  std::vector<std::string> ids;
  for (const auto& row : file.rows) {
    if (!row.problems.empty()) continue;
    if (auto tenant = RequestedTenantId(row.request)) ids.push_back(std::move(*tenant));
  }
  return ids;
}

void MarkTakenTenantIds(CheckedFile& file, const std::set<std::string>& taken) {
  if (taken.empty()) return;
  for (auto& row : file.rows) {
    if (!row.problems.empty()) continue;
    const auto tenant = RequestedTenantId(row.request);
    if (!tenant || !taken.contains(*tenant)) continue;
    row.problems.push_back({"knox_manage_tenant_prefix",
                            absl::StrCat("Knox Manage tenant id ", *tenant,
                                         " exists already: give this row a prefix of its own")});
    ++file.invalid_rows;
  }
}

void AddProblems(const std::vector<ImportRow>& rows, int limit, v1::BulkJob& job) {
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

void AppendResultLines(std::string& out, const RowResult& row) {
  auto line = [&](const FieldViolation* problem) {
    absl::StrAppend(&out, row.row, ",", row.line, ",", std::string(RowOutcomeName(row.outcome)), ",");
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

FieldViolation FailureOf(const ApiError& error) {
  if (!error.field_violations().empty()) {
    const auto& first = error.field_violations().front();
    const std::string column = ImportColumnOf(first.field);
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

RunRate EstimateRate(int rows_since_resume, double seconds_since_resume, int rows_left) {
  RunRate out;
  if (rows_since_resume <= 0 || seconds_since_resume <= 0) return out;
  out.rows_per_second = rows_since_resume / seconds_since_resume;
  out.time_left = std::chrono::seconds(
      static_cast<int64_t>(std::ceil(std::max(rows_left, 0) / out.rows_per_second)));
  return out;
}

}  // namespace msp::customer
