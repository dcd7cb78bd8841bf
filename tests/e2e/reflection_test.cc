// Runs the Node.js reflection client (tests/reflection/reflection_client.js) against the whole
// stack: it must list, describe and call every service with no .proto file of its own.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "stack.h"

namespace msp {
namespace {

TEST(ReflectionTest, ThirdPartyClientListsDescribesAndCallsEveryService) {
  const std::filesystem::path script = MSP_REFLECTION_SCRIPT;
  const auto modules = script.parent_path() / "node_modules";
  if (!std::filesystem::exists(modules / "grpc-js-reflection-client")) {
    // tools/test installs them (npm ci); CI fails here rather than skipping silently.
    FAIL() << "npm packages missing: run `npm ci --prefix " << script.parent_path().string() << "`";
  }
  testing::Stack stack;
  testing::ChildProcess node({"node", script.string()},
                             {{"CUSTOMER_ADDR", stack.address("customer")},
                              {"ASSIGNMENT_ADDR", stack.address("service-assignment")},
                              {"ONBOARDING_ADDR", stack.address("onboarding-invitation")},
                              {"REPORTING_ADDR", stack.address("reporting")},
                              {"MSP_TOKEN", stack.MspToken("reflect")}},
                             stack.log_dir() + "/node.log");
  const int status = node.Wait(std::chrono::seconds(120));
  const std::string output = node.ReadLog();
  std::cout << output;
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("reflection client: all checks passed"), std::string::npos) << output;
}

}  // namespace
}  // namespace msp
