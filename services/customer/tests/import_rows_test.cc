#include "domain/import_rows.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "testdata/bulk_import_files.h"

namespace msp::customer {
namespace {

using testdata::kBulkCsvHeader;
// A valid row of the header's columns; each argument replaces its cell.
using testdata::BulkCsvRow;
constexpr const char* kHeader = kBulkCsvHeader;

// A file's rows as the importer reads them, or its header's problems (then no rows).
struct ImportRows {
  std::vector<ImportRow> rows;
  std::vector<FieldViolation> file_problems;
};

ImportRows Parse(const std::string& text) {
  const CsvReadResult read = ReadCsv(text);
  EXPECT_TRUE(read.table.has_value());
  const CsvTable table = read.table.value_or(CsvTable{});
  ImportRows out;
  const ImportHeader header = ParseImportHeader(table.header);
  out.file_problems = header.problems;
  if (!out.file_problems.empty()) return out;
  int number = 0;
  for (const auto& record : table.rows)
    out.rows.push_back(ParseImportRow(header, record, ++number));
  return out;
}

void CheckRowsAlone(std::vector<ImportRow>& rows) {
  const FreeMailDomains free_mail;
  RowChecker checker(free_mail);
  for (auto& row : rows) checker.Check(row);
}

// "column: reason" of each problem, for readable expectations.
std::vector<std::string> Problems(const ImportRow& row) {
  std::vector<std::string> out;
  for (const auto& p : row.problems) out.push_back(p.field);
  return out;
}

TEST(ImportRows, EveryColumnFillsItsRequestField) {
  const ImportRows parsed =
      Parse(absl::StrCat(kHeader, BulkCsvRow("Acme GmbH", "it@acme.example", "jointly",
                                             "knox-manage|KNOX_CONFIGURE", "eu", "1000+")));
  ASSERT_TRUE(parsed.file_problems.empty());
  ASSERT_EQ(parsed.rows.size(), 1u);
  const ImportRow& row = parsed.rows[0];
  EXPECT_TRUE(row.problems.empty()) << absl::StrJoin(Problems(row), ",");
  EXPECT_EQ(row.row, 1);
  EXPECT_EQ(row.line, 2);
  const auto& c = row.request.customer();
  EXPECT_EQ(c.company().display_name(), "Acme GmbH");
  EXPECT_EQ(c.company().size(), v1::COMPANY_SIZE_1000_PLUS);
  ASSERT_EQ(c.company().industries_size(), 2);
  EXPECT_EQ(c.company().industries(0), v1::MANUFACTURING);
  EXPECT_EQ(c.company().industries(1), v1::RETAIL);
  EXPECT_EQ(c.company().address().zip_code(), "10115");
  EXPECT_EQ(c.contact().work_email(), "it@acme.example");
  EXPECT_EQ(c.management_type(), v1::JOINTLY_MANAGED);
  ASSERT_EQ(row.request.services_size(), 2);
  EXPECT_EQ(row.request.services(0), assignment::v1::KNOX_MANAGE);
  EXPECT_EQ(row.request.services(1), assignment::v1::KNOX_CONFIGURE);
  EXPECT_EQ(row.request.knox_manage_tenant_prefix(), "eu");
}

TEST(ImportRows, ColumnsAreFoundByNameInAnyOrderAndCase) {
  const ImportRows parsed = Parse(
      "Work_Email;COMPANY_NAME;company_size;industries;country_code;address_line1;city;state;"
      "zip_code;first_name;last_name;phone;management_type\n"
      "it@b.example;Beta AG;20-99;retail;AT;Ring 2;Wien;Wien;1010;Max;Muster;+43 1 234567;"
      "FULLY_MANAGED\n");
  ASSERT_TRUE(parsed.file_problems.empty());
  ASSERT_EQ(parsed.rows.size(), 1u);
  EXPECT_TRUE(parsed.rows[0].problems.empty());
  EXPECT_EQ(parsed.rows[0].request.customer().company().display_name(), "Beta AG");
  EXPECT_EQ(parsed.rows[0].request.customer().contact().work_email(), "it@b.example");
}

TEST(ImportRows, AFileWithUnknownMissingOrRepeatedColumnsReadsNoRow) {
  const ImportRows parsed =
      Parse("company_name,color,work_email,work_email\nA,red,a@a.example,x\n");
  EXPECT_TRUE(parsed.rows.empty());
  std::vector<std::string> problems;
  for (const auto& p : parsed.file_problems) problems.push_back(p.field + ": " + p.description);
  EXPECT_NE(std::find(problems.begin(), problems.end(), "color: not a column of the template"),
            problems.end());
  EXPECT_NE(std::find(problems.begin(), problems.end(), "work_email: the column is there twice"),
            problems.end());
  EXPECT_NE(std::find(problems.begin(), problems.end(), "phone: a required column is missing"),
            problems.end());
  EXPECT_EQ(std::find(problems.begin(), problems.end(), "website: a required column is missing"),
            problems.end());  // optional
}

TEST(ImportRows, ACellThatCannotBeReadIsItsRowsProblem) {
  const ImportRows parsed = Parse(absl::StrCat(
      kHeader, BulkCsvRow("Acme GmbH", "it@acme.example", "sometimes", "KNOX_TOASTER", "", "huge"),
      "Short Row,1-19\n"));
  ASSERT_EQ(parsed.rows.size(), 2u);
  EXPECT_EQ(Problems(parsed.rows[0]),
            (std::vector<std::string>{"company_size", "management_type", "services"}));
  EXPECT_EQ(parsed.rows[0].problems[0].description,
            "one of 0-19, 20-99, 100-249, 250-499, 500-999, 1000+");
  EXPECT_EQ(parsed.rows[1].row, 2);
  EXPECT_EQ(parsed.rows[1].problems[0].field, "");  // the row as a whole: too few fields
  EXPECT_EQ(parsed.rows[1].problems[0].description, "2 fields where the header has 15");
}

// The dry run's checks of a mixed file: valid rows, invalid ones, a duplicate, a free-mail
// contact on a jointly managed customer, two rows that would take one Knox Manage tenant id.
TEST(ImportRows, TheChecksOfAMixedFileNameTheRowAndColumn) {
  ImportRows parsed = Parse(absl::StrCat(
      kHeader, BulkCsvRow("Acme GmbH", "it@acme.example"),           // 1 valid
      BulkCsvRow("Beta AG", "not-an-email"),                         // 2 invalid email
      BulkCsvRow("Gamma KG", "gamma@gmail.com", "JOINTLY_MANAGED"),  // 3 free mail
      BulkCsvRow("Acme GmbH", "IT@acme.example"),                    // 4 duplicate of 1
      BulkCsvRow("Delta AG", "it@delta.example", "FULLY_MANAGED", "KNOX_MANAGE"),   // 5 valid
      BulkCsvRow("Delta IT", "ops@delta.example", "FULLY_MANAGED", "KNOX_MANAGE"),  // 6 tenant of 5
      BulkCsvRow("Delta EU", "eu@delta.example", "FULLY_MANAGED", "KNOX_MANAGE", "eu"),  // 7 valid
      BulkCsvRow("Epsilon", "it@epsilon.example", "FULLY_MANAGED", "KNOX_CONFIGURE",
                 "x"),                                               // 8 prefix
      BulkCsvRow("Gamma KG", "gamma@gmail.com", "FULLY_MANAGED")));  // 9 valid
  ASSERT_EQ(parsed.rows.size(), 9u);
  CheckRowsAlone(parsed.rows);
  const auto problems = [&](int row) { return Problems(parsed.rows[row - 1]); };
  using V = std::vector<std::string>;
  EXPECT_EQ(problems(1), V{});
  EXPECT_EQ(problems(2), V{"work_email"});
  EXPECT_EQ(problems(3), V{"work_email"});
  EXPECT_EQ(parsed.rows[2].problems[0].description,
            "a jointly managed customer needs a work email, not a free-mail address");
  EXPECT_EQ(problems(4), V{"work_email"});
  EXPECT_EQ(parsed.rows[3].problems[0].description, "the same company and contact as row 1");
  EXPECT_EQ(problems(5), V{});
  EXPECT_EQ(problems(6), V{"knox_manage_tenant_prefix"});
  EXPECT_EQ(parsed.rows[5].problems[0].description,
            "Knox Manage tenant id delta.example is row 5's: give this row a prefix of its own");
  EXPECT_EQ(problems(7), V{});
  EXPECT_EQ(problems(8), V{"knox_manage_tenant_prefix"});
  EXPECT_EQ(problems(9), V{});
  // Normalised as CreateCustomer stores it.
  EXPECT_EQ(parsed.rows[0].request.customer().company().country_code(), "DE");
  EXPECT_EQ(parsed.rows[0].request.customer().contact().phone(), "+49301234567");
}

}  // namespace
}  // namespace msp::customer
