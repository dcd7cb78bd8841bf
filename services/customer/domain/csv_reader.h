#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Reads the CSV files of a bulk import (issue 19's template): UTF-8 with or without a byte-order
// mark; fields separated by commas or by semicolons (as spreadsheets write it where the comma is
// the decimal mark), whichever the header line uses outside quotes; a field in double quotes may
// hold separators, line breaks and doubled quotes; lines end in LF or CRLF. Blank lines are
// skipped. Nothing here knows what a column means.
namespace msp::customer {

struct CsvRecord {
  int line = 0;  // the line (1-based) where the record starts, for error messages
  std::vector<std::string> fields;
};

struct CsvTable {
  char separator = ',';
  std::vector<std::string> header;  // the first record, each name trimmed
  std::vector<CsvRecord> rows;      // every record after it
};

struct CsvError {
  int line = 0;
  std::string message;
};

// The table, or the first error that makes the file unreadable as a whole (invalid UTF-8, a
// quote left open, a character after a closing quote, no header). A row with the wrong number of
// fields is not an error here: the caller reports it for that row.
struct CsvReadResult {
  std::optional<CsvTable> table;
  std::optional<CsvError> error;
};
CsvReadResult ReadCsv(std::string_view text);

// The same a record at a time, for files too large to hold as a table: `on_record` gets every
// record that is not blank, the header first; the error, if any, after the records before it.
std::optional<CsvError> ReadCsvRecords(std::string_view text,
                                       const std::function<void(CsvRecord&&)>& on_record);
// The header's names as CsvTable holds them (trimmed).
std::vector<std::string> CsvHeaderNames(std::vector<std::string> fields);

}  // namespace msp::customer
