#include "msp/common/csv_cell.h"

namespace msp {
namespace {

// Characters some spreadsheet splits a line on: comma, semicolon (common in Europe), tab, pipe.
constexpr std::string_view kSeparators = ",;\t|";

bool IsFormulaStart(char c) {
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

bool StartsAFormula(std::string_view cell) {
  // A cell starting with = + - @ TAB or CR is a formula to a spreadsheet: an apostrophe makes it
  // text. A lone "-" is the export's "no Knox Manage" marker and stays as it is.
  if (cell.empty() || cell == "-") return false;
  if (IsFormulaStart(cell[0])) return true;
  // So is what follows any separator (after spaces) in a spreadsheet that splits there: ";=1+1".
  for (size_t i = cell.find_first_of(kSeparators); i != std::string_view::npos;
       i = cell.find_first_of(kSeparators, i + 1)) {
    size_t next = i + 1;
    while (next < cell.size() && cell[next] == ' ') ++next;
    if (next < cell.size() && IsFormulaStart(cell[next])) return true;
  }
  return false;
}

}  // namespace

void AppendCsvCell(std::string& out, std::string_view value) {
  const bool neutralise = StartsAFormula(value);
  // Quoted when it holds a quote, a line break or any separator, and when neutralised: one
  // cell whichever separator the spreadsheet uses.
  if (!neutralise && value.find_first_of(",;\t|\"\r\n") == std::string_view::npos) {
    out.append(value);
    return;
  }
  out += '"';
  if (neutralise) out += '\'';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string CsvCell(std::string_view value) {
  std::string out;
  AppendCsvCell(out, value);
  return out;
}

}  // namespace msp
