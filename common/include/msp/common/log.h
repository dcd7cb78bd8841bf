#pragma once

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

// JSON logs, one object a line on stderr. Every string that reaches a line is scrubbed:
// emails and phone numbers are masked, bearer tokens and JWTs are never printed.
namespace msp::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void Configure(std::string service_name, Level min_level);
Level ParseLevel(std::string_view text);

// Whether a line of this level is written (to skip building one that would not be).
bool Enabled(Level level);
void Write(Level level, std::string_view message, nlohmann::json fields = nlohmann::json::object());
inline void Debug(std::string_view m, nlohmann::json f = nlohmann::json::object()) {
  Write(Level::kDebug, m, std::move(f));
}
inline void Info(std::string_view m, nlohmann::json f = nlohmann::json::object()) {
  Write(Level::kInfo, m, std::move(f));
}
inline void Warn(std::string_view m, nlohmann::json f = nlohmann::json::object()) {
  Write(Level::kWarn, m, std::move(f));
}
inline void Error(std::string_view m, nlohmann::json f = nlohmann::json::object()) {
  Write(Level::kError, m, std::move(f));
}

// The access log: one line a call ("msg":"call"). OK calls are written at this rate (0: none,
// 1: every one; a call is kept or not by its trace id, so a trace is logged whole or not at
// all); every error is written. Default 1.
void ConfigureAccessLog(double ok_sample_rate);
// Whether an OK call of this trace is written.
bool SampleAccess(std::string_view trace_id);
// A step of traced work that is no call of its own (an item of a batch call, an applied change
// event), written in the current span with its parent span at info, for the traces the access
// log keeps: a trace is followed from call to step to step.
void TraceStep(std::string_view message, nlohmann::json fields = nlohmann::json::object());

// gRPC's own log lines (a failed TLS handshake, a dropped connection) as JSON lines of ours;
// they were raw "E1129 ..." lines on stderr. Idempotent.
void RouteGrpcLogs();

// "alice.smith@example.com" -> "a***@example.com".
std::string MaskEmail(std::string_view email);
// "+49 170 1234567" -> "+49*******67".
std::string MaskPhone(std::string_view phone);
// Masks every email and phone number in free text and removes bearer tokens and JWTs.
std::string Scrub(std::string_view text);
// Formats one log line (without the newline); exposed for tests.
std::string FormatLine(Level level, std::string_view message, nlohmann::json fields);

}  // namespace msp::log
