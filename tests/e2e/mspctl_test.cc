// The mspctl CLI against the real suite: every command group, human tables and --json, error
// output with reasons and field violations, exit codes, and the CSV export written to a file
// byte for byte as the API streams it (with no progress noise when not on a terminal).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "display_width.h"
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

// Runs mspctl (or `program`, with mspctl's environment) with `args` as `msp`'s admin.
Result Mspctl(const std::vector<std::string>& args, const std::string& msp = "cli",
              std::map<std::string, std::string> env = {}, const std::string& program = "") {
  static int n = 0;
  std::vector<std::string> argv = {program.empty() ? testing::BinaryPath("tools/mspctl") : program};
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
          "--size=COMPANY_SIZE_100_249",
          "--industries=MANUFACTURING",
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

bool WaitForTable(const std::string& text, const std::string& msp = "cli") {
  for (int i = 0; i < 200; ++i) {
    if (Mspctl({"table", "show", "--all"}, msp).output.find(text) != std::string::npos) return true;
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

// An existing Knox customer (no MSP manages it), as the Knox accounts service makes one.
grpc::Status CreateKnoxCustomer(const std::string& company, const std::string& email,
                                customer::v1::Customer* out) {
  auto customers = customer::v1::CustomerService::NewStub(stack->Channel("customer"));
  customer::v1::CreateKnoxCustomerRequest request;
  *request.mutable_customer() = customer::testdata::ValidCustomer(company, email);
  return testing::Call(&customer::v1::CustomerService::Stub::CreateKnoxCustomer, *customers,
                       stack->ServiceToken(identity::kKnoxAccounts), request, out);
}

TEST(Mspctl, InvitationsCreateListResendCancel) {
  customer::v1::Customer knox;
  ASSERT_TRUE(CreateKnoxCustomer("Invitee AG", "admin@invitee-cli.example", &knox).ok());
  const auto invitation = Json(Mspctl({"invitations", "create", knox.customer_id(),
                                       "--services=knox-configure", "--jointly", "--json"}));
  const std::string name = invitation.value("name", "");
  ASSERT_FALSE(name.empty());
  Result r = Mspctl({"invitations", "list"});
  EXPECT_NE(r.output.find(knox.customer_id()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PENDING"), std::string::npos);
  EXPECT_NE(r.output.find(name), std::string::npos);
  // Resent at once: the service refuses, and says when to try again. The short id will do
  // (the CLI knows the MSP).
  const std::string short_id = name.substr(name.rfind('/') + 1);
  r = Mspctl({"invitations", "resend", short_id});
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
  // Each violation names the flag that sets the field.
  EXPECT_NE(r.output.find("\n  --email: "), std::string::npos) << r.output;
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

// Every flag given is applied or refused, never ignored: an update sends every field it is given,
// and a flag a command does not send is a usage error.
TEST(Mspctl, EveryFlagGivenIsAppliedOrRefused) {
  auto add = AddArgs("Flags GmbH", "it@flags-cli.example");
  add.push_back("--json");
  const std::string id = Json(Mspctl(add)).value("customerId", "");
  ASSERT_FALSE(id.empty());
  const auto updated =
      Json(Mspctl({"customers", "update", id, "--zip=20095", "--city=Hamburg", "--state=Hamburg",
                   "--address2=Hinterhaus", "--size=COMPANY_SIZE_1000_PLUS", "--json"}));
  EXPECT_EQ(updated["company"]["address"].value("zipCode", ""), "20095");
  EXPECT_EQ(updated["company"]["address"].value("city", ""), "Hamburg");
  EXPECT_EQ(updated["company"]["address"].value("addressLine2", ""), "Hinterhaus");
  EXPECT_EQ(updated["company"].value("size", ""), "COMPANY_SIZE_1000_PLUS");
  // A field the service does not let change is refused by it, naming the flag.
  Result r = Mspctl({"customers", "update", id, "--country=NL"});
  if (r.exit == 0) {
    EXPECT_EQ(Json(Mspctl({"customers", "get", id, "--json"}))["company"].value("countryCode", ""),
              "NL");
  } else {
    EXPECT_EQ(r.exit, 1) << r.output;
    EXPECT_NE(r.output.find("--country"), std::string::npos) << r.output;
  }
  // Flags a command does not send: usage, exit 2, naming the flag.
  r = Mspctl({"customers", "get", id, "--zip=1"});
  EXPECT_EQ(r.exit, 2);
  EXPECT_NE(r.output.find("--zip does not apply to customers get"), std::string::npos) << r.output;
  r = Mspctl({"customers", "update", id, "--phone=+49 40 1234567"});
  EXPECT_EQ(r.exit, 2);
  EXPECT_NE(r.output.find("--phone does not apply to customers update"), std::string::npos)
      << r.output;
  EXPECT_EQ(Mspctl({"table", "show", "--jointly"}).exit, 2);
  // A value the enum does not have: usage, listing the values it has.
  r = Mspctl({"customers", "update", id, "--size=HUGE"});
  EXPECT_EQ(r.exit, 2);
  EXPECT_NE(r.output.find("one of COMPANY_SIZE_0_19, COMPANY_SIZE_20_99"), std::string::npos)
      << r.output;
  EXPECT_EQ(Mspctl({"customers", "update", id}).exit, 2);  // nothing to change
}

// Tables align by the columns a cell takes on a terminal: a name with umlauts, or with wide
// CJK characters, does not push the next column out of line.
TEST(Mspctl, TablesStayAlignedWithNonAsciiNames) {
  for (const auto& [name, email] : std::vector<std::pair<std::string, std::string>>{
           {"Müller Straßenbau GmbH", "it@mueller-cli.example"},
           {"東京トレーディング株式会社", "it@tokyo-cli.example"},
           {"Plain Ltd", "it@plain-cli.example"}}) {
    ASSERT_EQ(Mspctl(AddArgs(name, email), "cli-unicode").exit, 0) << name;
  }
  const Result r = Mspctl({"customers", "list"}, "cli-unicode");
  ASSERT_EQ(r.exit, 0) << r.output;
  // The STATE column (after COMPANY) starts at the same terminal column on every line.
  std::istringstream lines(r.output);
  std::set<size_t> state_columns;
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find(line.rfind("ID", 0) == 0 ? "STATE" : "ACTIVE");
    if (at == std::string::npos) continue;
    state_columns.insert(cli::DisplayWidth(std::string_view(line).substr(0, at)));
  }
  EXPECT_EQ(state_columns.size(), 1u) << r.output;
}

// Flags in kebab-case are the same flags; a flag mspctl does not have is a usage error naming
// the nearest one it has; times are RFC 3339, in UTC or with --local in the local zone.
TEST(Mspctl, KebabCaseFlagsDidYouMeanAndOneTimeFormat) {
  auto args = AddArgs("Kebab GmbH", "it@kebab-cli.example");
  for (auto& a : args) {
    if (a.rfind("--first_name=", 0) == 0) a.replace(0, 13, "--first-name=");
    if (a.rfind("--last_name=", 0) == 0) a.replace(0, 12, "--last-name=");
  }
  args.push_back("--json");
  const std::string id = Json(Mspctl(args)).value("customerId", "");
  ASSERT_FALSE(id.empty());
  Result r = Mspctl({"customers", "list", "--page-size=1"});
  EXPECT_EQ(r.exit, 0) << r.output;
  // The table's sort words work for the list too (the example in --helpfull was refused).
  r = Mspctl({"customers", "list", "--order_by", "modified desc", "--page_size=1"});
  EXPECT_EQ(r.exit, 0) << r.output;
  r = Mspctl({"customers", "list", "--order_by", "update_time desc", "--page_size=1"});
  EXPECT_EQ(r.exit, 0) << r.output;
  r = Mspctl({"customers", "list", "--page_sise=1"});
  EXPECT_EQ(r.exit, 2) << r.output;
  EXPECT_NE(r.output.find("unknown flag --page_sise; did you mean --page_size?"), std::string::npos)
      << r.output;
  r = Mspctl({"customers", "events", id});
  ASSERT_EQ(r.exit, 0) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex(R"(\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  CUSTOMER_CREATED)")))
      << r.output;
  r = Mspctl({"customers", "events", id, "--local"}, "cli", {{"TZ", "Asia/Kolkata"}});
  ASSERT_EQ(r.exit, 0) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex(R"(\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30  CUSTOMER_CREATED)")))
      << r.output;
}

// --all follows the pages: every customer in one answer, no page token left.
TEST(Mspctl, AllFollowsEveryPage) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Mspctl(AddArgs(absl::StrCat("Paged ", i, " Oy"),
                             absl::StrCat("it", i, "@paged-cli.example")),
                     "cli-pages")
                  .exit,
              0);
  }
  Result r = Mspctl({"customers", "list", "--page_size=1"}, "cli-pages");
  EXPECT_NE(r.output.find("more: --page_token"), std::string::npos) << r.output;
  const auto all =
      Json(Mspctl({"customers", "list", "--page_size=1", "--all", "--json"}, "cli-pages"));
  EXPECT_EQ(all["customers"].size(), 3u) << all.dump();
  EXPECT_EQ(all.value("nextPageToken", ""), "");
  ASSERT_TRUE(WaitForTable("Paged 2 Oy", "cli-pages"));
  r = Mspctl({"table", "show", "--page_size=1", "--all"}, "cli-pages");
  ASSERT_EQ(r.exit, 0) << r.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(r.output.find(absl::StrCat("Paged ", i, " Oy")), std::string::npos) << r.output;
  }
  EXPECT_EQ(r.output.find("more:"), std::string::npos) << r.output;
}

// `mspctl completion bash` completes commands, verbs and each command's own flags in a real bash.
TEST(Mspctl, BashCompletionCompletesCommandsVerbsAndFlags) {
  const Result script = Mspctl({"completion", "bash"});
  ASSERT_EQ(script.exit, 0) << script.output;
  const std::string path = stack->log_dir() + "/mspctl-completion.bash";
  std::ofstream(path) << script.output;
  // COMP_WORDS as bash fills them for a command line being typed; prints COMPREPLY.
  const auto complete = [&](const std::string& words) {
    const std::string out = stack->log_dir() + "/completion.out";
    std::remove(out.c_str());
    testing::RunCommand({"bash", "-c",
                         "source '" + path + "'; COMP_WORDS=(" + words +
                             "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mspctl; "
                             "echo \"${COMPREPLY[*]}\""},
                        out);
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  EXPECT_EQ(complete("mspctl cu"), "customers\n");
  EXPECT_EQ(complete("mspctl customers up"), "update upgrade\n");
  EXPECT_NE(complete("mspctl customers add --na").find("--name"), std::string::npos);
  // Only the command's own request flags (and the global ones).
  EXPECT_EQ(complete("mspctl customers get --zi"), "\n");
  EXPECT_EQ(complete("mspctl table show --col"), "--columns\n");
  EXPECT_EQ(Mspctl({"completion", "fish"}).exit, 2);
  const Result zsh = Mspctl({"completion", "zsh"});
  EXPECT_NE(zsh.output.find("bashcompinit"), std::string::npos);
}

// -o csv prints the table as CSV (RFC 4180 quoting), -o yaml the answer as YAML, and a format
// mspctl does not have is a usage error.
TEST(Mspctl, OutputFormats) {
  auto add = AddArgs("Comma, Quote \"Co\"", "it@formats-cli.example");
  add.push_back("-o");
  add.push_back("json");
  const std::string id = Json(Mspctl(add, "cli-formats")).value("customerId", "");
  ASSERT_FALSE(id.empty());
  Result r = Mspctl({"customers", "list", "-o", "csv"}, "cli-formats");
  ASSERT_EQ(r.exit, 0) << r.output;
  EXPECT_EQ(r.output.rfind("ID,COMPANY,STATE,MANAGEMENT,CONTACT,LINK\r\n", 0), 0u) << r.output;
  EXPECT_NE(r.output.find(id + ",\"Comma, Quote \"\"Co\"\"\",ACTIVE,FULLY_MANAGED,"),
            std::string::npos)
      << r.output;
  r = Mspctl({"customers", "get", id, "--output=yaml"}, "cli-formats");
  ASSERT_EQ(r.exit, 0) << r.output;
  // (An id that starts with a digit is quoted, as YAML might read it as a number.)
  EXPECT_TRUE(r.output.find("customerId: " + id + "\n") != std::string::npos ||
              r.output.find("customerId: \"" + id + "\"\n") != std::string::npos)
      << r.output;
  // Nested maps indented, a string YAML would misread quoted, a list as dashes.
  EXPECT_NE(r.output.find("company:\n  address:\n    addressLine1: Hauptstr. 1\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\n  displayName: \"Comma, Quote \\\"Co\\\"\"\n"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("\n    zipCode: \"10115\"\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n  industries:\n    - MANUFACTURING\n"), std::string::npos) << r.output;
  EXPECT_EQ(Mspctl({"customers", "list", "-o", "xml"}, "cli-formats").exit, 2);
}

// A context of the config file says where the services are, the output and the token (from a
// command); --context picks another; a flag on the command line wins over the context.
TEST(Mspctl, AConfigFileContextSaysWhereAndWhoAndFlagsWin) {
  const std::string token = stack->MspToken("cli-context");
  const nlohmann::json config = {
      {"current_context", "suite"},
      {"contexts",
       {{"suite",
         {{"customer_address", stack->address("customer")},
          {"assignment_address", stack->address("service-assignment")},
          {"onboarding_address", stack->address("onboarding-invitation")},
          {"reporting_address", stack->address("reporting")},
          {"token_command", "echo " + token},
          {"output", "json"}}},
        {"nowhere",
         {{"customer_address", "127.0.0.1:1"},
          {"token_command", "echo " + token},
          {"timeout_s", 2}}},
        {"misspelt", {{"colour", "blue"}}}}}};
  const std::string path = stack->log_dir() + "/mspctl-config.json";
  std::ofstream(path) << config.dump(2);
  // No MSP_* variables: everything from the file.
  static int n = 0;
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryPath("tools/mspctl"), "--config=" + path});
    testing::ChildProcess process(args, {},
                                  absl::StrCat(stack->log_dir(), "/mspctl-context-", n++, ".log"));
    Result r;
    r.exit = process.Wait(std::chrono::seconds(60));
    r.output = process.ReadLog();
    return r;
  };
  Result r = run({"customers", "list"});
  ASSERT_EQ(r.exit, 0) << r.output;
  const auto list = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(list.is_discarded()) << "the context's -o json: " << r.output;
  EXPECT_TRUE(list["customers"].is_array());
  r = run({"--context=nowhere", "customers", "list"});
  EXPECT_EQ(r.exit, 3) << r.output;
  r = run({"--context=nowhere", "--customer_address=" + stack->address("customer"), "customers",
           "list"});
  EXPECT_EQ(r.exit, 0) << r.output;
  r = run({"--context=misspelt", "customers", "list"});
  EXPECT_EQ(r.exit, 2);
  EXPECT_NE(r.output.find("context misspelt: no setting colour"), std::string::npos) << r.output;
  r = run({"--context=absent", "customers", "list"});
  EXPECT_EQ(r.exit, 2);
  EXPECT_NE(r.output.find("no context absent"), std::string::npos) << r.output;
}

// --json prints every field, an empty list as [] (proto3 JSON leaves it out: it printed {}).
TEST(Mspctl, JsonOfAnEmptyListIsAnEmptyArray) {
  const auto list = Json(Mspctl({"customers", "list", "--json"}, "cli-nobody"));
  ASSERT_TRUE(list.contains("customers")) << list.dump();
  EXPECT_TRUE(list["customers"].is_array());
  EXPECT_TRUE(list["customers"].empty());
}

// A customer's size and industries are the person's to give: left out, the service refuses the
// customer (it made them up before), and the errors name the flags.
TEST(Mspctl, NothingIsMadeUp) {
  auto args = AddArgs("Unsized Ltd", "it@unsized-cli.example");
  args.erase(std::remove_if(args.begin(), args.end(),
                            [](const std::string& a) {
                              return a.rfind("--size=", 0) == 0 || a.rfind("--industries=", 0) == 0;
                            }),
             args.end());
  const Result r = Mspctl(args);
  EXPECT_EQ(r.exit, 1) << r.output;
  EXPECT_NE(r.output.find("\n  --size: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n  --industries: "), std::string::npos) << r.output;
}

// Every write sends a request id (a new one, shown with --verbose, or --request_id's): sending
// it again returns the first answer, and a write that could not reach the service is retried
// with the same id.
TEST(Mspctl, WritesCarryARequestIdSoARetryNeverDuplicates) {
  auto args = AddArgs("Retried Oy", "it@retried-cli.example");
  args.insert(args.begin(), "--verbose");
  Result first = Mspctl(args, "cli-retry");
  ASSERT_EQ(first.exit, 0) << first.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(first.output, m, std::regex("mspctl: request id ([0-9a-f-]{36})")))
      << first.output;
  const std::string request_id = m[1];
  ASSERT_TRUE(std::regex_search(first.output, m, std::regex("\n([0-9a-z]{10})  Retried Oy")))
      << first.output;
  const std::string customer_id = m[1];
  args.push_back("--request_id=" + request_id);
  const Result again = Mspctl(args, "cli-retry");
  ASSERT_EQ(again.exit, 0) << again.output;
  EXPECT_NE(again.output.find(customer_id + "  Retried Oy"), std::string::npos) << again.output;
  const auto list = Json(Mspctl({"customers", "list", "--json"}, "cli-retry"));
  EXPECT_EQ(list["customers"].size(), 1u) << list.dump();
  // Nobody there: the write is tried 4 times with the same id, then exit 3.
  const Result unreachable = Mspctl(args, "cli-retry", {{"MSP_CUSTOMER_ADDRESS", "127.0.0.1:1"}});
  EXPECT_EQ(unreachable.exit, 3) << unreachable.output;
  EXPECT_NE(unreachable.output.find("retry 3 with request id " + request_id), std::string::npos)
      << unreachable.output;
}

// docs/cli.md's session, command by command against a real stack: each command's output must be
// the page's, up to times (any RFC 3339 time), a throttle's wait in seconds, the launch token, and
// ids the stack makes (a customer or invitation id on the page stands for the one made here, learnt
// where it first shows up, and used in later commands in its place). The page's existing Knox
// customer is made here under its name. A read whose answer follows asynchronous work (services
// assigned after a create, trail entries) is asked again until it matches or 20 s pass. "(exit N)"
// after an output is the exit status it must have.
class DocSession {
 public:
  explicit DocSession(std::string tmp) : tmp_(std::move(tmp)) {}

  void Expect(const std::string& knox_id_on_page, const std::string& knox_id) {
    ids_[knox_id_on_page] = knox_id;
  }

  // Runs one "$ ..." line; false (with a failure added) when its output is not the page's.
  bool Run(const std::string& command, std::vector<std::string> expected) {
    int want_exit = 0;
    static const std::regex kExit(R"(\(exit (\d+)\))");
    std::smatch m;
    if (!expected.empty() && std::regex_match(expected.back(), m, kExit)) {
      want_exit = std::stoi(m[1]);
      expected.pop_back();
    }
    static const std::regex kToken(
        R"(export MSP_TOKEN=\$\(\./tools/dev token --msp ([a-z0-9-]+)\))");
    if (std::regex_match(command, m, kToken)) {
      msp_ = m[1];
      return true;
    }
    const std::string line = Substituted(command);
    const bool read =
        std::regex_search(line, std::regex(R"(^mspctl \w+ (get|list|events|show)\b)"));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (true) {
      const Result r = RunLine(line);
      std::map<std::string, std::string> learnt = ids_;
      // A path in the stack's temporary directory reads as the page's /tmp/ one.
      const std::string output = absl::StrReplaceAll(r.output, {{tmp_ + "/", "/tmp/"}});
      const bool same = r.exit == want_exit && Matches(expected, Lines(output), &learnt);
      if (same) {
        ids_ = std::move(learnt);
        return true;
      }
      if (!read || std::chrono::steady_clock::now() > until) {
        ADD_FAILURE() << "$ " << line << "\nexit " << r.exit << " (page: " << want_exit
                      << ")\n--- output\n"
                      << r.output << "--- page\n"
                      << absl::StrJoin(expected, "\n");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

 private:
  // (A CSV's CRLF line ends are not on the page.)
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines = absl::StrSplit(text, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    for (auto& line : lines) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
    }
    return lines;
  }
  // Times and the launch token as placeholders of the same width (columns keep their padding).
  static std::string Normalized(const std::string& line) {
    static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
    static const std::regex kLaunchToken(R"(launch_token=eyJ.*$)");
    // A throttle's wait counts down from the last email: a slow machine reaches the resend a
    // second or two later than the page's 300 s.
    static const std::regex kRetryIn(R"(retry in \d+ s)");
    return std::regex_replace(
        std::regex_replace(std::regex_replace(line, kTime, "YYYY-MM-DDTHH:MM:SSZ"), kLaunchToken,
                           "launch_token=<token>"),
        kRetryIn, "retry in N s");
  }
  // Word tokens and what lies between them, in order.
  static std::vector<std::string> Tokens(const std::string& line) {
    static const std::regex kToken(R"([A-Za-z0-9_.@+-]+|[^A-Za-z0-9_.@+-]+)");
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), kToken);
         it != std::sregex_iterator(); ++it) {
      out.push_back(it->str());
    }
    return out;
  }
  static bool IsId(const std::string& token) {
    static const std::regex kId(R"([a-z0-9]{10}|[a-z0-9]{16})");
    return std::regex_match(token, kId);
  }
  static bool Matches(const std::vector<std::string>& page, const std::vector<std::string>& got,
                      std::map<std::string, std::string>* ids) {
    if (page.size() != got.size()) return false;
    for (size_t i = 0; i < page.size(); ++i) {
      const auto want = Tokens(Normalized(page[i]));
      const auto have = Tokens(Normalized(got[i]));
      if (want.size() != have.size()) return false;
      for (size_t t = 0; t < want.size(); ++t) {
        if (want[t] == have[t] && !ids->contains(want[t])) continue;
        auto known = ids->find(want[t]);
        if (known != ids->end()) {
          if (known->second != have[t]) return false;
        } else if (IsId(want[t]) && IsId(have[t]) && want[t].size() == have[t].size()) {
          (*ids)[want[t]] = have[t];
        } else {
          return false;
        }
      }
    }
    return true;
  }
  std::string Substituted(std::string line) const {
    for (const auto& [on_page, here] : ids_) line = absl::StrReplaceAll(line, {{on_page, here}});
    // The page's example files are the source tree's.
    return absl::StrReplaceAll(
        line, {{"/tmp/", tmp_ + "/"},
               {" docs/examples/", absl::StrCat(" ", MSP_SOURCE_DIR, "/docs/examples/")}});
  }
  Result RunLine(const std::string& line) const {
    return Mspctl({"-c", "mspctl() { \"$MSPCTL\" \"$@\"; }; " + line}, msp_,
                  {{"MSPCTL", testing::BinaryPath("tools/mspctl")}}, "bash");
  }

  std::string tmp_;
  std::string msp_ = "cli";
  std::map<std::string, std::string> ids_;  // on the page -> made here
};

TEST(Mspctl, TheDocsSessionRunsAsShown) {
  std::ifstream page(std::string(MSP_SOURCE_DIR) + "/docs/cli.md");
  std::vector<std::string> lines;
  bool in_session = false, in_block = false;
  for (std::string line; std::getline(page, line);) {
    if (line.rfind("## A session", 0) == 0) in_session = true;
    if (!in_session) continue;
    if (line.rfind("```", 0) == 0) {
      if (in_block) break;
      in_block = true;
      continue;
    }
    if (in_block) lines.push_back(line);
  }
  ASSERT_GT(lines.size(), 20u) << "no session on the page";

  // The page's existing Knox customer, by the name the page shows (./tools/dev seeds it so).
  const std::regex kInvite(R"(^\$ mspctl invitations create ([a-z0-9]{10}))");
  std::string knox_on_page;
  for (const auto& line : lines) {
    std::smatch m;
    if (std::regex_search(line, m, kInvite)) knox_on_page = m[1];
  }
  ASSERT_FALSE(knox_on_page.empty());
  customer::v1::Customer knox;
  ASSERT_TRUE(
      CreateKnoxCustomer("Existing Knox Customer 2", "admin@knox2-doc.example", &knox).ok());
  testing::TempDir tmp;
  DocSession session(tmp.path());
  session.Expect(knox_on_page, knox.customer_id());
  int commands = 0;
  for (size_t i = 0; i < lines.size();) {
    ASSERT_EQ(lines[i].rfind("$ ", 0), 0u) << "not a command: " << lines[i];
    const std::string command = lines[i].substr(2);
    std::vector<std::string> output;
    for (++i; i < lines.size() && lines[i].rfind("$ ", 0) != 0; ++i) output.push_back(lines[i]);
    ++commands;
    if (!session.Run(command, output)) break;
  }
  EXPECT_GT(commands, 15);
}

}  // namespace
}  // namespace msp
