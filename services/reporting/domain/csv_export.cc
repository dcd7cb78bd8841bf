#include "csv_export.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "msp/common/csv_cell.h"

namespace msp::reporting {

const std::string& CsvHeader() {
  static const std::string kHeader =
      "Company Name,Active services,Customer ID,Management type,Total devices (excluding Knox "
      "Manage devices),Total devices (Knox Manage),Created,Modified,MSP linked\r\n";
  return kHeader;
}

namespace {

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

std::string IsoUtc(std::chrono::system_clock::time_point time) {
  std::string out;
  AppendIsoUtc(out, time);
  return out;
}

void AppendCsvLine(std::string& out, const CsvCustomerRow& row) {
  AppendCsvCell(out, row.company_name);
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
  AppendCsvCell(out, row.customer_id);
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
