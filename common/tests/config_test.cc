#include "msp/common/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/flags/flag.h"

ABSL_FLAG(int, config_test_port, 1, "test flag");
ABSL_FLAG(std::string, config_test_name, "default", "test flag");

namespace msp {
namespace {

TEST(ConfigTest, EnvironmentFillsFlagsAndTheCommandLineWins) {
  EXPECT_EQ(EnvVarForFlag("config_test_port"), "MSP_CONFIG_TEST_PORT");
  setenv("MSP_CONFIG_TEST_PORT", "4242", 1);
  setenv("MSP_CONFIG_TEST_NAME", "from-env", 1);
  std::string prog = "prog", arg = "--config_test_name=from-flag";
  char* argv[] = {prog.data(), arg.data()};
  ParseFlagsWithEnvFallback(2, argv);
  EXPECT_EQ(absl::GetFlag(FLAGS_config_test_port), 4242);
  EXPECT_EQ(absl::GetFlag(FLAGS_config_test_name), "from-flag");
  unsetenv("MSP_CONFIG_TEST_PORT");
  unsetenv("MSP_CONFIG_TEST_NAME");
}

}  // namespace
}  // namespace msp
