#pragma once

#include <string>
#include <string_view>

// CSV cells the suite writes (the customer export, a bulk job's result): RFC 4180 (quotes
// doubled; a cell quoted when it holds a quote, a line break or any separator a spreadsheet may
// split on: comma, semicolon, tab, pipe), and a cell a spreadsheet would run as a formula
// neutralised with a leading apostrophe (at its start, or after any of those separators).
namespace msp {

void AppendCsvCell(std::string& out, std::string_view value);
std::string CsvCell(std::string_view value);

}  // namespace msp
