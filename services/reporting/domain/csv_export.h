#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "msp/common/knox_services.h"
#include "msp/customer/v1/customer.pb.h"

// The customer list as CSV, exactly as the domain text names it: Company Name, Active services,
// Customer ID, Management type, Total devices (excluding Knox Manage devices), Total devices
// (Knox Manage), Created, Modified, MSP linked. RFC 4180 (CRLF line ends, quotes doubled, a cell
// quoted when it holds a comma, quote, CR or LF), UTF-8, ISO 8601 UTC times, and cells that a
// spreadsheet would run as a formula neutralised with a leading apostrophe.
namespace msp::reporting {

struct CsvCustomerRow {
  std::string company_name;
  std::vector<knox::KnoxService> active_services;
  std::string customer_id;
  customer::v1::ManagementType management_type = customer::v1::MANAGEMENT_TYPE_UNSPECIFIED;
  int64_t total_devices = 0;                   // excluding Knox Manage devices
  std::optional<int64_t> knox_manage_devices;  // nullopt: the customer does not use Knox Manage
  std::chrono::system_clock::time_point create_time;
  std::chrono::system_clock::time_point update_time;
  std::optional<std::chrono::system_clock::time_point> msp_link_time;
};

// The header line, CRLF-terminated.
const std::string& CsvHeader();
// One row, CRLF-terminated.
std::string CsvLine(const CsvCustomerRow& row);
// The same, appended to `out` (the export's buffer: no allocation per row).
void AppendCsvLine(std::string& out, const CsvCustomerRow& row);
// 2026-11-24T10:02:59Z (seconds precision).
std::string IsoUtc(std::chrono::system_clock::time_point time);

}  // namespace msp::reporting
