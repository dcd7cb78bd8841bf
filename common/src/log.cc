#include "msp/common/log.h"

#include <grpc/support/log.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "msp/common/trace.h"

namespace msp::log {
namespace {

struct LogState {
  std::mutex mu;
  std::string service = "msp";
  // Read on every call: atomics, not the mutex.
  std::atomic<Level> min_level{Level::kInfo};
  std::atomic<double> access_sample_rate{1.0};
};

LogState& State() {
  static LogState* state = new LogState();
  return *state;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

void ScrubJson(nlohmann::json& value) {
  if (value.is_string()) {
    value = Scrub(value.get_ref<const std::string&>());
  } else if (value.is_object() || value.is_array()) {
    for (auto& item : value) ScrubJson(item);
  }
}

}  // namespace

void Configure(std::string service_name, Level min_level) {
  std::lock_guard<std::mutex> lock(State().mu);
  State().service = std::move(service_name);
  State().min_level.store(min_level);
}

Level ParseLevel(std::string_view text) {
  std::string lower = absl::AsciiStrToLower(std::string(text));
  if (lower == "debug") return Level::kDebug;
  if (lower == "warn" || lower == "warning") return Level::kWarn;
  if (lower == "error") return Level::kError;
  return Level::kInfo;
}

std::string MaskEmail(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0) return "***";
  std::string out(1, email[0]);
  out += "***";
  out.append(email.substr(at));
  return out;
}

std::string MaskPhone(std::string_view phone) {
  std::string digits;
  for (char c : phone) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  if (digits.size() < 5) return "***";
  std::string out = phone.substr(0, 1) == "+" ? "+" : "";
  out += digits.substr(0, 2);
  out.append(digits.size() - 4, '*');
  out += digits.substr(digits.size() - 2);
  return out;
}

std::string Scrub(std::string_view text) {
  static const std::regex kBearer(R"((bearer|Bearer|BEARER)\s+[A-Za-z0-9._~+/=-]+)");
  static const std::regex kJwt(R"(eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)");
  static const std::regex kEmail(
      R"(([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,}))");
  // A phone number starts with "+" (how the suite stores them) or is a long run of digits;
  // IP addresses and ports must not look like one.
  static const std::regex kPhone(R"(\+\d[\d ()/.-]{5,}\d|\b\d{9,15}\b)");
  std::string out(text);
  // Cheap pre-checks keep the common case (no PII at all) off the regex engine.
  if (out.find("earer") != std::string::npos || out.find("EARER") != std::string::npos) {
    out = std::regex_replace(out, kBearer, "Bearer [redacted]");
  }
  if (out.find("eyJ") != std::string::npos) out = std::regex_replace(out, kJwt, "[redacted-jwt]");
  if (out.find('@') != std::string::npos) out = std::regex_replace(out, kEmail, "$1***@$2");
  int digits = 0;
  for (char c : out) digits += absl::ascii_isdigit(static_cast<unsigned char>(c)) ? 1 : 0;
  if (digits >= 7) {
    std::string masked;
    auto begin = std::sregex_iterator(out.begin(), out.end(), kPhone);
    size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
      masked.append(out, last, static_cast<size_t>(it->position()) - last);
      masked += MaskPhone(it->str());
      last = static_cast<size_t>(it->position() + it->length());
    }
    masked.append(out, last, std::string::npos);
    out = std::move(masked);
  }
  return out;
}

std::string FormatLine(Level level, std::string_view message, nlohmann::json fields) {
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  {
    std::lock_guard<std::mutex> lock(State().mu);
    line["service"] = State().service;
  }
  line["msg"] = Scrub(message);
  if (fields.is_object()) {
    ScrubJson(fields);
    for (auto& [key, value] : fields.items()) {
      // One message key a line, and no field over the line's own keys: another message (an
      // error's) is the detail.
      std::string name = key;
      if (name == "message" || name == "msg") {
        name = "detail";
      } else if (name == "ts" || name == "level" || name == "service") {
        name = "field_" + name;
      }
      line[name] = std::move(value);
    }
  }
  // The span the line was written in (ids this process made or parsed: not scrubbed).
  if (const trace::Context* span = trace::Current(); span != nullptr) {
    if (!line.contains("trace_id")) line["trace_id"] = span->trace_id;
    if (!line.contains("span_id")) line["span_id"] = span->span_id;
  }
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool Enabled(Level level) { return level >= State().min_level.load(std::memory_order_relaxed); }

void Write(Level level, std::string_view message, nlohmann::json fields) {
  if (!Enabled(level)) return;
  std::string line = FormatLine(level, message, std::move(fields));
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void ConfigureAccessLog(double ok_sample_rate) { State().access_sample_rate.store(ok_sample_rate); }

bool SampleAccess(std::string_view trace_id) {
  const double rate = State().access_sample_rate.load(std::memory_order_relaxed);
  if (rate >= 1.0) return true;
  if (rate <= 0.0 || trace_id.size() < 8) return false;
  // The trace id's last 8 hex digits as a fraction: random, and the same in every service.
  const double position = static_cast<double>(std::stoul(
                              std::string(trace_id.substr(trace_id.size() - 8)), nullptr, 16)) /
                          4294967296.0;
  return position < rate;
}

void TraceStep(std::string_view message, nlohmann::json fields) {
  const trace::Context* span = trace::Current();
  if (span == nullptr || !Enabled(Level::kInfo) || !SampleAccess(span->trace_id)) return;
  if (!span->parent_span_id.empty()) fields["parent_span_id"] = span->parent_span_id;
  Write(Level::kInfo, message, std::move(fields));
}

namespace {

void GrpcLogLine(gpr_log_func_args* args) {
  // gRPC's errors are about one connection or call (a bad handshake from some client), not
  // about this service: warnings.
  const Level level = args->severity == GPR_LOG_SEVERITY_DEBUG  ? Level::kDebug
                      : args->severity == GPR_LOG_SEVERITY_INFO ? Level::kInfo
                                                                : Level::kWarn;
  Write(level, args->message != nullptr ? args->message : "",
        {{"source", "grpc"}, {"at", absl::StrCat(args->file, ":", args->line)}});
}

}  // namespace

void RouteGrpcLogs() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(&GrpcLogLine); });
}

}  // namespace msp::log
