// The mspctl CLI against the real suite: every command group, human tables and --json, error
// output with reasons and field violations, exit codes, and the CSV export written to a file
// byte for byte as the API streams it (with no progress noise when not on a terminal).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "msp/common/identities.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "stack.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Stack;

Stack* stack = nullptr;
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

struct Result {
  int exit = -1;
  std::string output;  // stdout and stderr
};

Result Mspctl(const std::vector<std::string>& args, const std::string& msp = "cli",
              std::map<std::string, std::string> env = {}) {
  static int n = 0;
  std::vector<std::string> argv = {testing::BinaryPath("tools/mspctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  env.emplace("MSP_TOKEN", stack->MspToken(msp));
  env.emplace("MSP_CUSTOMER_ADDRESS", stack->address("customer"));
  env.emplace("MSP_ASSIGNMENT_ADDRESS", stack->address("service-assignment"));
  env.emplace("MSP_ONBOARDING_ADDRESS", stack->address("onboarding-invitation"));
  env.emplace("MSP_REPORTING_ADDRESS", stack->address("reporting"));
  testing::ChildProcess process(argv, env, absl::StrCat(stack->log_dir(), "/mspctl-", n++, ".log"));
  Result r;
  r.exit = process.Wait(std::chrono::seconds(60));
  r.output = process.ReadLog();
  return r;
}

nlohmann::json Json(const Result& r) {
  EXPECT_EQ(r.exit, 0) << r.output;
  return nlohmann::json::parse(r.output, nullptr, false);
}

std::vector<std::string> AddArgs(const std::string& name, const std::string& email) {
  return {"customers",
          "add",
          "--name=" + name,
          "--country=DE",
          "--address1=Hauptstr. 1",
          "--city=Berlin",
          "--state=Berlin",
          "--zip=10115",
          "--first_name=Erika",
          "--last_name=Muster",
          "--email=" + email,
          "--phone=+49 30 1234567"};
}

bool WaitForTable(const std::string& text) {
  for (int i = 0; i < 200; ++i) {
    if (Mspctl({"table", "show"}).output.find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(Mspctl, CustomersFromAddToEvents) {
  auto args = AddArgs("Contoso, Ltd.", "it@contoso-cli.example");
  args.push_back("--json");
  const auto created = Json(Mspctl(args));
  const std::string id = created.value("customerId", "");
  ASSERT_EQ(id.size(), 10u);

  Result r = Mspctl({"customers", "get", id});
  EXPECT_EQ(r.exit, 0);
  EXPECT_NE(r.output.find("Contoso, Ltd."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("FULLY_MANAGED"), std::string::npos);
  r = Mspctl({"customers", "list", "--search=contoso"});
  EXPECT_NE(r.output.find(id), std::string::npos) << r.output;
  EXPECT_EQ(r.output.rfind("ID", 0), 0u) << "a header first: " << r.output;
  r = Mspctl({"customers", "update", id, "--name=Contoso AG"});
  EXPECT_EQ(r.exit, 0) << r.output;
  EXPECT_NE(r.output.find("Contoso AG"), std::string::npos);
  r = Mspctl({"customers", "upgrade", id});
  EXPECT_NE(r.output.find("JOINTLY_MANAGED"), std::string::npos) << r.output;
  r = Mspctl({"customers", "events", id});
  EXPECT_NE(r.output.find("CUSTOMER_UPDATED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("UPGRADED_TO_JOINTLY_MANAGED"), std::string::npos);
  // A delink request on the jointly managed customer, then revoked.
  const auto delink = Json(Mspctl({"delink", "request", id, "--json"}));
  const std::string delink_name = delink.value("name", "");
  ASSERT_FALSE(delink_name.empty());
  r = Mspctl({"delink", "revoke", delink_name});
  EXPECT_EQ(r.exit, 0) << r.output;
  EXPECT_NE(r.output.find("REVOKED"), std::string::npos) << r.output;
}

TEST(Mspctl, ServicesTableColumnsAndExport) {
  const auto created = Json(Mspctl([] {
    auto a = AddArgs("Fabrikam GmbH", "it@fabrikam-cli.example");
    a.push_back("--json");
    return a;
  }()));
  const std::string id = created.value("customerId", "");
  Result r = Mspctl({"services", "assign", id, "knox-guard", "KNOX_CONFIGURE"});
  EXPECT_EQ(r.exit, 0) << r.output;
  r = Mspctl({"services", "list", id});
  EXPECT_NE(r.output.find("knox-guard"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ACTIVE"), std::string::npos);
  r = Mspctl({"services", "launch", id, "knox-guard"});
  EXPECT_EQ(r.exit, 0) << r.output;
  EXPECT_NE(r.output.find("#"), std::string::npos) << "a launch link: " << r.output;

  ASSERT_TRUE(WaitForTable("knox-guard:ACTIVE"));
  r = Mspctl({"table", "columns", "NAME", "created"});
  EXPECT_EQ(r.output, "NAME CREATED\n");
  r = Mspctl({"table", "show"});
  EXPECT_EQ(r.output.rfind("STATE   NAME", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("CREATED"), std::string::npos);
  EXPECT_EQ(r.output.find("CUSTOMER_ID"), std::string::npos);

  const std::string path = stack->log_dir() + "/customers.csv";
  r = Mspctl({"export", "csv", "--out=" + path});
  EXPECT_EQ(r.exit, 0) << r.output;
  EXPECT_EQ(r.output, "") << "no progress line when not on a terminal";
  std::ifstream file(path);
  std::stringstream written;
  written << file.rdbuf();
  // What the API streams, byte for byte.
  auto reporting = reporting::v1::ReportingService::NewStub(stack->Channel("reporting"));
  grpc::ClientContext context;
  testing::Authorize(context, stack->MspToken("cli"));
  reporting::v1::ExportCustomersCsvRequest request;
  request.set_parent("msps/cli");
  auto reader = reporting->ExportCustomersCsv(&context, request);
  std::string streamed;
  reporting::v1::CsvChunk chunk;
  while (reader->Read(&chunk)) streamed += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(written.str(), streamed);
  EXPECT_NE(streamed.find("Fabrikam GmbH"), std::string::npos);
}

TEST(Mspctl, InvitationsCreateListResendCancel) {
  auto customers = customer::v1::CustomerService::NewStub(stack->Channel("customer"));
  customer::v1::CreateKnoxCustomerRequest knox_request;
  *knox_request.mutable_customer() =
      customer::testdata::ValidCustomer("Invitee AG", "admin@invitee-cli.example");
  customer::v1::Customer knox;
  ASSERT_TRUE(testing::Call(&customer::v1::CustomerService::Stub::CreateKnoxCustomer, *customers,
                            stack->ServiceToken(identity::kKnoxAccounts), knox_request, &knox)
                  .ok());
  const auto invitation = Json(Mspctl({"invitations", "create", knox.customer_id(),
                                       "--services=knox-configure", "--jointly", "--json"}));
  const std::string name = invitation.value("name", "");
  ASSERT_FALSE(name.empty());
  Result r = Mspctl({"invitations", "list"});
  EXPECT_NE(r.output.find(knox.customer_id()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PENDING"), std::string::npos);
  EXPECT_NE(r.output.find(name), std::string::npos);
  // Resent at once: the service refuses, and says when to try again.
  r = Mspctl({"invitations", "resend", name});
  EXPECT_EQ(r.exit, 1);
  EXPECT_NE(r.output.find("RESOURCE_EXHAUSTED RESEND_THROTTLED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("retry in"), std::string::npos) << r.output;
  r = Mspctl({"invitations", "cancel", name});
  EXPECT_EQ(r.exit, 0) << r.output;
  EXPECT_NE(r.output.find("CANCELED"), std::string::npos);
}

TEST(Mspctl, ErrorsAndExitCodes) {
  // Refused: the code, the reason and every field violation on their own lines.
  Result r = Mspctl(AddArgs("Bad Email Co", "not-an-email"));
  EXPECT_EQ(r.exit, 1);
  EXPECT_NE(r.output.find("error: INVALID_ARGUMENT INVALID_FIELDS"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n  customer.contact.work_email: "), std::string::npos) << r.output;
  r = Mspctl({"customers", "get", "0000000000"});
  EXPECT_EQ(r.exit, 1);
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos);
  // Another MSP's customer is not there for this one.
  const auto mine = Json(Mspctl([] {
    auto a = AddArgs("Mine Ltd", "it@mine-cli.example");
    a.push_back("--json");
    return a;
  }()));
  r = Mspctl({"customers", "get", mine.value("customerId", "")}, "cli-other");
  EXPECT_EQ(r.exit, 1);
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos);
  // Usage.
  EXPECT_EQ(Mspctl({"customers", "frobnicate"}).exit, 2);
  EXPECT_EQ(Mspctl({"services", "assign", "x", "knox-toaster"}).exit, 2);
  EXPECT_EQ(Mspctl({"table", "show", "--columns=COLOR"}).exit, 2);
  EXPECT_EQ(Mspctl({}).exit, 2);
  EXPECT_EQ(Mspctl({"help"}).exit, 0);
  // --help on a command: that command's usage, and nothing of the others.
  r = Mspctl({"invitations", "--help"});
  EXPECT_EQ(r.exit, 0);
  EXPECT_NE(r.output.find("invitations create"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("customers add"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Exit status"), std::string::npos);
  // No service there.
  r = Mspctl({"customers", "list"}, "cli", {{"MSP_CUSTOMER_ADDRESS", "127.0.0.1:1"}});
  EXPECT_EQ(r.exit, 3) << r.output;
  // A bad token: refused by the service.
  r = Mspctl({"customers", "list", "--msp=cli"}, "cli", {{"MSP_TOKEN", "not.a.jwt"}});
  EXPECT_EQ(r.exit, 1);
  EXPECT_NE(r.output.find("UNAUTHENTICATED"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace msp
