#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/csv_reader.h"
#include "domain/customer_rules.h"
#include "msp/common/errors.h"
#include "msp/common/knox_services.h"
#include "msp/customer/v1/customer.pb.h"

// A bulk import's rows (issue 19): the CSV template's columns, each row made into the
// CreateCustomer request it stands for, and the checks of a dry run that need nothing but the
// file. Every problem names the row's column, so an MSP admin finds it in their spreadsheet.
namespace msp::customer {

struct ImportColumn {
  std::string_view name;   // the header's name for it
  std::string_view field;  // the request field it fills ("customer.company.display_name")
  bool required;
};
// The template, in the order the documented example lists it. Lists in a cell (industries,
// services) are separated by '|'.
const std::vector<ImportColumn>& ImportColumns();
// The column a request field comes from ("customer.company.industries[2]" -> "industries");
// "" when none does. ColumnOf does the same for any template's columns.
std::string ImportColumnOf(const std::string& field);
std::string ColumnOf(const std::vector<ImportColumn>& columns, const std::string& field);
// A request check's refusal added to a row's problems, each named by its column; a column with
// a problem already (a cell that could not be read) gets no second one.
void AddRefusal(const ApiError& error, const std::vector<ImportColumn>& columns,
                std::vector<FieldViolation>& problems);

struct ImportRow {
  int row = 0;                        // 1 for the first row after the header
  int line = 0;                       // the file's line where it starts
  v1::CreateCustomerRequest request;  // parent and request_id are the caller's to set
  // What is wrong with it; `field` is the column's name ("" for the row as a whole).
  std::vector<FieldViolation> problems;
};

// The Knox Manage tenant id a create would make (with KNOX_MANAGE among its services).
std::optional<std::string> RequestedTenantId(const v1::CreateCustomerRequest& request);

// Which template column each of a file's columns is (any order, any case), and what is wrong
// with the header as a whole (unknown or missing columns, a column twice).
struct ImportHeader {
  std::vector<int> by_position;  // index into ImportColumns() for each of the file's columns
  std::vector<FieldViolation> problems;
};
ImportHeader ParseImportHeader(const std::vector<std::string>& header);
// The same for any template's `columns` (by_position indexes into them).
ImportHeader MatchTemplateHeader(const std::vector<ImportColumn>& columns,
                                 const std::vector<std::string>& header);

// Cells the templates share, read leniently ("jointly", "Knox Manage", "knox-manage"); a cell
// that is none of them sets `problem`. An empty management type is UNSPECIFIED (the request's
// checks say it is missing).
v1::ManagementType ParseManagementTypeCell(const std::string& cell, std::string* problem);
std::vector<knox::KnoxService> ParseServicesCell(const std::string& cell, std::string* problem);
// One record of a file whose header has no problems; `number` is its row number.
ImportRow ParseImportRow(const ImportHeader& header, const CsvRecord& record, int number);

// The dry run's checks that need nothing but the file, a row at a time in file order, added to
// the row's problems (its customer normalised first, as CreateCustomer stores it): every rule of
// CreateCustomer (fields, management type, free mail on jointly managed customers, services, the
// Knox Manage tenant prefix); a row that repeats an earlier valid one (the same company and work
// email); a Knox Manage tenant id an earlier valid row would take too.
class RowChecker {
 public:
  explicit RowChecker(const FreeMailDomains& free_mail) : free_mail_(free_mail) {}
  void Check(ImportRow& row);

 private:
  const FreeMailDomains& free_mail_;
  std::map<std::string, int> first_row_of_;     // a row's company and contact -> its row
  std::map<std::string, int> tenant_taken_by_;  // Knox Manage tenant id -> row
};

}  // namespace msp::customer
