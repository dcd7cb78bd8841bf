#include "msp/common/trace.h"

#include <openssl/rand.h>

#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace msp::trace {
namespace {

thread_local const Context* current = nullptr;

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view text) { return text.find_first_not_of('0') == std::string::npos; }

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char buffer[16];
  std::string out;
  do {
    if (RAND_bytes(buffer, static_cast<int>(bytes)) != 1) throw std::runtime_error("RAND_bytes");
    out.clear();
    for (size_t i = 0; i < bytes; ++i) {
      out.push_back(kHex[buffer[i] >> 4]);
      out.push_back(kHex[buffer[i] & 15]);
    }
  } while (AllZero(out));
  return out;
}

}  // namespace

std::optional<Context> Parse(std::string_view header) {
  std::string text(header);
  absl::StripAsciiWhitespace(&text);
  absl::AsciiStrToLower(&text);
  // version "-" trace-id "-" parent-id "-" flags; a later version may append fields.
  if (text.size() < 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  if (text.size() > 55 && text[55] != '-') return std::nullopt;
  const std::string_view view(text);
  const auto version = view.substr(0, 2);
  const auto trace_id = view.substr(3, 32);
  const auto span_id = view.substr(36, 16);
  const auto flags = view.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || (version == "00" && text.size() != 55)) {
    return std::nullopt;
  }
  if (!IsLowerHex(trace_id) || !IsLowerHex(span_id) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZero(trace_id) || AllZero(span_id)) return std::nullopt;
  Context context;
  context.trace_id = std::string(trace_id);
  context.span_id = std::string(span_id);
  const int flag_bits = std::stoi(std::string(flags), nullptr, 16);
  context.sampled = (flag_bits & 1) != 0;
  return context;
}

std::string Format(const Context& context) {
  return absl::StrCat("00-", context.trace_id, "-", context.span_id,
                      context.sampled ? "-01" : "-00");
}

Context NewTrace() {
  Context context;
  context.trace_id = RandomHex(16);
  context.span_id = RandomHex(8);
  return context;
}

Context ChildOf(const Context& parent) {
  Context context;
  context.trace_id = parent.trace_id;
  context.span_id = RandomHex(8);
  context.parent_span_id = parent.span_id;
  context.sampled = parent.sampled;
  return context;
}

Context FromHeader(std::optional<std::string_view> traceparent) {
  if (traceparent) {
    if (auto parent = Parse(*traceparent)) return ChildOf(*parent);
  }
  return NewTrace();
}

const Context* Current() { return current; }

std::string CurrentTraceparent() { return current != nullptr ? Format(*current) : std::string(); }

Scope::Scope(Context context) : context_(std::move(context)), previous_(current) {
  current = &context_;
}

Scope::~Scope() { current = previous_; }

}  // namespace msp::trace
