#include "domain/csv_reader.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace msp::customer {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

// The line of the first byte that is not well-formed UTF-8 (overlong forms, surrogates and code
// points past U+10FFFF included), or 0.
int FirstInvalidUtf8Line(std::string_view text) {
  int line = 1;
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int length = 0;
    uint32_t code = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07;
    } else {
      return line;
    }
    if (i + length > text.size()) return line;
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return line;
      code = (code << 6) | (next & 0x3F);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return line;
    }
    i += length;
  }
  return 0;
}

// The header line's separator: a semicolon when it has more semicolons than commas outside
// quotes, else a comma. Quotes as the reader takes them: one opens a quoted field only at the
// field's start, and inside one a doubled quote is a quote.
char DetectSeparator(std::string_view text) {
  int commas = 0;
  int semicolons = 0;
  bool quoted = false;
  bool field_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (c == '\n') break;
    if (c == '"' && field_start) {
      quoted = true;
      field_start = false;
      continue;
    }
    field_start = c == ',' || c == ';';
    if (c == ',') ++commas;
    if (c == ';') ++semicolons;
  }
  return semicolons > commas ? ';' : ',';
}

bool IsBlank(const std::vector<std::string>& fields) {
  return fields.size() == 1 && absl::StripAsciiWhitespace(fields[0]).empty();
}

}  // namespace

std::optional<CsvError> ReadCsvRecords(std::string_view text,
                                       const std::function<void(CsvRecord&&)>& on_record) {
  if (text.substr(0, kByteOrderMark.size()) == kByteOrderMark) text.remove_prefix(3);
  if (const int bad = FirstInvalidUtf8Line(text); bad > 0) {
    return CsvError{bad, "not UTF-8: save the file as CSV UTF-8"};
  }
  const char separator = DetectSeparator(text);
  bool any = false;
  CsvRecord record{1, {}};
  std::string field;
  int line = 1;
  size_t i = 0;
  const auto end_record = [&] {
    record.fields.push_back(std::move(field));
    field.clear();
    if (!IsBlank(record.fields)) {
      any = true;
      on_record(std::move(record));
    }
    record = CsvRecord{line, {}};
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' && field.empty()) {
      // A quoted field: up to the quote that is not doubled.
      const int opened = line;
      ++i;
      while (true) {
        if (i >= text.size()) return CsvError{opened, "a quoted field is never closed"};
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line;
        field.push_back(text[i]);
        ++i;
      }
      if (i < text.size() && text[i] != separator && text[i] != '\n' && text[i] != '\r') {
        return CsvError{line, "a character after a quoted field's closing quote"};
      }
      continue;
    }
    if (c == separator) {
      record.fields.push_back(std::move(field));
      field.clear();
      ++i;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;  // CRLF: the LF ends the record
    } else if (c == '\n') {
      ++line;
      end_record();
      ++i;
    } else {
      field.push_back(c);
      ++i;
    }
  }
  if (!field.empty() || !record.fields.empty()) end_record();
  if (!any) return CsvError{1, "no header line"};
  return std::nullopt;
}

std::vector<std::string> CsvHeaderNames(std::vector<std::string> fields) {
  for (auto& name : fields) name = std::string(absl::StripAsciiWhitespace(name));
  return fields;
}

CsvReadResult ReadCsv(std::string_view text) {
  CsvReadResult result;
  CsvTable table;
  const bool bom = text.substr(0, kByteOrderMark.size()) == kByteOrderMark;
  table.separator = DetectSeparator(bom ? text.substr(kByteOrderMark.size()) : text);
  bool header = true;
  result.error = ReadCsvRecords(text, [&](CsvRecord&& record) {
    if (header) {
      table.header = CsvHeaderNames(std::move(record.fields));
      header = false;
    } else {
      table.rows.push_back(std::move(record));
    }
  });
  if (!result.error) result.table = std::move(table);
  return result;
}

}  // namespace msp::customer
