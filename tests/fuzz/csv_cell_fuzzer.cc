// The export's CSV cells: any text comes out as one RFC 4180 cell that reads back as the text
// itself, or, if a spreadsheet would run it as a formula (at its start, or after any separator
// a spreadsheet may split on), as the text after an apostrophe. A cell holding a separator is
// quoted, whichever separator.
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "msp/common/csv_cell.h"

namespace {

using msp::fuzz::Check;

// Reads one RFC 4180 cell back (the whole string is one cell).
std::string ReadCell(const std::string& cell) {
  if (cell.empty() || cell[0] != '"') {
    Check(cell.find_first_of(",;\t|\"\r\n") == std::string::npos, "an unquoted cell needs quotes");
    return cell;
  }
  Check(cell.size() >= 2 && cell.back() == '"', "a quoted cell does not end with a quote");
  std::string out;
  for (size_t i = 1; i + 1 < cell.size(); ++i) {
    if (cell[i] == '"') {
      Check(i + 2 < cell.size() && cell[i + 1] == '"', "a lone quote inside a quoted cell");
      ++i;
    }
    out.push_back(cell[i]);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string value(reinterpret_cast<const char*>(data), size);
  const std::string read = ReadCell(msp::CsvCell(value));
  const std::string starts = "=+-@\t\r";
  bool formula = !value.empty() && value != "-" && starts.find(value[0]) != std::string::npos;
  for (size_t i = 0; !formula && i < value.size(); ++i) {
    if (std::string(",;\t|").find(value[i]) == std::string::npos) continue;
    size_t next = i + 1;
    while (next < value.size() && value[next] == ' ') ++next;
    formula = next < value.size() && starts.find(value[next]) != std::string::npos;
  }
  Check(read == (formula ? "'" + value : value), "a CSV cell does not read back as its text");
  return 0;
}
