#include "msp/common/log.h"

#include "msp/common/malformed_requests.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace msp::log {
namespace {

TEST(LogTest, MasksEmailsAndPhones) {
  EXPECT_EQ(MaskEmail("alice.smith@example.com"), "a***@example.com");
  EXPECT_EQ(MaskPhone("+49 170 1234567"), "+49********67");
  const std::string scrubbed =
      Scrub("contact erika@firma.de, phone +49 30 1234567 or 030123456789");
  EXPECT_EQ(scrubbed.find("erika@"), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find("e***@firma.de"), std::string::npos) << scrubbed;
  EXPECT_EQ(scrubbed.find("1234567"), std::string::npos) << scrubbed;
  EXPECT_EQ(scrubbed.find("030123456789"), std::string::npos) << scrubbed;
}

TEST(LogTest, NeverPrintsTokens) {
  const std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
  EXPECT_EQ(Scrub("authorization: Bearer " + jwt).find("eyJ"), std::string::npos);
  EXPECT_EQ(Scrub("token=" + jwt).find("c2lnbmF0"), std::string::npos);
  EXPECT_EQ(Scrub("Bearer opaque-token-value").find("opaque-token-value"), std::string::npos);
}

TEST(LogTest, LeavesAddressesPortsAndIdsAlone) {
  EXPECT_EQ(Scrub("listening on 127.0.0.1:50051"), "listening on 127.0.0.1:50051");
  EXPECT_EQ(Scrub("customer 7hq2m4xk9d version 12"), "customer 7hq2m4xk9d version 12");
}

// One message key a line: a field called message (an error's) is the detail, and no field
// replaces the line's own keys.
TEST(LogTest, ALineHasOneMessageKey) {
  auto parsed = nlohmann::json::parse(
      FormatLine(Level::kWarn, "service assignment refused",
                 {{"message", "the tenant id is taken"}, {"level", "x"}, {"service", "y"}}));
  EXPECT_EQ(parsed["msg"], "service assignment refused");
  EXPECT_FALSE(parsed.contains("message"));
  EXPECT_EQ(parsed["detail"], "the tenant id is taken");
  EXPECT_EQ(parsed["level"], "warn");
  EXPECT_EQ(parsed["field_level"], "x");
  EXPECT_EQ(parsed["field_service"], "y");
  parsed = nlohmann::json::parse(FormatLine(Level::kInfo, "a", {{"msg", "b"}}));
  EXPECT_EQ(parsed["msg"], "a");
  EXPECT_EQ(parsed["detail"], "b");
}

TEST(LogTest, FormatsOneJsonObjectAndScrubsFields) {
  const std::string line = FormatLine(
      Level::kWarn, "created for bob@corp.com",
      {{"email", "bob@corp.com"}, {"count", 3}, {"nested", {{"phone", "+1 415 555 0100"}}}});
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "warn");
  EXPECT_EQ(parsed["count"], 3);
  EXPECT_EQ(parsed["email"], "b***@corp.com");
  EXPECT_EQ(parsed["msg"], "created for b***@corp.com");
  EXPECT_EQ(parsed["nested"]["phone"].get<std::string>().find("555"), std::string::npos);
  EXPECT_TRUE(parsed.contains("ts"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
// protobuf's own complaints (here one of its log macros, as its parser uses) come out as JSON
// lines of ours through the handler every server installs (malformed_requests.h), not as
// "[libprotobuf ERROR ...]" text.
TEST(LogTest, ProtobufsLogLinesAreJsonLines) {
  RouteProtobufLogs();
  char path[] = "/tmp/log-test-XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  std::fflush(stderr);
  const int saved = dup(2);
  dup2(file, 2);
  GOOGLE_LOG(ERROR) << "a protobuf complaint";
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(file);
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    auto json = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << "not a JSON line: " << line;
    lines.push_back(json);
  }
  std::remove(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "a protobuf complaint");
  EXPECT_EQ(lines[0]["source"], "protobuf");
  EXPECT_EQ(lines[0]["level"], "error");
}

}  // namespace msp::log
