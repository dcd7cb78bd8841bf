#pragma once

#include <cstddef>
#include <string_view>

namespace msp::cli {

// The columns a UTF-8 string takes on a terminal: 2 for East Asian wide and fullwidth
// characters and most emoji, 0 for combining marks, 1 for the rest (bytes that are not UTF-8
// count 1 each). Tables align by it: "Müller" is 6 columns though 7 bytes.
inline size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    size_t length = 1;
    char32_t code = byte;
    if (byte >= 0xF0 && byte < 0xF8) {
      length = 4;
      code = byte & 0x07;
    } else if (byte >= 0xE0) {
      length = 3;
      code = byte & 0x0F;
    } else if (byte >= 0xC0) {
      length = 2;
      code = byte & 0x1F;
    }
    if (length > 1 && i + length <= text.size()) {
      for (size_t k = 1; k < length; ++k) {
        code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
      }
    } else {
      length = 1;
      code = byte;
    }
    i += length;
    const bool combining = (code >= 0x0300 && code <= 0x036F) || (code >= 0x200B && code <= 0x200F);
    const bool wide = (code >= 0x1100 && code <= 0x115F) || (code >= 0x2E80 && code <= 0xA4CF) ||
                      (code >= 0xAC00 && code <= 0xD7A3) || (code >= 0xF900 && code <= 0xFAFF) ||
                      (code >= 0xFE30 && code <= 0xFE4F) || (code >= 0xFF00 && code <= 0xFF60) ||
                      (code >= 0xFFE0 && code <= 0xFFE6) || (code >= 0x1F300 && code <= 0x1F64F) ||
                      (code >= 0x1F900 && code <= 0x1F9FF) || (code >= 0x20000 && code <= 0x3FFFD);
    width += combining ? 0 : (wide ? 2 : 1);
  }
  return width;
}

}  // namespace msp::cli
