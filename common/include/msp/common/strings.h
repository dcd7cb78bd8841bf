#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace msp {

// Debian's Abseil is built without std aliases: absl::string_view is its own type, so
// std::string_view must be converted explicitly before reaching absl::StrCat and friends.
inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace msp
