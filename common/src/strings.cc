#include "msp/common/strings.h"

#include <cstdio>

namespace msp {
namespace {

// The code point at s[i] of well-formed UTF-8, and its length in bytes.
char32_t DecodeAt(std::string_view s, size_t i, size_t& length) {
  const auto c = static_cast<unsigned char>(s[i]);
  length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
  char32_t cp = length == 1 ? c : c & (0x7F >> length);
  for (size_t k = 1; k < length; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

std::string CodePoint(char32_t cp) {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "U+%04X", static_cast<unsigned>(cp));
  return buffer;
}

}  // namespace

std::optional<std::string> UnsafeTextProblem(std::string_view s) {
  if (!IsValidUtf8(s)) return std::string("must be UTF-8 text");
  for (size_t i = 0, length = 0; i < s.size(); i += length) {
    const char32_t cp = DecodeAt(s, i, length);
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      return "must not contain control characters (" + CodePoint(cp) + ")";
    }
    if (cp == 0x2028 || cp == 0x2029) {
      return "must not contain line or paragraph separators (" + CodePoint(cp) + ")";
    }
    if (cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
        (cp >= 0x2066 && cp <= 0x2069)) {
      return "must not contain bidirectional formatting characters (" + CodePoint(cp) + ")";
    }
  }
  return std::nullopt;
}

}  // namespace msp
