#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace msp {

// Debian's Abseil is built without std aliases: absl::string_view is its own type, so
// std::string_view must be converted explicitly before reaching absl::StrCat and friends.
inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points beyond U+10FFFF): what
// PostgreSQL's text and protobuf's string fields hold.
inline bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80           ? 1
                       : (c >> 5) == 0x6  ? 2
                       : (c >> 4) == 0xE  ? 3
                       : (c >> 3) == 0x1E ? 4
                                          : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

// What is wrong with free text that reaches people (names in emails' subjects, CSV files,
// tables), or nullopt when nothing: not UTF-8; C0 or C1 control characters (U+0000-U+001F,
// U+007F-U+009F, U+0085 included); line and paragraph separators (U+2028, U+2029); bidirectional
// formatting characters that can reorder what a reader sees (U+061C, U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069). The answer names the first such character.
std::optional<std::string> UnsafeTextProblem(std::string_view s);

}  // namespace msp
