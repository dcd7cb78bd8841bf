#include "domain/csv_reader.h"

#include <gtest/gtest.h>

namespace msp::customer {
namespace {

using Fields = std::vector<std::string>;

CsvTable Read(std::string_view text) {
  CsvReadResult result = ReadCsv(text);
  EXPECT_FALSE(result.error.has_value()) << result.error->line << ": " << result.error->message;
  return result.table.value_or(CsvTable{});
}

TEST(CsvReader, ReadsAHeaderAndRowsWithTheirLines) {
  const CsvTable table =
      Read("company_name,work_email\nAcme GmbH,it@acme.example\n\nBeta AG,b@beta.example\n");
  EXPECT_EQ(table.separator, ',');
  EXPECT_EQ(table.header, (Fields{"company_name", "work_email"}));
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].fields, (Fields{"Acme GmbH", "it@acme.example"}));
  EXPECT_EQ(table.rows[0].line, 2);
  EXPECT_EQ(table.rows[1].line, 4);  // the blank line is skipped, and still counted
}

TEST(CsvReader, TakesAByteOrderMarkCrlfAndSemicolons) {
  const CsvTable table = Read(
      "\xEF\xBB\xBF"
      "name;size;note\r\nM\xC3\xBCller KG;1-99;\"a, b; c\"\r\n");
  EXPECT_EQ(table.separator, ';');
  EXPECT_EQ(table.header, (Fields{"name", "size", "note"}));
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(table.rows[0].fields, (Fields{"M\xC3\xBCller KG", "1-99", "a, b; c"}));
}

TEST(CsvReader, QuotedFieldsHoldQuotesLineBreaksAndNothing) {
  const CsvTable table = Read("a,b,c\n\"say \"\"hi\"\"\",\"two\nlines\",\"\"\nx,y,z");
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].fields, (Fields{"say \"hi\"", "two\nlines", ""}));
  EXPECT_EQ(table.rows[1].fields, (Fields{"x", "y", "z"}));
  EXPECT_EQ(table.rows[1].line, 4);  // the quoted line break counts
}

TEST(CsvReader, KeepsEmptyTrailingFieldsAndRowsOfAnyWidth) {
  const CsvTable table = Read("a,b,c\n1,,\n1,2,3,4\n");
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].fields, (Fields{"1", "", ""}));
  EXPECT_EQ(table.rows[1].fields.size(), 4u);  // the caller says which row is wrong
}

TEST(CsvReader, TheHeaderDecidesTheSeparator) {
  // Commas in the data of a semicolon file (and quoted semicolons in the header) change nothing.
  EXPECT_EQ(Read("a;b\n1,5;2\n").rows[0].fields, (Fields{"1,5", "2"}));
  EXPECT_EQ(Read("\"x;y\",b\n1,2\n").separator, ',');
  // A quote inside a field is a character, not the start of a quoted part (fuzzer finding).
  EXPECT_EQ(Read("x\"y;b\n1;2\n").separator, ';');
}

TEST(CsvReader, RefusesWhatIsNotAReadableFile) {
  const auto error = [](std::string_view text) { return ReadCsv(text).error.value_or(CsvError{}); };
  EXPECT_EQ(error("a,b\n1,\"open\n2,3\n").line, 2);
  EXPECT_EQ(error("a,b\n1,\"open\n2,3\n").message, "a quoted field is never closed");
  EXPECT_EQ(error("a,b\n\"x\"y,2\n").line, 2);
  EXPECT_EQ(error("a,b\nM\xFCller,2\n").line, 2);     // Latin-1, not UTF-8
  EXPECT_EQ(error("a,b\n\xC0\x80,2\n").line, 2);      // an overlong NUL
  EXPECT_EQ(error("a,b\n\xED\xA0\x80,2\n").line, 2);  // a surrogate
  EXPECT_EQ(error("\n \n").message, "no header line");
  EXPECT_EQ(error("").message, "no header line");
  EXPECT_FALSE(ReadCsv("a\n\xF0\x9F\x98\x80\n").error.has_value());  // an emoji is fine
}

}  // namespace
}  // namespace msp::customer
