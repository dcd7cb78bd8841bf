#include "msp/common/list_filter.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/strings.h"

namespace msp {
namespace {

[[noreturn]] void Bad(const std::string& description) {
  throw ApiError::InvalidArgument({{"filter", description}});
}

std::vector<std::string> Tokenize(const std::string& filter) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < filter.size()) {
    const char c = filter[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '(' || c == ')' || c == '=') {
      tokens.emplace_back(1, c);
      ++i;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < filter.size() &&
             (std::isalnum(static_cast<unsigned char>(filter[j])) || filter[j] == '_')) {
        ++j;
      }
      tokens.push_back(filter.substr(i, j - i));
      i = j;
    } else {
      Bad(absl::StrCat("unexpected character '", std::string(1, c), "' at ", i));
    }
  }
  return tokens;
}

// "a", "a or b", "a, b or c"
std::string FieldList(const std::vector<FilterField>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += i + 1 == fields.size() ? " or " : ", ";
    out += fields[i].name;
  }
  return out;
}

}  // namespace

std::map<std::string, std::set<int>> ParseEnumFilter(const std::string& filter,
                                                     const std::vector<FilterField>& fields) {
  if (filter.size() > 1000) Bad("at most 1000 characters");
  std::map<std::string, std::set<int>> allowed;
  const auto tokens = Tokenize(filter);
  if (tokens.empty()) return allowed;
  size_t pos = 0;
  auto expect = [&](const std::string& what) {
    if (pos >= tokens.size() || tokens[pos] != what) {
      Bad(absl::StrCat("expected '", what, "'",
                       pos < tokens.size() ? " before '" + tokens[pos] + "'" : " at the end"));
    }
    ++pos;
  };
  auto comparison = [&](std::string& field) {
    if (pos >= tokens.size()) Bad("expected a field name at the end");
    field = tokens[pos++];
    const FilterField* known = nullptr;
    for (const auto& f : fields) {
      if (f.name == field) known = &f;
    }
    if (known == nullptr) {
      Bad(absl::StrCat("unknown field '", field, "': filter on ", FieldList(fields)));
    }
    expect("=");
    if (pos >= tokens.size()) Bad("expected a value at the end");
    const std::string& value = tokens[pos++];
    const std::optional<int> number = known->parse(value);
    if (!number) Bad(absl::StrCat("unknown ", field, " '", value, "'"));
    return *number;
  };
  while (true) {
    std::string field;
    std::set<int> values;
    // As in AIP-160, OR binds tighter than AND: `a = 1 AND b = 2 OR b = 3` is
    // `a = 1 AND (b = 2 OR b = 3)`; parentheses are allowed around an OR group.
    const bool parenthesised = pos < tokens.size() && tokens[pos] == "(";
    if (parenthesised) ++pos;
    values.insert(comparison(field));
    while (pos < tokens.size() && tokens[pos] == "OR") {
      ++pos;
      std::string other;
      values.insert(comparison(other));
      if (other != field) Bad("OR may only combine values of one field");
    }
    if (parenthesised) expect(")");
    // Terms on one field intersect.
    auto [it, first] = allowed.emplace(field, values);
    if (!first) {
      std::set<int> both;
      for (int v : values) {
        if (it->second.count(v)) both.insert(v);
      }
      it->second = std::move(both);
    }
    if (pos == tokens.size()) break;
    expect("AND");
  }
  return allowed;
}

std::string ParseSearch(const std::string& search) {
  const std::string trimmed(absl::StripAsciiWhitespace(search));
  if (trimmed.size() > 100) {
    throw ApiError::InvalidArgument({{"search", "at most 100 characters"}});
  }
  if (auto problem = UnsafeTextProblem(trimmed)) {
    throw ApiError::InvalidArgument({{"search", *problem}});
  }
  return absl::AsciiStrToLower(trimmed);
}

}  // namespace msp
