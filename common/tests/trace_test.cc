// W3C traceparent parsing and formatting, spans, and the log lines written in a span.
#include "msp/common/trace.h"

#include <gtest/gtest.h>

#include <optional>

#include "msp/common/log.h"
#include "nlohmann/json.hpp"

namespace msp::trace {
namespace {

constexpr char kExample[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesTheSpecsExampleAndFormatsItBack) {
  const auto context = Parse(kExample);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(context->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(context->sampled);
  EXPECT_EQ(Format(*context), kExample);
  EXPECT_FALSE(Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  // Upper case is read as lower case; surrounding spaces are ignored.
  EXPECT_TRUE(Parse(" 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 ").has_value());
}

TEST(Traceparent, RefusesWhatTheSpecSaysToIgnore) {
  for (const char* bad :
       {"", "garbage", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // version 00 is 55 long
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(Parse(bad).has_value()) << bad;
  }
  // A later version may carry more fields after the four it shares with 00.
  EXPECT_TRUE(Parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").has_value());
}

TEST(Spans, ACallJoinsItsCallersTraceOrStartsOne) {
  const Context child = FromHeader(std::string_view(kExample));
  EXPECT_EQ(child.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(child.parent_span_id, "00f067aa0ba902b7");
  EXPECT_NE(child.span_id, "00f067aa0ba902b7");
  EXPECT_EQ(child.span_id.size(), 16u);
  const Context fresh = FromHeader(std::string_view("not a traceparent"));
  EXPECT_EQ(fresh.trace_id.size(), 32u);
  EXPECT_TRUE(fresh.parent_span_id.empty());
  EXPECT_NE(NewTrace().trace_id, NewTrace().trace_id);
  EXPECT_TRUE(Parse(Format(fresh)).has_value());
}

TEST(Spans, LogLinesCarryTheCurrentSpansIdsAndScopesNest) {
  EXPECT_EQ(Current(), nullptr);
  auto line = nlohmann::json::parse(log::FormatLine(log::Level::kInfo, "outside", {}));
  EXPECT_FALSE(line.contains("trace_id"));
  const Context outer = NewTrace();
  {
    Scope scope(outer);
    line = nlohmann::json::parse(log::FormatLine(log::Level::kInfo, "inside", {}));
    EXPECT_EQ(line["trace_id"], outer.trace_id);
    EXPECT_EQ(line["span_id"], outer.span_id);
    const Context inner = ChildOf(outer);
    {
      Scope nested(inner);
      EXPECT_EQ(Current()->span_id, inner.span_id);
    }
    EXPECT_EQ(Current()->span_id, outer.span_id);
  }
  EXPECT_EQ(Current(), nullptr);
}

TEST(AccessLog, SamplesOkCallsByTraceIdSoATraceIsWholeOrAbsent) {
  log::ConfigureAccessLog(1.0);
  EXPECT_TRUE(log::SampleAccess("4bf92f3577b34da6a3ce929d0e0e4736"));
  log::ConfigureAccessLog(0.0);
  EXPECT_FALSE(log::SampleAccess("4bf92f3577b34da6a3ce929d0e0e4736"));
  log::ConfigureAccessLog(0.5);
  EXPECT_TRUE(log::SampleAccess("ffffffffffffffffffffffff00000001"));   // low: kept
  EXPECT_FALSE(log::SampleAccess("00000000000000000000000ffffffff0"));  // high: dropped
  int kept = 0;
  for (int i = 0; i < 2000; ++i) kept += log::SampleAccess(NewTrace().trace_id) ? 1 : 0;
  EXPECT_GT(kept, 800);
  EXPECT_LT(kept, 1200);
  log::ConfigureAccessLog(1.0);
}

// A step of traced work is written in its span, naming the span it continues, for the traces
// the access log keeps, and not at all outside a span.
TEST(AccessLog, AStepOfATraceIsWrittenWithItsParentForTheTracesKept) {
  const Context parent = NewTrace();
  const Context step = ChildOf(parent);
  auto written = [&](double rate, bool in_span) {
    log::ConfigureAccessLog(rate);
    ::testing::internal::CaptureStderr();
    {
      std::optional<Scope> scope;
      if (in_span) scope.emplace(step);
      log::TraceStep("services assigned", {{"customer", "msps/m/customers/c"}});
    }
    log::ConfigureAccessLog(1.0);
    return ::testing::internal::GetCapturedStderr();
  };
  const auto line = nlohmann::json::parse(written(1.0, true));
  EXPECT_EQ(line["msg"], "services assigned");
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["trace_id"], parent.trace_id);
  EXPECT_EQ(line["span_id"], step.span_id);
  EXPECT_EQ(line["parent_span_id"], parent.span_id);
  EXPECT_EQ(line["customer"], "msps/m/customers/c");
  EXPECT_EQ(written(0.0, true), "");
  EXPECT_EQ(written(1.0, false), "");
}

}  // namespace
}  // namespace msp::trace
