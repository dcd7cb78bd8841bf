// The bulk import's CSV reader: any bytes give a table or an error, never a crash; a table read
// from them, written back with every field quoted, reads back as the same table.
#include <cstdint>
#include <string>

#include "domain/csv_reader.h"
#include "fuzz_support.h"

namespace {

using msp::customer::CsvTable;
using msp::fuzz::Check;

std::string Quoted(const std::string& field) {
  std::string out = "\"";
  for (const char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string Line(const std::vector<std::string>& fields, char separator) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(separator);
    line += Quoted(fields[i]);
  }
  return line + "\r\n";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  const auto first =
      msp::customer::ReadCsv(std::string_view(reinterpret_cast<const char*>(data), size));
  Check(first.table.has_value() != first.error.has_value(), "neither a table nor an error");
  // A one-column table says nothing about its separator when written back: not compared.
  if (!first.table || first.table->header.size() < 2) return 0;
  const CsvTable& table = *first.table;
  // Blank rows are dropped when read: a row of one empty field does not survive, by design.
  std::string text = Line(table.header, table.separator);
  std::vector<std::vector<std::string>> kept;
  for (const auto& row : table.rows) {
    text += Line(row.fields, table.separator);
    kept.push_back(row.fields);
  }
  const auto second = msp::customer::ReadCsv(text);
  Check(second.table.has_value(), "a table written back does not read");
  Check(second.table->separator == table.separator, "the separator changed");
  Check(second.table->header == table.header, "the header changed");
  Check(second.table->rows.size() == kept.size(), "the number of rows changed");
  for (size_t i = 0; i < kept.size(); ++i) {
    Check(second.table->rows[i].fields == kept[i], "a row changed");
  }
  return 0;
}
