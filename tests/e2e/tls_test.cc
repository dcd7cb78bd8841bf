// The suite over TLS, as the prod overlay runs it: every listener serves TLS with certificates
// of a CA (reloaded when they change), services call each other over mutual TLS, a service
// token counts only with a client certificate naming its identity, and a plaintext port
// answers health checks only.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"
#include "msp/common/identities.h"
#include "msp/common/tls.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "processes.h"
#include "stack.h"
#include "status_details.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Call;
namespace cv1 = customer::v1;
namespace av1 = assignment::v1;

testing::Stack* stack = nullptr;
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(
    &stack, {"customer", "service-assignment"}, {}, testing::StackTls{"services"}));

grpc::Status List(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
  auto stub = cv1::CustomerService::NewStub(channel);
  cv1::ListCustomersRequest request;
  request.set_parent("msps/tls");
  cv1::ListCustomersResponse out;
  return Call(&cv1::CustomerService::Stub::ListCustomers, *stub, token, request, &out);
}

// A TLS channel that trusts the stack's CA and checks the server for `name` instead of the
// address it dials.
std::shared_ptr<grpc::Channel> ChannelExpecting(const std::string& name) {
  tls::Settings settings;
  settings.ca_file = stack->tls_dir() + "/ca.pem";
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(name);
  return grpc::CreateCustomChannel(stack->address("customer"), tls::ChannelCredentials(settings),
                                   args);
}

TEST(Tls, AHandshakeSucceedsWithTheCaAndFailsWithoutItOrForAWrongName) {
  const std::string admin = stack->MspToken("tls");
  EXPECT_TRUE(List(stack->Channel("customer"), admin).ok());
  EXPECT_TRUE(List(ChannelExpecting("customer"), admin).ok()) << "the certificate names it";
  // The system's roots do not know the suite's CA.
  grpc::experimental::TlsChannelCredentialsOptions system_roots;
  const auto unknown_ca = grpc::CreateChannel(stack->address("customer"),
                                              grpc::experimental::TlsCredentials(system_roots));
  EXPECT_EQ(List(unknown_ca, admin).error_code(), grpc::StatusCode::UNAVAILABLE);
  // A certificate for other names.
  EXPECT_EQ(List(ChannelExpecting("not-the-customer-service.example"), admin).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // Plaintext to a TLS port.
  const auto plaintext =
      grpc::CreateChannel(stack->address("customer"), grpc::InsecureChannelCredentials());
  EXPECT_EQ(List(plaintext, admin).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(Tls, ThePlaintextHealthPortAnswersHealthOnly) {
  const std::string health = absl::StrCat("127.0.0.1:", stack->service("customer").health_port);
  EXPECT_TRUE(testing::WaitForServing(health, std::chrono::seconds(5), ""));
  EXPECT_TRUE(testing::WaitForServing(health, std::chrono::seconds(5), "liveness"));
  const auto plaintext = grpc::CreateChannel(health, grpc::InsecureChannelCredentials());
  EXPECT_EQ(List(plaintext, stack->MspToken("tls")).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST(Tls, AServiceTokenCountsOnlyWithACertificateNamingItsService) {
  const std::string token = stack->ServiceToken(identity::kServiceAssignment);
  auto get = [&](const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = cv1::CustomerService::NewStub(channel);
    cv1::GetCustomerRequest request;
    request.set_name("msps/tls/customers/0000000000");
    cv1::Customer out;
    return Call(&cv1::CustomerService::Stub::GetCustomer, *stub, token, request, &out);
  };
  // Its own certificate: admitted (the customer does not exist).
  EXPECT_EQ(get(stack->ChannelAs("customer", identity::kServiceAssignment)).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // The token alone, or with another identity's certificate: a stolen token is not enough.
  for (const auto& channel :
       {stack->Channel("customer"), stack->ChannelAs("customer", "knox-manage")}) {
    const auto status = get(channel);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
    EXPECT_EQ(testing::DetailsOf(status).reason, "SERVICE_CERTIFICATE_MISMATCH");
  }
  // A certificate of another CA fails the handshake.
  testing::TempDir other_ca;
  ASSERT_EQ(testing::RunCommand({std::string(MSP_SOURCE_DIR) + "/tools/dev-ca", other_ca.path(),
                                 identity::kServiceAssignment},
                                other_ca.path() + "/log"),
            0);
  tls::Settings foreign;
  foreign.ca_file = stack->tls_dir() + "/ca.pem";
  foreign.cert_file = other_ca.path() + "/service-assignment.pem";
  foreign.key_file = other_ca.path() + "/service-assignment-key.pem";
  EXPECT_EQ(get(grpc::CreateChannel(stack->address("customer"), tls::ChannelCredentials(foreign)))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // People's tokens need no client certificate.
  EXPECT_TRUE(List(stack->Channel("customer"), stack->MspToken("tls")).ok());
}

TEST(Tls, TheServicesCallEachOtherOverMutualTls) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  const std::string admin = stack->MspToken("tls");
  cv1::CreateCustomerRequest request;
  request.set_parent("msps/tls");
  *request.mutable_customer() =
      customer::testdata::ValidCustomer("Tls Services GmbH", "it@tls-services.example");
  request.add_services(av1::KNOX_CONFIGURE);
  cv1::Customer created;
  ASSERT_TRUE(
      Call(&cv1::CustomerService::Stub::CreateCustomer, *stub, admin, request, &created).ok());
  // Assigned by the customer service's relay, read back through a FULL view: both calls to the
  // assignment service, and its call back for the customer, go over mutual TLS.
  cv1::GetCustomerRequest get;
  get.set_name(created.name());
  get.set_view(cv1::FULL);
  bool active = false;
  for (int i = 0; i < 100 && !active; ++i) {
    cv1::Customer read;
    ASSERT_TRUE(Call(&cv1::CustomerService::Stub::GetCustomer, *stub, admin, get, &read).ok());
    active = read.services_size() == 1 && read.services(0).state() == av1::AssignedService::ACTIVE;
    if (!active) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(active);
}

TEST(Tls, ARenewedCertificateIsServedWithoutARestart) {
  const pid_t pid = stack->service("customer").process->pid();
  const std::string admin = stack->MspToken("tls");
  EXPECT_EQ(List(ChannelExpecting("renewed.example"), admin).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // cert-manager renews: the same files, a new certificate (here with one more name).
  stack->MakeCertificate("customer", {"localhost", "IP:127.0.0.1", "renewed.example"});
  bool renewed = false;
  for (int i = 0; i < 100 && !renewed; ++i) {
    renewed = List(ChannelExpecting("renewed.example"), admin).ok();
    if (!renewed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(renewed) << "the listener did not pick up the new certificate";
  EXPECT_EQ(stack->service("customer").process->pid(), pid);
  EXPECT_TRUE(List(stack->Channel("customer"), admin).ok());
}

// The command-line clients take grpcurl's connection flags.
struct CliResult {
  int exit = -1;
  std::string output;
};

CliResult RunTool(const std::string& tool, const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env = {}) {
  static int n = 0;
  std::vector<std::string> argv = {testing::BinaryPath("tools/" + tool)};
  argv.insert(argv.end(), args.begin(), args.end());
  testing::ChildProcess process(argv, env,
                                absl::StrCat(stack->log_dir(), "/", tool, "-tls-", n++, ".log"));
  CliResult r;
  r.exit = process.Wait(std::chrono::seconds(30));
  r.output = process.ReadLog();
  return r;
}

TEST(Tls, MspCallTakesGrpcurlsConnectionFlags) {
  const std::string ca = stack->tls_dir() + "/ca.pem";
  const std::string address = stack->address("customer");
  const std::string list = "msp.customer.v1.CustomerService/ListCustomers";
  const std::vector<std::string> admin = {"-H", "authorization: Bearer " + stack->MspToken("tls"),
                                          "-d", R"({"parent":"msps/tls"})"};
  auto call = [&](std::vector<std::string> connection, const std::vector<std::string>& rest) {
    connection.insert(connection.end(), rest.begin(), rest.end());
    connection.push_back(address);
    connection.push_back(list);
    return RunTool("msp_call", connection);
  };
  EXPECT_EQ(call({"-cacert", ca}, admin).exit, 0) << call({"-cacert", ca}, admin).output;
  EXPECT_EQ(call({"-insecure"}, admin).exit, 0);
  EXPECT_EQ(call({"-cacert", ca, "-authority", "customer"}, admin).exit, 0);
  // As grpcurl: TLS with the system's roots by default, which do not know the suite's CA.
  const auto system_roots = call({}, admin);
  EXPECT_EQ(system_roots.exit, 1);
  EXPECT_NE(system_roots.output.find("Unavailable"), std::string::npos) << system_roots.output;
  EXPECT_EQ(call({"-plaintext"}, admin).exit, 1);
  EXPECT_EQ(call({"-cacert", ca, "-authority", "wrong.example"}, admin).exit, 1);
  EXPECT_EQ(call({"-plaintext", "-cacert", ca}, admin).exit, 2) << "contradictory flags";
  // A service's token with its certificate (mutual TLS), and without.
  stack->ChannelAs("customer", identity::kReportingRebuild);  // makes its certificate
  const std::vector<std::string> rebuild = {
      "-H", "authorization: Bearer " + stack->ServiceToken(identity::kReportingRebuild), "-d",
      R"({"parent":"msps/-","order_by":"customer_id"})"};
  const std::string cert = stack->tls_dir() + "/" + identity::kReportingRebuild;
  EXPECT_EQ(call({"-cacert", ca, "-cert", cert + ".pem", "-key", cert + "-key.pem"}, rebuild).exit,
            0);
  const auto without = call({"-cacert", ca}, rebuild);
  EXPECT_EQ(without.exit, 1);
  EXPECT_NE(without.output.find("SERVICE_CERTIFICATE_MISMATCH"), std::string::npos)
      << without.output;
}

// grpcurl's -d @ (the request on standard input), -v and -format json.
TEST(Tls, MspCallReadsStdinAndTellsWhatItSentAndGot) {
  testing::TempDir dir;
  const std::string log = dir.path() + "/out.txt";
  const std::string command = absl::StrCat(
      "echo '{\"parent\":\"msps/tls\"}' | ", testing::BinaryPath("tools/msp_call"), " -cacert ",
      stack->tls_dir(), "/ca.pem -v -format json -d @ -H 'authorization: Bearer ",
      stack->MspToken("tls"), "' ", stack->address("customer"),
      " msp.customer.v1.CustomerService/ListCustomers");
  ASSERT_EQ(testing::RunCommand({"bash", "-c", command}, log), 0);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  const std::string out = text.str();
  for (const char* part :
       {"Resolved method descriptor:\nrpc ListCustomers(",
        "Request metadata to send:\nauthorization: Bearer ", "Response headers received:\n",
        "Response trailers received:\n", "Sent 1 request and received 1 response\n"}) {
    EXPECT_NE(out.find(part), std::string::npos) << part << " not in:\n" << out;
  }
  EXPECT_EQ(RunTool("msp_call", {"-format", "text", stack->address("customer"),
                                 "msp.customer.v1.CustomerService/ListCustomers"})
                .exit,
            2)
      << "only json is offered";
}

TEST(Tls, MspctlTakesGrpcurlsConnectionFlags) {
  const std::map<std::string, std::string> env = {
      {"MSP_TOKEN", stack->MspToken("tls")}, {"MSP_CUSTOMER_ADDRESS", stack->address("customer")}};
  const auto ok =
      RunTool("mspctl", {"-cacert", stack->tls_dir() + "/ca.pem", "customers", "list"}, env);
  EXPECT_EQ(ok.exit, 0) << ok.output;
  EXPECT_EQ(RunTool("mspctl", {"-insecure", "customers", "list"}, env).exit, 0);
  // mspctl speaks plaintext to the local suite unless told otherwise: refused by a TLS port.
  EXPECT_NE(RunTool("mspctl", {"customers", "list"}, env).exit, 0);
  EXPECT_NE(RunTool("mspctl",
                    {"-cacert", stack->tls_dir() + "/ca.pem", "-authority", "wrong.example",
                     "customers", "list"},
                    env)
                .exit,
            0);
}

}  // namespace
}  // namespace msp
