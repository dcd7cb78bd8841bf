#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "msp/common/errors.h"
#include "msp/common/strings.h"

// What every fuzz target shares: splitting an input into fields, and the rule that a parser or
// validator may refuse input only with an ApiError INVALID_ARGUMENT naming a field.
namespace msp::fuzz {

// The input cut at each '\n' into at most `n` fields (missing ones empty). Text inputs keep the
// seeds readable; libFuzzer's mutations still reach every byte value inside a field.
inline std::vector<std::string> Fields(const uint8_t* data, size_t size, size_t n) {
  std::vector<std::string> fields(n);
  size_t field = 0;
  for (size_t i = 0; i < size && field < n; ++i) {
    if (data[i] == '\n') {
      ++field;
    } else {
      fields[field].push_back(static_cast<char>(data[i]));
    }
  }
  return fields;
}

// Stops the run with a message: libFuzzer saves the input that got here as a crash.
[[noreturn]] inline void Fail(const std::string& what) {
  std::cerr << "fuzz property broken: " << what << "\n";
  std::abort();
}

inline void Check(bool condition, const std::string& what) {
  if (!condition) Fail(what);
}

// Runs `fn`; returns normally when it passes or refuses with INVALID_ARGUMENT naming a field
// (of `allowed_fields`, when given); any other outcome is a failure.
template <typename Fn>
bool RefusesCleanly(Fn&& fn, const std::vector<std::string>& allowed_fields = {}) {
  try {
    fn();
    return false;
  } catch (const ApiError& e) {
    Check(e.code() == grpc::StatusCode::INVALID_ARGUMENT,
          "refused with another code than INVALID_ARGUMENT: " + e.message());
    Check(!e.field_violations().empty(), "INVALID_ARGUMENT without a field: " + e.message());
    if (!allowed_fields.empty()) {
      for (const auto& v : e.field_violations()) {
        bool known = false;
        for (const auto& f : allowed_fields) known = known || v.field.rfind(f, 0) == 0;
        Check(known, "violation names an unexpected field: " + v.field);
      }
    }
    return true;
  } catch (const std::exception& e) {
    Fail(std::string("escaped exception: ") + e.what());
  }
}

// Valid UTF-8 without NUL: what PostgreSQL's text columns accept (libpq would cut a value at
// a NUL without a word).
inline bool StorableText(std::string_view s) {
  return s.find('\0') == std::string_view::npos && IsValidUtf8(s);
}

}  // namespace msp::fuzz
