#include "csv_export.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace msp::reporting {

const std::string& CsvHeader() {
  static const std::string kHeader =
      "Company Name,Active services,Customer ID,Management type,Total devices (excluding Knox "
      "Manage devices),Total devices (Knox Manage),Created,Modified,MSP linked\r\n";
  return kHeader;
}

namespace {

// Characters some spreadsheet splits a line on: comma, semicolon (common in Europe), tab, pipe.
constexpr std::string_view kSeparators = ",;\t|";

bool IsFormulaStart(char c) {
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

bool StartsAFormula(std::string_view cell) {
  // A cell starting with = + - @ TAB or CR is a formula to a spreadsheet: an apostrophe makes it
  // text. A lone "-" is the domain's "no Knox Manage" marker and stays as it is.
  if (cell.empty() || cell == "-") return false;
  if (IsFormulaStart(cell[0])) return true;
  // So is what follows any separator (after spaces) in a spreadsheet that splits there: ";=1+1".
  for (size_t i = cell.find_first_of(kSeparators); i != std::string_view::npos;
       i = cell.find_first_of(kSeparators, i + 1)) {
    size_t next = i + 1;
    while (next < cell.size() && cell[next] == ' ') ++next;
    if (next < cell.size() && IsFormulaStart(cell[next])) return true;
  }
  return false;
}

void AppendCell(std::string& out, std::string_view value) {
  const bool neutralise = StartsAFormula(value);
  // Quoted when it holds a quote, a line break or any separator, and when neutralised: one
  // cell whichever separator the spreadsheet uses.
  if (!neutralise && value.find_first_of(",;\t|\"\r\n") == std::string_view::npos) {
    if (neutralise) out += '\'';
    out.append(value);
    return;
  }
  out += '"';
  if (neutralise) out += '\'';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// 2026-11-24T10:02:59Z without a time zone library: the export writes three a row, a million
// rows a run (days to civil date: H. Hinnant's algorithm, proleptic Gregorian, UTC).
void AppendIsoUtc(std::string& out, std::chrono::system_clock::time_point time) {
  const int64_t seconds = std::chrono::floor<std::chrono::seconds>(time.time_since_epoch()).count();
  int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  const int64_t of_day = seconds - days * 86400;
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buffer[32];
  const int n =
      std::snprintf(buffer, sizeof(buffer), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                    static_cast<long long>(year), static_cast<long long>(month),
                    static_cast<long long>(day), static_cast<long long>(of_day / 3600),
                    static_cast<long long>(of_day / 60 % 60), static_cast<long long>(of_day % 60));
  out.append(buffer, static_cast<size_t>(n));
}

}  // namespace

std::string CsvCell(std::string_view value) {
  std::string out;
  AppendCell(out, value);
  return out;
}

std::string IsoUtc(std::chrono::system_clock::time_point time) {
  std::string out;
  AppendIsoUtc(out, time);
  return out;
}

void AppendCsvLine(std::string& out, const CsvCustomerRow& row) {
  AppendCell(out, row.company_name);
  out += ',';
  // The services' names hold no quote, CR or LF; a comma between two makes the cell quoted.
  if (row.active_services.size() > 1) out += '"';
  for (size_t i = 0; i < row.active_services.size(); ++i) {
    if (i > 0) out += ", ";
    const std::string_view name = knox::DisplayName(row.active_services[i]);
    out.append(name.data(), name.size());
  }
  if (row.active_services.size() > 1) out += '"';
  out += ',';
  AppendCell(out, row.customer_id);
  out += ',';
  out += row.management_type == customer::v1::FULLY_MANAGED     ? "Fully managed"
         : row.management_type == customer::v1::JOINTLY_MANAGED ? "Jointly managed"
                                                                : "";
  out += ',';
  absl::StrAppend(&out, row.total_devices);
  out += ',';
  if (row.knox_manage_devices) {
    absl::StrAppend(&out, *row.knox_manage_devices);
  } else {
    out += '-';
  }
  out += ',';
  AppendIsoUtc(out, row.create_time);
  out += ',';
  AppendIsoUtc(out, row.update_time);
  out += ',';
  if (row.msp_link_time) AppendIsoUtc(out, *row.msp_link_time);
  out += "\r\n";
}

std::string CsvLine(const CsvCustomerRow& row) {
  std::string out;
  AppendCsvLine(out, row);
  return out;
}

}  // namespace msp::reporting
