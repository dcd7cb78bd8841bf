#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

// The filter grammar of list and table RPCs (AIP-160, the part they need): equality on enum
// fields, AND between terms, OR between values of one field (OR binds tighter than AND, as in
// AIP-160; parentheses around an OR group are allowed):
//   filter := term (AND term)* ; term := ors | '(' ors ')' ; ors := cmp (OR cmp)*
//   cmp := field '=' VALUE
// e.g. `state = PENDING AND (service = KNOX_MANAGE OR service = KNOX_GUARD)`.
namespace msp {

struct FilterField {
  std::string name;
  // The enum number of a value name; nullopt for an unknown one.
  std::function<std::optional<int>(const std::string&)> parse;
};

// For each field the filter names, the values a row may have (an empty set: nothing matches,
// as in `state = ACTIVE AND state = PENDING`). Throws INVALID_ARGUMENT naming `filter`.
std::map<std::string, std::set<int>> ParseEnumFilter(const std::string& filter,
                                                     const std::vector<FilterField>& fields);

// A FilterField for a protobuf enum (its _Parse function), the zero value refused.
template <typename Enum>
FilterField EnumFilterField(std::string name, bool (*parse)(const std::string&, Enum*)) {
  return {std::move(name), [parse](const std::string& value) -> std::optional<int> {
            Enum e;
            if (parse(value, &e) && static_cast<int>(e) != 0) return static_cast<int>(e);
            return std::nullopt;
          }};
}

// The `search` of a list or table RPC: trimmed, at most 100 bytes, free of control, separator
// and bidi characters (a search of NUL alone matched every customer), ASCII lower-cased (the
// stores fold every script's case with PostgreSQL's lower(), pg::AppendContains).
// Throws INVALID_ARGUMENT naming `search`.
std::string ParseSearch(const std::string& search);

}  // namespace msp
