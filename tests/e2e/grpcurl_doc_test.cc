// docs/grpcurl.md is a session: every ```sh block, in order, against a real stack. This test runs
// exactly those blocks with bash, with the stack's addresses in place of 127.0.0.1:5005x, its
// token minting in place of `./tools/dev token`, its maildir in place of .local/mail, and
// `grpcurl` standing for build/tools/msp_call (calls, list and describe; reflection_e2e_test
// proves the same reflection path with the Node.js client). Every call must answer OK. It also
// checks that the page names every RPC of every service, so a new RPC without a line fails here.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/customer/v1/bulk_jobs.pb.h"
#include "msp/customer/v1/customer.pb.h"
#include "msp/onboarding/v1/onboarding.pb.h"
#include "msp/reporting/v1/reporting.pb.h"
#include "stack.h"

namespace msp {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The ```sh blocks of a Markdown page, in order.
std::string ShellBlocks(const std::string& markdown) {
  std::string out;
  std::istringstream lines(markdown);
  bool in_block = false;
  for (std::string line; std::getline(lines, line);) {
    if (!in_block && line == "```sh") {
      in_block = true;
    } else if (in_block && line == "```") {
      in_block = false;
    } else if (in_block) {
      out += line + "\n";
    }
  }
  return out;
}

TEST(GrpcurlDoc, EveryRpcIsOnThePage) {
  // Link the contracts in, so that the descriptor pool knows their services.
  (void)customer::v1::Customer::descriptor();
  (void)customer::v1::BulkJob::descriptor();
  (void)assignment::v1::AssignedService::descriptor();
  (void)onboarding::v1::Invitation::descriptor();
  (void)reporting::v1::TableRow::descriptor();
  const std::string page = ReadFile(std::string(MSP_SOURCE_DIR) + "/docs/grpcurl.md");
  for (const char* service :
       {"msp.customer.v1.CustomerService", "msp.customer.v1.BulkJobService",
        "msp.assignment.v1.ServiceAssignmentService", "msp.onboarding.v1.OnboardingService",
        "msp.reporting.v1.ReportingService"}) {
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(descriptor, nullptr) << service;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const std::string line = absl::StrCat(service, "/", descriptor->method(i)->name());
      EXPECT_NE(ShellBlocks(page).find(line), std::string::npos) << "no grpcurl line for " << line;
    }
  }
}

TEST(GrpcurlDoc, ThePageRunsTopToBottomAgainstTheSuite) {
  testing::Stack stack;
  testing::TempDir work;
  const std::string maildir = work.path() + "/mail";
  // Emails into a maildir the page can read, and resends allowed at once (the page sends one
  // customer four emails in a few seconds).
  stack.StopService("onboarding-invitation", SIGTERM);
  stack.StartService(
      "onboarding-invitation",
      {"--mail_url=maildir:" + maildir, "--resend_min_interval_s=0", "--recipient_email_burst=10"});

  std::string script = ShellBlocks(ReadFile(std::string(MSP_SOURCE_DIR) + "/docs/grpcurl.md"));
  script = absl::StrReplaceAll(script, {{"127.0.0.1:50051", stack.address("customer")},
                                        {"127.0.0.1:50052", stack.address("service-assignment")},
                                        {"127.0.0.1:50053", stack.address("onboarding-invitation")},
                                        {"127.0.0.1:50054", stack.address("reporting")},
                                        {"./tools/dev token", "mint"},
                                        {".local/mail/new", maildir + "/new"}});
  const std::string prologue = absl::StrCat(
      "set -euo pipefail\n",
      // grpcurl is msp_call: the same arguments, list and describe included.
      "grpcurl() {\n"
      "  '",
      testing::BinaryPath("tools/msp_call"), "' \"$@\"\n", "}\n",
      // ./tools/dev token, with the stack's secret and issuer.
      "mint() {\n"
      "  local args=(--key_file '",
      stack.jwt_key_file(), "' --issuer ", testing::kTestIssuer, " --audience ",
      testing::kTestAudience, ")\n",
      "  while [ $# -gt 0 ]; do\n"
      "    case \"$1\" in\n"
      "      --msp) args+=(--msp \"$2\") ;;\n"
      "      --admin) args+=(--admin \"$2\") ;;\n"
      "      --service) args+=(--role service --admin \"$2\") ;;\n"
      "      --customer) args+=(--role customer_admin --customer \"$2\" --admin super-admin) ;;\n"
      "    esac\n"
      "    shift 2\n"
      "  done\n"
      "  '",
      testing::BinaryPath("tools/msp_token"), "' \"${args[@]}\"\n",
      "}\n"
      "set -x\n");
  const std::string path = work.path() + "/grpcurl-page.sh";
  std::ofstream(path) << prologue << script;
  testing::ChildProcess bash({"/bin/bash", path}, {}, work.path() + "/grpcurl-page.log");
  const int status = bash.Wait(std::chrono::seconds(180));
  EXPECT_EQ(status, 0) << bash.ReadLog().substr(
      bash.ReadLog().size() > 6000 ? bash.ReadLog().size() - 6000 : 0);
  // The whole session (invitations, link tokens, delinks) left nothing personal in the logs.
  EXPECT_EQ(stack.LogLeaks(), std::vector<std::string>{});
}

}  // namespace
}  // namespace msp
