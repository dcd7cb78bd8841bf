#pragma once

#include <string>

#include "absl/strings/str_cat.h"

// CSV files of bulk imports (docs/bulk-import.md's template) for tests and the benchmark.
namespace msp::customer::testdata {

inline constexpr char kBulkCsvHeader[] =
    "company_name,company_size,industries,country_code,address_line1,city,state,zip_code,"
    "first_name,last_name,work_email,phone,management_type,services,knox_manage_tenant_prefix\r\n";

// A valid row of kBulkCsvHeader's columns; each argument replaces its cell.
inline std::string BulkCsvRow(const std::string& company, const std::string& email,
                              const std::string& management = "FULLY_MANAGED",
                              const std::string& services = "KNOX_MOBILE_ENROLLMENT",
                              const std::string& prefix = "", const std::string& size = "100-249") {
  return absl::StrCat(company, ",", size,
                      ",Manufacturing|Retail,DE,Hauptstr. 1,Berlin,Berlin,10115,Erika,Muster,",
                      email, ",+49 30 1234567,", management, ",", services, ",", prefix, "\r\n");
}

// `rows` valid rows, each its own company and email domain ("<tag> <n> GmbH",
// it@<tag>-<n>.example).
inline std::string ValidBulkCsv(const std::string& tag, int rows) {
  std::string out = kBulkCsvHeader;
  for (int i = 1; i <= rows; ++i) {
    out += BulkCsvRow(absl::StrCat(tag, " ", i, " GmbH"),
                      absl::StrCat("it@", tag, "-", i, ".example"));
  }
  return out;
}

}  // namespace msp::customer::testdata
