// Every RPC of every service, found through server reflection (so a new RPC is covered the day
// it is added), called by every kind of caller and with every kind of bad token. Each cell has
// its expected code; an RPC without a row in the policy table below fails the test, and so does
// a row whose RPC no longer exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/customer/v1/bulk_jobs.grpc.pb.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "server_contracts.h"
#include "stack.h"
#include "status_details.h"
#include "testdata/bulk_import_files.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Call;
using testing::Stack;
namespace av1 = assignment::v1;
namespace cv1 = customer::v1;
namespace ov1 = onboarding::v1;
namespace pb = google::protobuf;
using Code = grpc::StatusCode;
using auth::PrincipalKind;

Stack* stack = nullptr;
const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

constexpr char kMspA[] = "matrix-a";
constexpr char kMspB[] = "matrix-b";

// Which callers each RPC admits, and a request naming MSP A's real resources (JSON with
// placeholders: {customer}, {invitation}, {delink}, ...). A caller is "msp-admin",
// "customer-admin" or "service:<identity>". Every admitted caller of another tenant (MSP B's
// admin, the admin of a customer the request does not name) gets NOT_FOUND, exactly as for
// something that does not exist. This table is the test's own: it is checked against the
// services, not read from them.
struct Row {
  std::set<std::string> admits;
  std::string request;
};

const std::vector<std::string>& KnoxBackends() {
  static const auto* const backends = [] {
    auto* out = new std::vector<std::string>;
    for (auto service : knox::AllServices()) out->emplace_back(identity::KnoxBackend(service));
    return out;
  }();
  return *backends;
}

std::string AsService(const char* identity) { return absl::StrCat("service:", identity); }

const std::map<std::string, Row>& PolicyTable() {
  const std::string msp = "msp-admin";
  const std::string customer_admin = "customer-admin";
  const std::string customer = AsService(identity::kCustomer);
  const std::string assignment = AsService(identity::kServiceAssignment);
  const std::string onboarding = AsService(identity::kOnboardingInvitation);
  const std::string reporting = AsService(identity::kReporting);
  const std::string rebuild = AsService(identity::kReportingRebuild);
  const std::string knox_accounts = AsService(identity::kKnoxAccounts);
  std::set<std::string> backends;
  for (const auto& b : KnoxBackends()) backends.insert("service:" + b);
  static const auto* const table = new std::map<std::string, Row>{
      // The customer service.
      {"/msp.customer.v1.CustomerService/CreateCustomer",
       {{msp}, R"({"parent":"msps/{msp}","customer":{"company":{"displayName":"Matrix New"}}})"}},
      {"/msp.customer.v1.CustomerService/GetCustomer",
       {{msp, assignment}, R"({"name":"{customer}"})"}},
      {"/msp.customer.v1.CustomerService/ListCustomers",
       {{msp, rebuild}, R"({"parent":"msps/{msp}"})"}},
      {"/msp.customer.v1.CustomerService/UpdateCustomer",
       {{msp},
        R"({"customer":{"name":"{customer}","company":{"displayName":"Matrix Renamed"}},)"
        R"("updateMask":"company.displayName"})"}},
      {"/msp.customer.v1.CustomerService/UpgradeToJointlyManaged",
       {{msp}, R"({"name":"{customer}"})"}},
      {"/msp.customer.v1.CustomerService/ListCustomerEvents",
       {{msp}, R"({"parent":"{customer}"})"}},
      {"/msp.customer.v1.CustomerService/CreateKnoxCustomer", {{knox_accounts}, R"({})"}},
      {"/msp.customer.v1.CustomerService/LookupKnoxCustomer",
       {{onboarding}, R"({"customerId":"{knox_customer_id}"})"}},
      {"/msp.customer.v1.CustomerService/TransitionCustomer", {{onboarding}, R"({})"}},
      {"/msp.customer.v1.CustomerService/RecordCustomerEvent", {{assignment}, R"({})"}},
      // Bulk jobs (the customer service's binary). A dry run: nothing written.
      {"/msp.customer.v1.BulkJobService/UploadBulkJob",
       {{msp},
        R"({"parent":"msps/{msp}","kind":"CREATE_CUSTOMERS","validateOnly":true,"chunk":"{csv}"})"}},
      {"/msp.customer.v1.BulkJobService/GetBulkJob", {{msp}, R"({"name":"{bulk_job}"})"}},
      {"/msp.customer.v1.BulkJobService/RunBulkJob", {{msp}, R"({"name":"{bulk_job}"})"}},
      {"/msp.customer.v1.BulkJobService/GetOperation",
       {{msp}, R"({"name":"{bulk_job}/operation"})"}},
      {"/msp.customer.v1.BulkJobService/WatchBulkJob", {{msp}, R"({"name":"{bulk_job}"})"}},
      {"/msp.customer.v1.BulkJobService/CancelBulkJob", {{msp}, R"({"name":"{bulk_job}"})"}},
      {"/msp.customer.v1.BulkJobService/DownloadBulkJobResult",
       {{msp}, R"({"name":"{bulk_job}"})"}},
      // The service-assignment service.
      {"/msp.assignment.v1.ServiceAssignmentService/AssignServices",
       {{msp, customer, onboarding}, R"({"parent":"{customer}","services":["KNOX_GUARD"]})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/BatchAssignServices",
       {{customer},
        R"({"parent":"msps/{msp}","requests":[{"parent":"{customer}","services":["KNOX_GUARD"],)"
        R"("requestId":"matrix-batch"}],"customers":[{"state":"ACTIVE","workEmail":"a@b.example"}]})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/BatchCheckKnoxManageTenantIds",
       {{customer}, R"({"parent":"msps/{msp}","tenantIds":["matrix.example"]})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/ListCustomerServices",
       {{msp}, R"({"parent":"{customer}"})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/BatchGetCustomerServices",
       {{msp, customer, rebuild}, R"({"parent":"msps/{msp}","customers":["{customer}"]})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/ReportDeviceCounts", {backends, R"({})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/CheckKnoxManageTenantId",
       {{msp, onboarding},
        R"({"parent":"msps/{msp}","workEmail":"a@b.example","prefix":"matrix"})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/LaunchServiceConsole",
       {{msp},
        R"({"name":"{customer}/services/knox-mobile-enrollment","returnUri":"http://localhost:8080/customers"})"}},
      {"/msp.assignment.v1.ServiceAssignmentService/EndCustomerServices",
       {{onboarding}, R"({"parent":"msps/{msp}/customers/NOSUCHCUSTOMER","reason":"matrix"})"}},
      // The onboarding-invitation service.
      {"/msp.onboarding.v1.OnboardingService/LookupCustomer",
       {{msp}, R"({"parent":"msps/{msp}","customerId":"{knox_customer_id}"})"}},
      {"/msp.onboarding.v1.OnboardingService/CreateInvitation",
       {{msp, customer}, R"({"parent":"msps/{msp}","customerId":"{knox_customer_id}"})"}},
      {"/msp.onboarding.v1.OnboardingService/GetInvitation",
       {{msp, reporting}, R"({"name":"{invitation}"})"}},
      {"/msp.onboarding.v1.OnboardingService/ResendInvitation",
       {{msp}, R"({"name":"{invitation}"})"}},
      {"/msp.onboarding.v1.OnboardingService/CancelInvitation",
       {{msp}, R"({"name":"{invitation}"})"}},
      {"/msp.onboarding.v1.OnboardingService/AcceptInvitation",
       {{customer_admin},
        R"({"name":"{invitation}","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})"}},
      {"/msp.onboarding.v1.OnboardingService/RejectInvitation",
       {{customer_admin},
        R"({"name":"{invitation}","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})"}},
      {"/msp.onboarding.v1.OnboardingService/RequestDelink", {{msp}, R"({"customer":"{joint}"})"}},
      {"/msp.onboarding.v1.OnboardingService/GetDelinkRequest", {{msp}, R"({"name":"{delink}"})"}},
      {"/msp.onboarding.v1.OnboardingService/ResendDelinkEmail", {{msp}, R"({"name":"{delink}"})"}},
      {"/msp.onboarding.v1.OnboardingService/RevokeDelink", {{msp}, R"({"name":"{delink}"})"}},
      {"/msp.onboarding.v1.OnboardingService/AcceptDelink",
       {{customer_admin},
        R"({"name":"{delink}","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})"}},
      {"/msp.onboarding.v1.OnboardingService/RejectDelink",
       {{customer_admin},
        R"({"name":"{delink}","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})"}},
      {"/msp.onboarding.v1.OnboardingService/StartAccountSetup",
       {{customer}, R"({"customer":"msps/{msp}/customers/NOSUCHCUSTOMER"})"}},
      // The reporting service.
      {"/msp.reporting.v1.ReportingService/QueryCustomerTable",
       {{msp}, R"({"parent":"msps/{msp}"})"}},
      {"/msp.reporting.v1.ReportingService/GetTablePreferences",
       {{msp}, R"({"name":"msps/{msp}/admins/admin/tablePreferences"})"}},
      {"/msp.reporting.v1.ReportingService/UpdateTablePreferences",
       {{msp}, R"({"preferences":{"name":"msps/{msp}/admins/admin/tablePreferences"}})"}},
      {"/msp.reporting.v1.ReportingService/GetCustomerDetails",
       {{msp}, R"({"name":"{customer}"})"}},
      {"/msp.reporting.v1.ReportingService/ExportCustomersCsv",
       {{msp}, R"({"parent":"msps/{msp}"})"}},
  };
  return *table;
}

// Services that every server carries and that need no token.
bool IsInfrastructure(const std::string& service) {
  return service.rfind("grpc.health.", 0) == 0 || service.rfind("grpc.reflection.", 0) == 0;
}

// One server's services and their descriptors, read over reflection only.
struct ReflectedServer {
  std::string address;
  std::vector<std::string> services;
};

// The servers' contracts as their reflection tells them (tools/cli/server_contracts), and
// messages of their types.
class ReflectedContracts {
 public:
  ReflectedServer Load(const std::string& address) {
    auto& server = servers_.emplace_back(std::make_unique<cli::ServerContracts>(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials())));
    ReflectedServer reflected{address, server->Services()};
    for (const auto& service : reflected.services) server_of_[service] = server.get();
    return reflected;
  }

  const pb::ServiceDescriptor* Service(const std::string& name) {
    auto it = server_of_.find(name);
    return it == server_of_.end() ? nullptr : it->second->Service(name);
  }
  std::unique_ptr<pb::Message> NewMessage(const pb::Descriptor* type) {
    return std::unique_ptr<pb::Message>(factory_.GetPrototype(type)->New());
  }

 private:
  std::vector<std::unique_ptr<cli::ServerContracts>> servers_;
  std::map<std::string, cli::ServerContracts*> server_of_;
  pb::DynamicMessageFactory factory_;  // for descriptors of any pool
};

// A caller of the matrix: how it authenticates and which cell of a row it expects.
struct Caller {
  std::string name;
  std::string authorization;  // the whole metadata value; empty: none sent
  // As the table names callers: "msp-admin", "customer-admin", "service:<identity>". Empty:
  // no valid token, refused at the door.
  std::string role;
  // Relays for someone where its identity relays for nobody: refused everywhere.
  bool relays = false;
};

std::string Base64Url(const std::string& s) {
  std::string out;
  absl::WebSafeBase64Escape(s, &out);
  return out;
}

std::string DecodeBase64Url(const std::string& s) {
  std::string out;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(s, &out));
  return out;
}

std::vector<Caller> Callers(const std::string& this_customer_id) {
  const std::string secret = auth::ReadKeyFile(stack->jwt_key_file());
  auto mint = [&](const auth::TokenIssuer& issuer, auth::TokenClaims claims) {
    if (claims.subject.empty()) claims.subject = "admin";
    return issuer.Mint(claims);
  };
  auth::TokenClaims msp_a;
  msp_a.kind = PrincipalKind::kMspAdmin;
  msp_a.msp_id = kMspA;
  const std::string valid_a = stack->MspToken(kMspA);
  const std::vector<std::string> parts = absl::StrSplit(valid_a, '.');

  auth::TokenClaims expired = msp_a;
  expired.ttl = std::chrono::seconds(-300);  // beyond the 30 s leeway
  auth::TokenClaims not_yet = msp_a;
  not_yet.not_before = std::chrono::system_clock::now() + std::chrono::hours(1);
  // MSP B's valid token with its payload rewritten to claim MSP A; the signature stays B's.
  const std::vector<std::string> b_parts = absl::StrSplit(stack->MspToken(kMspB), '.');
  const std::string tampered_payload =
      absl::StrReplaceAll(DecodeBase64Url(b_parts[1]), {{kMspB, kMspA}});
  // HS/RS confusion: a token that says RS256 but is signed with the HS256 secret (a verifier
  // that trusts the header would check it with the wrong key type).
  const std::string rs_header = Base64Url(R"({"alg":"RS256","typ":"JWT"})");
  const std::string none_header = Base64Url(R"({"alg":"none","typ":"JWT"})");

  std::vector<Caller> callers = {
      {"msp-a-admin", "Bearer " + valid_a, "msp-admin"},
      {"msp-b-admin", "Bearer " + stack->MspToken(kMspB), "msp-admin"},
      // The admin of the customer MSP A invited, and of another.
      {"customer-admin", "Bearer " + stack->CustomerToken(this_customer_id), "customer-admin"},
      {"other-customer-admin", "Bearer " + stack->CustomerToken("NOTTHISCUSTOMER"),
       "customer-admin"},
  };
  // Every identity the suite declares (a new one is called here the day it is added).
  for (const auto& identity : identity::AllIdentities()) {
    callers.push_back({identity, "Bearer " + stack->ServiceToken(identity), "service:" + identity});
  }
  // A Knox backend's token that claims to act for MSP A's admin.
  callers.push_back(
      {"knox-manage-for-msp-a-admin",
       "Bearer " + stack->ServiceToken("knox-manage", auth::OnBehalfOf{PrincipalKind::kMspAdmin,
                                                                       "admin", kMspA, ""}),
       "service:knox-manage", true});
  // A service nobody declared.
  callers.push_back(
      {"unknown-service", "Bearer " + stack->ServiceToken("matrix"), "service:matrix"});
  const std::vector<Caller> refused = {
      {"no-token", "", ""},
      {"not-bearer", "Basic " + valid_a, ""},
      {"expired", "Bearer " + mint(stack->issuer(), expired), ""},
      {"not-yet-valid", "Bearer " + mint(stack->issuer(), not_yet), ""},
      {"wrong-issuer",
       "Bearer " + mint(auth::TokenIssuer("HS256", secret, "someone-else", "msp-customers"), msp_a),
       ""},
      {"wrong-audience", "Bearer " + mint(stack->issuer().ForAudience("another-system"), msp_a),
       ""},
      {"wrong-key",
       "Bearer " + mint(auth::TokenIssuer("HS256", "not-the-secret-0123456789abcdef", "msp-test",
                                          "msp-customers"),
                        msp_a),
       ""},
      {"alg-none", "Bearer " + none_header + "." + parts[1] + ".", ""},
      {"hs-rs-confusion", "Bearer " + rs_header + "." + parts[1] + "." + parts[2], ""},
      {"tampered-payload",
       "Bearer " + b_parts[0] + "." + Base64Url(tampered_payload) + "." + b_parts[2], ""},
      {"garbage", "Bearer not.a.jwt", ""},
  };
  callers.insert(callers.end(), refused.begin(), refused.end());
  return callers;
}

// Calls one method with a JSON request; streams are read to the end. `answer` (if given) gets
// the response as JSON (a stream's last message).
grpc::Status CallMethod(ReflectedContracts& contracts, const std::string& address,
                        const pb::MethodDescriptor* method, const std::string& json,
                        const std::string& authorization, std::string* answer = nullptr) {
  auto request = contracts.NewMessage(method->input_type());
  auto response = contracts.NewMessage(method->output_type());
  auto answered = [&](grpc::Status status) {
    if (answer != nullptr) {
      EXPECT_TRUE(pb::util::MessageToJsonString(*response, answer).ok());
    }
    return status;
  };
  const auto parsed = pb::util::JsonStringToMessage(json, request.get());
  EXPECT_TRUE(parsed.ok()) << method->full_name() << ": " << parsed.ToString() << " in " << json;
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  const std::string path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
  if (method->client_streaming()) {
    // The request as the one message of the stream (an upload in one piece).
    grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::CLIENT_STREAMING,
                                  channel);
    std::unique_ptr<grpc::ClientWriter<pb::Message>> writer(
        grpc::internal::ClientWriterFactory<pb::Message>::Create(channel.get(), rpc, &context,
                                                                 response.get()));
    writer->Write(*request);
    writer->WritesDone();
    return answered(writer->Finish());
  }
  if (method->server_streaming()) {
    grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING,
                                  channel);
    std::unique_ptr<grpc::ClientReader<pb::Message>> reader(
        grpc::internal::ClientReaderFactory<pb::Message>::Create(channel.get(), rpc, &context,
                                                                 *request));
    while (reader->Read(response.get())) {
    }
    return answered(reader->Finish());
  }
  grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel);
  return answered(grpc::internal::BlockingUnaryCall<pb::Message, pb::Message>(
      channel.get(), rpc, &context, *request, response.get()));
}

// MSP A's resources the requests name.
struct Resources {
  std::map<std::string, std::string> placeholders;
};

Resources CreateMspAResources() {
  Resources r;
  auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
  auto onboarding = ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
  const std::string token = stack->MspToken(kMspA);

  cv1::CreateCustomerRequest create;
  create.set_parent(absl::StrCat("msps/", kMspA));
  *create.mutable_customer() =
      customer::testdata::ValidCustomer("Matrix Full GmbH", "full@matrix-full.example");
  create.add_services(av1::KNOX_MOBILE_ENROLLMENT);
  cv1::Customer full;
  EXPECT_TRUE(
      Call(&cv1::CustomerService::Stub::CreateCustomer, *customers, token, create, &full).ok());

  *create.mutable_customer() = customer::testdata::ValidCustomer(
      "Matrix Joint GmbH", "it@matrix-joint.example", cv1::JOINTLY_MANAGED);
  cv1::Customer joint;
  EXPECT_TRUE(
      Call(&cv1::CustomerService::Stub::CreateCustomer, *customers, token, create, &joint).ok());

  cv1::CreateKnoxCustomerRequest knox_request;
  *knox_request.mutable_customer() =
      customer::testdata::ValidCustomer("Matrix Knox GmbH", "admin@matrix-knox.example");
  knox_request.add_services(av1::KNOX_MOBILE_ENROLLMENT);
  cv1::Customer knox;
  EXPECT_TRUE(Call(&cv1::CustomerService::Stub::CreateKnoxCustomer, *customers,
                   stack->ServiceToken(identity::kKnoxAccounts), knox_request, &knox)
                  .ok());
  ov1::CreateInvitationRequest invite;
  invite.set_parent(absl::StrCat("msps/", kMspA));
  invite.set_customer_id(knox.customer_id());
  invite.set_management_type(cv1::FULLY_MANAGED);
  invite.add_services(av1::KNOX_CONFIGURE);
  ov1::Invitation invitation;
  EXPECT_TRUE(
      Call(&ov1::OnboardingService::Stub::CreateInvitation, *onboarding, token, invite, &invitation)
          .ok());

  // A delink request needs the jointly managed customer ACTIVE (its services assigned).
  ov1::RequestDelinkRequest delink_request;
  delink_request.set_customer(joint.name());
  ov1::DelinkRequest delink;
  grpc::Status status;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    status = Call(&ov1::OnboardingService::Stub::RequestDelink, *onboarding, token, delink_request,
                  &delink);
    if (status.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < until);
  EXPECT_TRUE(status.ok()) << status.error_message();

  // A bulk job of two customers, uploaded (VALIDATED); its file, for the dry run's row.
  const std::string csv = customer::testdata::ValidBulkCsv("matrix", 2);
  cv1::BulkJob job;
  {
    auto jobs = cv1::BulkJobService::NewStub(stack->Channel("customer"));
    grpc::ClientContext context;
    testing::Authorize(context, token);
    auto writer = jobs->UploadBulkJob(&context, &job);
    cv1::UploadBulkJobRequest upload;
    upload.set_parent(absl::StrCat("msps/", kMspA));
    upload.set_kind(cv1::BulkJob::CREATE_CUSTOMERS);
    upload.set_chunk(csv);
    EXPECT_TRUE(writer->Write(upload));
    writer->WritesDone();
    const auto status = writer->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  std::string csv_base64;
  absl::Base64Escape(csv, &csv_base64);

  r.placeholders = {{"{msp}", kMspA},
                    {"{bulk_job}", job.name()},
                    {"{csv}", csv_base64},
                    {"{customer}", full.name()},
                    {"{joint}", joint.name()},
                    {"{knox_customer_id}", knox.customer_id()},
                    {"{invitation}", invitation.name()},
                    {"{delink}", delink.name()}};
  return r;
}

// The state of MSP A's resources as their owner reads them: unchanged by anyone else's calls.
std::string SnapshotOfMspA(ReflectedContracts& contracts, const Resources& resources,
                           const std::map<std::string, std::string>& method_address) {
  std::string snapshot;
  const std::string token = "Bearer " + stack->MspToken(kMspA);
  for (const auto& [method, json] : std::vector<std::pair<std::string, std::string>>{
           {"msp.customer.v1.CustomerService.GetCustomer", R"({"name":"{customer}"})"},
           {"msp.customer.v1.CustomerService.GetCustomer", R"({"name":"{joint}"})"},
           {"msp.assignment.v1.ServiceAssignmentService.ListCustomerServices",
            R"({"parent":"{customer}"})"},
           {"msp.onboarding.v1.OnboardingService.GetInvitation", R"({"name":"{invitation}"})"},
           {"msp.onboarding.v1.OnboardingService.GetDelinkRequest", R"({"name":"{delink}"})"},
           {"msp.customer.v1.CustomerService.ListCustomerEvents", R"({"parent":"{customer}"})"},
           {"msp.customer.v1.BulkJobService.GetBulkJob", R"({"name":"{bulk_job}"})"},
       }) {
    const std::string service = method.substr(0, method.rfind('.'));
    const auto* descriptor =
        contracts.Service(service)->FindMethodByName(method.substr(method.rfind('.') + 1));
    std::string json_out;
    const auto status =
        CallMethod(contracts, method_address.at(service), descriptor,
                   absl::StrReplaceAll(json, resources.placeholders), token, &json_out);
    EXPECT_TRUE(status.ok()) << method << ": " << status.error_message();
    absl::StrAppend(&snapshot, method, " ", json_out, "\n");
  }
  return snapshot;
}

const char* CodeName(Code code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "EXHAUSTED",
                                       "FAILED_PRECOND",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPL",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "?";
}

TEST(SecurityMatrix, EveryRpcAnswersEveryCallerAsItsPolicySays) {
  ReflectedContracts contracts;
  std::map<std::string, std::string> method_address;  // full method path -> server
  std::map<std::string, std::string> service_address;
  std::vector<const pb::MethodDescriptor*> methods;
  for (const std::string name :
       {"customer", "service-assignment", "onboarding-invitation", "reporting"}) {
    const ReflectedServer server = contracts.Load(stack->address(name));
    for (const auto& service_name : server.services) {
      if (IsInfrastructure(service_name)) continue;
      service_address[service_name] = server.address;
      const auto* service = contracts.Service(service_name);
      ASSERT_NE(service, nullptr) << service_name << " not describable through reflection";
      for (int i = 0; i < service->method_count(); ++i) {
        methods.push_back(service->method(i));
        method_address[absl::StrCat("/", service_name, "/", service->method(i)->name())] =
            server.address;
      }
    }
  }
  ASSERT_GE(methods.size(), 35u) << "reflection found fewer RPCs than the suite has";

  // Every reflected RPC has a policy row, and every row names a served RPC.
  for (const auto& [path, address] : method_address) {
    EXPECT_TRUE(PolicyTable().count(path))
        << path << " has no row in the security matrix's policy table: say who may call it";
  }
  for (const auto& [path, row] : PolicyTable()) {
    EXPECT_TRUE(method_address.count(path)) << path << " is in the policy table but not served";
  }

  const Resources resources = CreateMspAResources();
  const std::vector<Caller> callers = Callers(resources.placeholders.at("{knox_customer_id}"));
  // New customers' own sagas (services, the account-setup email) still change them for a
  // moment: the comparison starts once two snapshots half a second apart agree.
  std::string before = SnapshotOfMspA(contracts, resources, service_address);
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string again = SnapshotOfMspA(contracts, resources, service_address);
    if (again == before) break;
    before = again;
  }

  // Cells that must change nothing first (every refused call, every caller of another tenant),
  // so that MSP A's resources can be compared after them; then the callers entitled to change
  // them: the admitted services and MSP A's own admin.
  std::map<std::string, std::map<std::string, Code>> answers;  // method -> caller -> code
  int cells = 0;
  auto admitted = [](const Row& row, const Caller& caller) {
    return !caller.role.empty() && !caller.relays && row.admits.count(caller.role) > 0;
  };
  auto entitled = [&](const Row& row, const Caller& caller) {
    return admitted(row, caller) &&
           (caller.name == "msp-a-admin" || caller.role.rfind("service:", 0) == 0);
  };
  auto run_cell = [&](const pb::MethodDescriptor* method, const Caller& caller,
                      bool entitled_pass) {
    const std::string path = absl::StrCat("/", method->service()->full_name(), "/", method->name());
    const auto row_it = PolicyTable().find(path);
    if (row_it == PolicyTable().end()) return;
    const Row& row = row_it->second;
    if (entitled(row, caller) != entitled_pass) return;
    const std::string json = absl::StrReplaceAll(row.request, resources.placeholders);
    const grpc::Status status =
        CallMethod(contracts, method_address.at(path), method, json, caller.authorization);
    answers[method->name()][caller.name] = status.error_code();
    ++cells;
    const std::string reason = testing::DetailsOf(status).reason;
    std::string cell = absl::StrCat(path, " as ", caller.name, ": ", CodeName(status.error_code()),
                                    " ", reason, " ", status.error_message());
    const bool policy_refusal =
        reason == "PRINCIPAL_NOT_ALLOWED" || reason == "DELEGATION_NOT_ALLOWED";
    if (caller.role.empty()) {
      EXPECT_EQ(status.error_code(), Code::UNAUTHENTICATED) << cell;
      return;
    }
    if (!admitted(row, caller)) {
      EXPECT_EQ(status.error_code(), Code::PERMISSION_DENIED) << cell;
      EXPECT_TRUE(policy_refusal) << cell;
      return;
    }
    // Admitted: the answer is about the request, never a failure of the server or the policy.
    EXPECT_FALSE(policy_refusal) << cell;
    for (Code bad : {Code::UNAUTHENTICATED, Code::UNIMPLEMENTED, Code::INTERNAL, Code::UNKNOWN,
                     Code::UNAVAILABLE, Code::DEADLINE_EXCEEDED}) {
      EXPECT_NE(status.error_code(), bad) << cell;
    }
    if (caller.name == "msp-b-admin" || caller.name == "other-customer-admin") {
      EXPECT_EQ(status.error_code(), Code::NOT_FOUND) << cell;
    } else if (caller.name == "msp-a-admin") {
      EXPECT_NE(status.error_code(), Code::PERMISSION_DENIED) << cell;
      EXPECT_NE(status.error_code(), Code::NOT_FOUND) << cell;
    }
    // Nothing of MSP A's resources shows through another tenant's error.
    if (caller.name != "msp-a-admin" && caller.role.rfind("service:", 0) != 0) {
      EXPECT_EQ(status.error_message().find("Matrix"), std::string::npos) << cell;
    }
  };
  for (const auto& caller : callers) {
    for (const auto* method : methods) run_cell(method, caller, false);
  }
  EXPECT_EQ(SnapshotOfMspA(contracts, resources, service_address), before)
      << "a refused caller, or one of another tenant, changed MSP A's resources";
  for (const auto& caller : callers) {
    for (const auto* method : methods) run_cell(method, caller, true);
  }

  // The matrix as a table: one line per RPC, one column per caller.
  std::cout << "security matrix: " << methods.size() << " RPCs x " << callers.size()
            << " callers = " << cells << " calls\n";
  std::cout << absl::StrCat("  ", std::string(28, ' '));
  for (const auto& caller : callers) std::cout << " " << caller.name.substr(0, 9);
  std::cout << "\n";
  for (const auto* method : methods) {
    std::string line = absl::StrCat("  ", method->name());
    line.resize(30, ' ');
    for (const auto& caller : callers) {
      std::string code = CodeName(answers[method->name()][caller.name]);
      code.resize(9, ' ');
      absl::StrAppend(&line, " ", code.substr(0, 9));
    }
    std::cout << line << "\n";
  }
}

// AIP-159's `msps/-` reads every MSP at once: only the reporting rebuild may name it, and only
// where it lists customers and their services. Every other caller, on every RPC whose request
// names an MSP, is refused.
TEST(SecurityMatrix, EveryMspAtOnceIsTheRebuildsAlone) {
  ReflectedContracts contracts;
  std::map<std::string, std::pair<std::string, const pb::MethodDescriptor*>> methods;
  for (const std::string name :
       {"customer", "service-assignment", "onboarding-invitation", "reporting"}) {
    const ReflectedServer server = contracts.Load(stack->address(name));
    for (const auto& service_name : server.services) {
      if (IsInfrastructure(service_name)) continue;
      const auto* service = contracts.Service(service_name);
      for (int i = 0; i < service->method_count(); ++i) {
        methods[absl::StrCat("/", service_name, "/", service->method(i)->name())] = {
            server.address, service->method(i)};
      }
    }
  }
  const std::set<std::string> rebuild_reads = {
      "/msp.customer.v1.CustomerService/ListCustomers",
      "/msp.assignment.v1.ServiceAssignmentService/BatchGetCustomerServices"};
  int wildcard_rows = 0;
  for (const auto& [path, row] : PolicyTable()) {
    if (row.request.find("msps/{msp}") == std::string::npos) continue;
    ++wildcard_rows;
    std::string json =
        absl::StrReplaceAll(row.request, {{"msps/{msp}\"", "msps/-\""},
                                          {"{customer}", "msps/-/customers/0000000000"},
                                          {"{csv}", ""},
                                          {"{msp}", "-"}});
    // Every MSP at once is listed in customer id order only.
    if (absl::EndsWith(path, "/ListCustomers")) {
      json = absl::StrReplaceAll(json, {{"}", R"(,"orderBy":"customer_id"})"}});
    }
    for (const auto& caller : Callers("0000000000")) {
      if (caller.role.empty()) continue;
      const auto& [address, method] = methods.at(path);
      const grpc::Status status =
          CallMethod(contracts, address, method, json, caller.authorization);
      const bool rebuild = caller.name == identity::kReportingRebuild && rebuild_reads.count(path);
      if (rebuild) {
        EXPECT_TRUE(status.ok()) << path << " as " << caller.name << ": " << status.error_message();
      } else {
        EXPECT_TRUE(status.error_code() == Code::NOT_FOUND ||
                    status.error_code() == Code::PERMISSION_DENIED ||
                    status.error_code() == Code::INVALID_ARGUMENT)
            << path << " as " << caller.name << " with " << json << ": "
            << CodeName(status.error_code()) << " " << status.error_message();
      }
    }
  }
  EXPECT_GE(wildcard_rows, 10);
}

}  // namespace
}  // namespace msp
