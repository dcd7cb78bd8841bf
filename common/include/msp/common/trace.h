#pragma once

#include <optional>
#include <string>
#include <string_view>

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace a piece of work belongs
// to and its own span, carried between processes as the `traceparent` header
// ("00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>"). OpenTelemetry's C++ SDK is not
// packaged for Debian, so the ids are made, propagated and logged here; nothing exports spans.
namespace msp::trace {

inline constexpr char kTraceparentHeader[] = "traceparent";

struct Context {
  std::string trace_id;        // 32 lower-case hex digits, not all zero
  std::string span_id;         // 16 lower-case hex digits, not all zero: this work's span
  std::string parent_span_id;  // the caller's span; empty for a trace's first span
  bool sampled = true;
};

// A traceparent header's trace and span (as the parent of what follows); nullopt when it is
// malformed, of version ff, or has an all-zero id (the spec's "ignore it" cases).
std::optional<Context> Parse(std::string_view traceparent);
// "00-<trace id>-<span id>-01" (or -00 when not sampled): this span as the next hop's parent.
std::string Format(const Context& context);

// A new trace's first span.
Context NewTrace();
// A span of `parent`'s trace whose parent is `parent`'s span.
Context ChildOf(const Context& parent);
// The span for work that arrived with this traceparent header (a child of it), or a new trace
// when there is none or it is malformed.
Context FromHeader(std::optional<std::string_view> traceparent);

// The span the calling thread works in (a call's handler, a delivery), if any: log lines
// carry its ids, and outgoing internal calls its traceparent.
const Context* Current();
// The current span as a traceparent for the work it hands on (an outbox row, an event); empty
// when there is none.
std::string CurrentTraceparent();

// Makes `context` the thread's current span until destroyed (then the previous one again).
class Scope {
 public:
  explicit Scope(Context context);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Context context_;
  const Context* previous_;
};

}  // namespace msp::trace
