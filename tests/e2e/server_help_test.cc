// `<server> --help` lists every flag of the suite's with the environment variable that sets it
// (Abseil's own --help printed "No flags matched": a service's main file defines none).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "msp/common/build_version.h"
#include "msp/common/config.h"
#include "processes.h"

namespace msp {
namespace {

TEST(ServerHelp, ListsEveryFlagWithItsEnvironmentVariable) {
  testing::TempDir dir;
  for (const std::string binary :
       {"services/customer/customer_server",
        "services/service-assignment/service_assignment_server",
        "services/onboarding-invitation/onboarding_invitation_server",
        "services/reporting/reporting_server", "services/reporting/reporting_rebuild"}) {
    const std::string out = dir.path() + "/help.txt";
    ASSERT_EQ(testing::RunCommand({testing::BinaryPath(binary), "--help"}, out), 0) << binary;
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    const std::string help = text.str();
    // The flags every service shares, TLS and key sets included, each with its variable.
    for (const char* flag : {"database_url", "listen", "jwt_jwks_file", "tls_cert_file",
                             "tls_client_certs", "health_port"}) {
      EXPECT_NE(help.find(std::string("--") + flag + "  (" + EnvVarForFlag(flag) + ")"),
                std::string::npos)
          << binary << " --help does not list " << flag << ":\n"
          << help.substr(0, 400);
    }
    // Every listed flag names its own variable.
    static const std::regex kLine(R"(^  --([a-z0-9_]+)  \((MSP_[A-Z0-9_]+)\)$)");
    int listed = 0;
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (!std::regex_match(line, m, kLine)) continue;
      ++listed;
      EXPECT_EQ(m[2].str(), EnvVarForFlag(m[1].str())) << binary << ": " << line;
    }
    EXPECT_GE(listed, 20) << binary;
    // Nothing of Abseil's or gRPC's own.
    EXPECT_EQ(help.find("--flagfile"), std::string::npos) << binary;
  }
}

// `--version` prints what the binary was built from (git describe and the commit; Abseil's own
// printed "Debug build"), the same as the msp_build_info metric.
TEST(ServerHelp, VersionIsTheGitVersionTheBinaryWasBuiltFrom) {
  testing::TempDir dir;
  const std::string expected = std::string(BuildVersion()) + " (commit " + BuildRevision() + ")\n";
  int text_files = 0;
  for (const std::string binary : {"services/customer/customer_server",
                                   "services/service-assignment/service_assignment_server",
                                   "services/onboarding-invitation/onboarding_invitation_server",
                                   "services/reporting/reporting_server", "tools/mspctl"}) {
    // RunCommand appends: a file of its own for each binary.
    const std::string out = dir.path() + "/version-" + std::to_string(text_files++) + ".txt";
    ASSERT_EQ(testing::RunCommand({testing::BinaryPath(binary), "--version"}, out), 0) << binary;
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), expected) << binary;
  }
  EXPECT_NE(std::string(BuildVersion()), "");
}

}  // namespace
}  // namespace msp
