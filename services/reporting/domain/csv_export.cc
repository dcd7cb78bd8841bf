#include "csv_export.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace msp::reporting {

const std::string& CsvHeader() {
  static const std::string kHeader =
      "Company Name,Active services,Customer ID,Management type,Total devices (excluding Knox "
      "Manage devices),Total devices (Knox Manage),Created,Modified,MSP linked\r\n";
  return kHeader;
}

std::string CsvCell(std::string_view value) {
  std::string cell(value);
  // A cell starting with = + - @ TAB or CR is a formula to a spreadsheet: an apostrophe makes it
  // text. A lone "-" is the domain's "no Knox Manage" marker and stays as it is.
  if (!cell.empty() && cell != "-" &&
      (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' || cell[0] == '\t' ||
       cell[0] == '\r')) {
    cell.insert(cell.begin(), '\'');
  }
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string IsoUtc(std::chrono::system_clock::time_point time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromChrono(time), absl::UTCTimeZone());
}

std::string CsvLine(const CsvCustomerRow& row) {
  std::vector<std::string> services;
  for (auto s : row.active_services) services.emplace_back(knox::DisplayName(s));
  std::string_view type = row.management_type == customer::v1::FULLY_MANAGED     ? "Fully managed"
                          : row.management_type == customer::v1::JOINTLY_MANAGED ? "Jointly managed"
                                                                                 : "";
  return absl::StrCat(
      CsvCell(row.company_name), ",", CsvCell(absl::StrJoin(services, ", ")), ",",
      CsvCell(row.customer_id), ",", CsvCell(type), ",", row.total_devices, ",",
      row.knox_manage_devices ? std::to_string(*row.knox_manage_devices) : std::string("-"), ",",
      IsoUtc(row.create_time), ",", IsoUtc(row.update_time), ",",
      row.msp_link_time ? IsoUtc(*row.msp_link_time) : std::string(), "\r\n");
}

}  // namespace msp::reporting
