// The service-assignment service end to end, and adding a customer with its services: the
// real binaries (all four services), a real PostgreSQL and redis-server, and gRPC clients
// holding bearer tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "http_get.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/assignment_client.h"
#include "msp/common/auth.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "stack.h"
#include "status_details.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using assignment::v1::AssignedService;
using testing::Authorize;
using testing::Call;
using testing::DetailsOf;
using testing::Stack;
namespace av1 = assignment::v1;
namespace cv1 = customer::v1;

Stack* stack = nullptr;

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

std::unique_ptr<av1::ServiceAssignmentService::Stub> AssignmentStub() {
  return av1::ServiceAssignmentService::NewStub(stack->Channel("service-assignment"));
}
std::unique_ptr<cv1::CustomerService::Stub> CustomerStub() {
  return cv1::CustomerService::NewStub(stack->Channel("customer"));
}

// A unique email domain per call: Knox Manage tenant ids are unique across all tests.
std::string FreshDomain() {
  static std::atomic<int> n{0};
  return absl::StrCat("firm", n.fetch_add(1), "-", ::getpid(), ".example");
}

cv1::Customer CreateCustomer(const std::string& msp, const std::vector<av1::KnoxService>& services,
                             const std::string& domain = FreshDomain(),
                             const std::string& prefix = "") {
  auto stub = CustomerStub();
  cv1::CreateCustomerRequest request;
  request.set_parent("msps/" + msp);
  *request.mutable_customer() =
      customer::testdata::ValidCustomer("Assign Co " + domain, "it@" + domain);
  for (auto s : services) request.add_services(s);
  request.set_knox_manage_tenant_prefix(prefix);
  cv1::Customer out;
  const auto status =
      Call(&cv1::CustomerService::Stub::CreateCustomer, *stub, stack->MspToken(msp), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

grpc::Status Assign(const std::string& token, const std::string& parent,
                    const std::vector<av1::KnoxService>& services, av1::AssignServicesResponse* out,
                    const std::string& prefix = "", const std::string& request_id = "") {
  auto stub = AssignmentStub();
  av1::AssignServicesRequest request;
  request.set_parent(parent);
  for (auto s : services) request.add_services(s);
  request.set_knox_manage_tenant_prefix(prefix);
  request.set_request_id(request_id);
  return Call(&av1::ServiceAssignmentService::Stub::AssignServices, *stub, token, request, out);
}

std::vector<AssignedService> Services(const std::string& msp, const std::string& parent) {
  auto stub = AssignmentStub();
  av1::ListCustomerServicesRequest request;
  request.set_parent(parent);
  av1::ListCustomerServicesResponse out;
  const auto status = Call(&av1::ServiceAssignmentService::Stub::ListCustomerServices, *stub,
                           stack->MspToken(msp), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {out.services().begin(), out.services().end()};
}

cv1::Customer GetFull(const std::string& msp, const std::string& name, grpc::Status* status_out) {
  auto stub = CustomerStub();
  cv1::GetCustomerRequest request;
  request.set_name(name);
  request.set_view(cv1::FULL);
  cv1::Customer out;
  *status_out =
      Call(&cv1::CustomerService::Stub::GetCustomer, *stub, stack->MspToken(msp), request, &out);
  return out;
}

// Polls until every service of the customer read with view FULL is in `state` (or times out).
bool WaitForServiceStates(const std::string& msp, const std::string& name, size_t count,
                          AssignedService::State state,
                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    grpc::Status status;
    auto customer = GetFull(msp, name, &status);
    if (status.ok() && static_cast<size_t>(customer.services_size()) == count &&
        std::all_of(customer.services().begin(), customer.services().end(),
                    [&](const auto& s) { return s.state() == state; })) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::set<int> ServiceSet(const std::vector<AssignedService>& services) {
  std::set<int> out;
  for (const auto& s : services) out.insert(s.service());
  return out;
}

google::protobuf::Timestamp SecondsAgo(int64_t seconds) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 seconds);
  return ts;
}

TEST(AssignmentApi, ANewCustomerWithThreeServicesEndsUpWithThemActive) {
  const std::string domain = FreshDomain();
  const auto created = CreateCustomer(
      "acme", {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE, av1::KNOX_CONFIGURE}, domain, "hq");
  ASSERT_FALSE(created.name().empty());
  // The answer does not wait for the assignment: the services are PROVISIONING in it.
  ASSERT_EQ(created.services_size(), 3);
  for (const auto& s : created.services()) EXPECT_EQ(s.state(), AssignedService::PROVISIONING);

  ASSERT_TRUE(WaitForServiceStates("acme", created.name(), 3, AssignedService::ACTIVE));
  const auto services = Services("acme", created.name());
  EXPECT_EQ(ServiceSet(services),
            (std::set<int>{av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE, av1::KNOX_CONFIGURE}));
  for (const auto& s : services) {
    EXPECT_EQ(s.name(),
              created.name() + "/services/" +
                  std::string(s.service() == av1::KNOX_MANAGE      ? "knox-manage"
                              : s.service() == av1::KNOX_CONFIGURE ? "knox-configure"
                                                                   : "knox-mobile-enrollment"));
    EXPECT_EQ(s.knox_manage_tenant_id(), s.service() == av1::KNOX_MANAGE ? "hq." + domain : "");
    EXPECT_TRUE(s.has_add_time());
  }

  // The list shows the services of every customer on the page (view FULL).
  auto stub = CustomerStub();
  cv1::ListCustomersRequest list;
  list.set_parent("msps/acme");
  list.set_view(cv1::FULL);
  list.set_search(domain);
  cv1::ListCustomersResponse page;
  ASSERT_TRUE(
      Call(&cv1::CustomerService::Stub::ListCustomers, *stub, stack->MspToken("acme"), list, &page)
          .ok());
  ASSERT_EQ(page.customers_size(), 1);
  EXPECT_EQ(page.customers(0).services_size(), 3);
  // BASIC (the default) leaves them out.
  list.clear_view();
  ASSERT_TRUE(
      Call(&cv1::CustomerService::Stub::ListCustomers, *stub, stack->MspToken("acme"), list, &page)
          .ok());
  EXPECT_EQ(page.customers(0).services_size(), 0);
}

TEST(AssignmentApi, AddingServicesIsIdempotent) {
  const auto customer = CreateCustomer("acme", {});
  const std::string token = stack->MspToken("acme");
  av1::AssignServicesResponse first, again, retry;
  ASSERT_TRUE(Assign(token, customer.name(), {av1::KNOX_MOBILE_ENROLLMENT}, &first).ok());
  EXPECT_EQ(first.added_services_size(), 1);
  // Re-adding one it has is a no-op; only the new one is added.
  ASSERT_TRUE(Assign(token, customer.name(),
                     {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_GUARD, av1::KNOX_GUARD}, &again, "",
                     "req-assign-1")
                  .ok());
  ASSERT_EQ(again.added_services_size(), 1);
  EXPECT_EQ(again.added_services(0), av1::KNOX_GUARD);
  EXPECT_EQ(again.services_size(), 2);
  // A retry with the same request id gets the first answer.
  ASSERT_TRUE(Assign(token, customer.name(),
                     {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_GUARD, av1::KNOX_GUARD}, &retry, "",
                     "req-assign-1")
                  .ok());
  EXPECT_EQ(retry.SerializeAsString(), again.SerializeAsString());
  // The same id with another request is refused, and changes nothing.
  av1::AssignServicesResponse reused;
  const auto status =
      Assign(token, customer.name(), {av1::KNOX_EFOTA}, &reused, "", "req-assign-1");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).reason, "REQUEST_ID_REUSED");
  EXPECT_EQ(Services("acme", customer.name()).size(), 2u);

  // An MSP that picks the id the customer service's relay uses ("create-<customer>") neither
  // answers nor blocks the relay's call: the services' ids are kept apart.
  const std::string relay_id = "create-" + customer.customer_id();
  av1::AssignServicesResponse squatted, relayed;
  ASSERT_TRUE(Assign(token, customer.name(), {av1::KNOX_EFOTA}, &squatted, "", relay_id).ok());
  const auto relay = Assign(stack->ServiceToken("customer"), customer.name(), {av1::KNOX_CONFIGURE},
                            &relayed, "", relay_id);
  ASSERT_TRUE(relay.ok()) << relay.error_message();
  ASSERT_EQ(relayed.added_services_size(), 1);
  EXPECT_EQ(relayed.added_services(0), av1::KNOX_CONFIGURE);
}

TEST(AssignmentApi, KnoxManageTenantIdsAreUniqueAndCheckable) {
  const std::string domain = FreshDomain();
  const std::string token = stack->MspToken("acme");
  const auto first = CreateCustomer("acme", {}, domain);
  const auto second = CreateCustomer("acme", {}, domain);
  av1::AssignServicesResponse out;
  ASSERT_TRUE(Assign(token, first.name(), {av1::KNOX_MANAGE}, &out).ok());
  ASSERT_EQ(out.services_size(), 1);
  EXPECT_EQ(out.services(0).knox_manage_tenant_id(), domain);

  // The domain alone is taken now: the check says so and offers free ids.
  auto stub = AssignmentStub();
  av1::CheckKnoxManageTenantIdRequest check;
  check.set_parent("msps/acme");
  check.set_work_email("someone@" + domain);
  av1::CheckKnoxManageTenantIdResponse answer;
  ASSERT_TRUE(Call(&av1::ServiceAssignmentService::Stub::CheckKnoxManageTenantId, *stub, token,
                   check, &answer)
                  .ok());
  EXPECT_EQ(answer.tenant_id(), domain);
  EXPECT_FALSE(answer.available());
  ASSERT_FALSE(answer.suggestions().empty());
  for (const auto& s : answer.suggestions()) EXPECT_NE(s, domain);

  const auto taken = Assign(token, second.name(), {av1::KNOX_MANAGE}, &out);
  EXPECT_EQ(taken.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(DetailsOf(taken).reason, "KNOX_MANAGE_TENANT_ID_TAKEN");
  EXPECT_FALSE(DetailsOf(taken).metadata["suggestions"].empty());
  EXPECT_TRUE(Services("acme", second.name()).empty()) << "nothing written on a refusal";

  // A suggested (free) id's prefix works.
  check.set_prefix("branch-2");
  ASSERT_TRUE(Call(&av1::ServiceAssignmentService::Stub::CheckKnoxManageTenantId, *stub, token,
                   check, &answer)
                  .ok());
  EXPECT_TRUE(answer.available());
  EXPECT_EQ(answer.tenant_id(), "branch-2." + domain);
  ASSERT_TRUE(Assign(token, second.name(), {av1::KNOX_MANAGE}, &out, "branch-2").ok());
  EXPECT_EQ(out.services(0).knox_manage_tenant_id(), "branch-2." + domain);
}

// A new customer whose Knox Manage tenant id is taken by the time the relay assigns it: its
// other services become ACTIVE, Knox Manage shows PROVISIONING_FAILED with the reason.
TEST(AssignmentApi, ATakenTenantIdFailsOnlyKnoxManageOfANewCustomer) {
  const std::string domain = FreshDomain();
  const auto first = CreateCustomer("acme", {av1::KNOX_MANAGE}, domain);
  ASSERT_TRUE(WaitForServiceStates("acme", first.name(), 1, AssignedService::ACTIVE));
  const auto second =
      CreateCustomer("acme", {av1::KNOX_MANAGE, av1::KNOX_MOBILE_ENROLLMENT}, domain);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  cv1::Customer seen;
  while (std::chrono::steady_clock::now() < until) {
    grpc::Status status;
    seen = GetFull("acme", second.name(), &status);
    ASSERT_TRUE(status.ok()) << status.error_message();
    if (seen.services_size() == 2 && seen.services(0).state() != AssignedService::PROVISIONING &&
        seen.services(1).state() != AssignedService::PROVISIONING) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(seen.services_size(), 2);
  EXPECT_EQ(seen.services(0).service(), av1::KNOX_MOBILE_ENROLLMENT);
  EXPECT_EQ(seen.services(0).state(), AssignedService::ACTIVE);
  EXPECT_EQ(seen.services(1).service(), av1::KNOX_MANAGE);
  EXPECT_EQ(seen.services(1).state(), AssignedService::PROVISIONING_FAILED);
  EXPECT_EQ(seen.services(1).state_reason(), "KNOX_MANAGE_TENANT_ID_TAKEN");
  // The MSP adds it again with a free prefix.
  av1::AssignServicesResponse out;
  ASSERT_TRUE(
      Assign(stack->MspToken("acme"), second.name(), {av1::KNOX_MANAGE}, &out, "site-b").ok());
  ASSERT_TRUE(WaitForServiceStates("acme", second.name(), 2, AssignedService::ACTIVE));
}

TEST(AssignmentApi, ConcurrentRequestsForOneTenantIdLetExactlyOneWin) {
  const std::string domain = FreshDomain();
  std::vector<cv1::Customer> customers;
  for (int i = 0; i < 6; ++i) customers.push_back(CreateCustomer("acme", {}, domain));
  std::atomic<int> won{0}, taken{0}, other{0};
  std::vector<std::thread> threads;
  for (const auto& c : customers) {
    threads.emplace_back([&, name = c.name()] {
      av1::AssignServicesResponse out;
      const auto status = Assign(stack->MspToken("acme"), name, {av1::KNOX_MANAGE}, &out, "ops");
      if (status.ok()) {
        ++won;
      } else if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
        ++taken;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(taken.load(), 5);
  EXPECT_EQ(other.load(), 0);
  pg::Connection conn(stack->database_url(), 5000);
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM assignment.knox_manage_tenants WHERE tenant_id = $1",
                      {"ops." + domain})
                .Int64(0, 0),
            1);
}

TEST(AssignmentApi, DeviceCountsComeOnlyFromTheirOwnBackendAndNeverGoBackInTime) {
  const auto customer = CreateCustomer("acme", {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE});
  ASSERT_TRUE(WaitForServiceStates("acme", customer.name(), 2, AssignedService::ACTIVE));
  auto stub = AssignmentStub();
  av1::ReportDeviceCountsRequest request;
  auto* newer = request.add_reports();
  newer->set_customer_id(customer.customer_id());
  newer->set_service(av1::KNOX_MOBILE_ENROLLMENT);
  newer->set_device_count(120);
  newer->set_devices_needing_attention(7);
  *newer->mutable_observe_time() = SecondsAgo(10);
  auto* manage = request.add_reports();
  manage->set_customer_id(customer.customer_id());
  manage->set_service(av1::KNOX_MANAGE);
  manage->set_device_count(80);
  *manage->mutable_observe_time() = SecondsAgo(10);
  auto* unknown = request.add_reports();
  unknown->set_customer_id(customer.customer_id());
  unknown->set_service(av1::KNOX_GUARD);
  unknown->set_device_count(1);
  *unknown->mutable_observe_time() = SecondsAgo(10);

  av1::ReportDeviceCountsResponse out;
  // An MSP admin cannot report counts.
  EXPECT_EQ(Call(&av1::ServiceAssignmentService::Stub::ReportDeviceCounts, *stub,
                 stack->MspToken("acme"), request, &out)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // A backend reports its own service's devices only: Knox Mobile Enrollment's token with
  // Knox Manage's and Knox Guard's reports is refused whole.
  const std::string knox = stack->ServiceToken("knox-mobile-enrollment");
  const auto mixed =
      Call(&av1::ServiceAssignmentService::Stub::ReportDeviceCounts, *stub, knox, request, &out);
  EXPECT_EQ(mixed.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DetailsOf(mixed).reason, "REPORT_FOR_ANOTHER_SERVICE");
  for (const auto& s : Services("acme", customer.name())) EXPECT_EQ(s.device_count(), 0);
  // Each from its own backend.
  std::vector<av1::ReportDeviceCountsResponse::Result> results;
  for (const auto& report : request.reports()) {
    av1::ReportDeviceCountsRequest own;
    *own.add_reports() = report;
    const auto status =
        Call(&av1::ServiceAssignmentService::Stub::ReportDeviceCounts, *stub,
             stack->ServiceToken(std::string(identity::KnoxBackend(report.service()))), own, &out);
    ASSERT_TRUE(status.ok()) << status.error_message();
    results.push_back(out.results(0));
  }
  EXPECT_EQ(results,
            (std::vector<av1::ReportDeviceCountsResponse::Result>{
                av1::ReportDeviceCountsResponse::APPLIED, av1::ReportDeviceCountsResponse::APPLIED,
                av1::ReportDeviceCountsResponse::UNKNOWN_SERVICE}));

  // An older report, and a replay of the same one, change nothing.
  av1::ReportDeviceCountsRequest late;
  *late.add_reports() = *newer;
  late.mutable_reports(0)->set_device_count(5);
  late.mutable_reports(0)->set_devices_needing_attention(0);
  *late.mutable_reports(0)->mutable_observe_time() = SecondsAgo(60);
  *late.add_reports() = *newer;
  const auto late_status =
      Call(&av1::ServiceAssignmentService::Stub::ReportDeviceCounts, *stub, knox, late, &out);
  ASSERT_TRUE(late_status.ok()) << late_status.error_message();
  EXPECT_EQ(out.results(0), av1::ReportDeviceCountsResponse::STALE);
  EXPECT_EQ(out.results(1), av1::ReportDeviceCountsResponse::STALE);

  for (const auto& s : Services("acme", customer.name())) {
    if (s.service() == av1::KNOX_MOBILE_ENROLLMENT) {
      EXPECT_EQ(s.device_count(), 120);
      EXPECT_EQ(s.devices_needing_attention(), 7);
      EXPECT_EQ(s.device_counts_observe_time().seconds(), newer->observe_time().seconds());
    } else {
      EXPECT_EQ(s.device_count(), 80);
    }
  }
}

TEST(AssignmentApi, LaunchingAConsoleSignsAShortLivedTokenAndRefusesOpenRedirects) {
  const auto customer = CreateCustomer("acme", {av1::KNOX_CONFIGURE});
  ASSERT_TRUE(WaitForServiceStates("acme", customer.name(), 1, AssignedService::ACTIVE));
  auto stub = AssignmentStub();
  const std::string token = stack->MspToken("acme", "alice");
  av1::LaunchServiceConsoleRequest request;
  request.set_name(customer.name() + "/services/knox-configure");
  request.set_return_uri("https://msp.samsungknox.com/customers?page=2");
  av1::LaunchServiceConsoleResponse out;
  ASSERT_TRUE(
      Call(&av1::ServiceAssignmentService::Stub::LaunchServiceConsole, *stub, token, request, &out)
          .ok());
  EXPECT_EQ(out.launch_uri(), out.console_uri() + "#launch_token=" + out.launch_token());
  EXPECT_EQ(out.return_uri(), request.return_uri());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_GT(out.expire_time().seconds(), now);
  EXPECT_LE(out.expire_time().seconds(), now + 130);
  // The token verifies for the console audience, and for it only.
  auth::TokenVerifier console(
      {"HS256", testing::kTestJwtSecret, testing::kTestIssuer, "knox-console"});
  const auto principal = console.Verify(out.launch_token());
  EXPECT_EQ(principal.msp_id, "acme");
  EXPECT_EQ(principal.subject, "alice");
  auth::TokenVerifier api(
      {"HS256", testing::kTestJwtSecret, testing::kTestIssuer, testing::kTestAudience});
  EXPECT_THROW(api.Verify(out.launch_token()), ApiError);

  for (const std::string& bad : std::vector<std::string>{
           "https://evil.example.com/", "https://msp.samsungknox.com@evil.com/",
           "javascript:alert(1)", "//evil.com", "https://msp.samsungknox.com.evil.com/",
           "https://msp.samsungknox.com\\@evil.com"}) {
    request.set_return_uri(bad);
    const auto status = Call(&av1::ServiceAssignmentService::Stub::LaunchServiceConsole, *stub,
                             token, request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"return_uri"}) << bad;
  }
  // A service the customer does not have.
  request.set_return_uri("https://msp.samsungknox.com/");
  request.set_name(customer.name() + "/services/knox-guard");
  EXPECT_EQ(
      Call(&av1::ServiceAssignmentService::Stub::LaunchServiceConsole, *stub, token, request, &out)
          .error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST(AssignmentApi, EndedServicesDoNotLaunchAndComeBackWhenAddedAgain) {
  const auto customer = CreateCustomer("acme", {av1::KNOX_EFOTA});
  ASSERT_TRUE(WaitForServiceStates("acme", customer.name(), 1, AssignedService::ACTIVE));
  auto stub = AssignmentStub();
  av1::EndCustomerServicesRequest end;
  end.set_parent(customer.name());
  av1::EndCustomerServicesResponse ended;
  EXPECT_EQ(Call(&av1::ServiceAssignmentService::Stub::EndCustomerServices, *stub,
                 stack->MspToken("acme"), end, &ended)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "only the onboarding service ends services (on delink)";
  ASSERT_TRUE(Call(&av1::ServiceAssignmentService::Stub::EndCustomerServices, *stub,
                   stack->ServiceToken("onboarding-invitation"), end, &ended)
                  .ok());
  ASSERT_EQ(ended.services_size(), 1);
  EXPECT_EQ(ended.services(0).state(), AssignedService::ENDED);
  EXPECT_EQ(ended.services(0).state_reason(), "DELINKED");

  av1::LaunchServiceConsoleRequest launch;
  launch.set_name(customer.name() + "/services/knox-efota");
  launch.set_return_uri("https://msp.samsungknox.com/");
  av1::LaunchServiceConsoleResponse out;
  const auto status = Call(&av1::ServiceAssignmentService::Stub::LaunchServiceConsole, *stub,
                           stack->MspToken("acme"), launch, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "SERVICE_NOT_ACTIVE");

  av1::AssignServicesResponse again;
  ASSERT_TRUE(Assign(stack->MspToken("acme"), customer.name(), {av1::KNOX_EFOTA}, &again).ok());
  ASSERT_EQ(again.services_size(), 1);
  EXPECT_EQ(again.services(0).state(), AssignedService::ACTIVE);
}

TEST(AssignmentApi, NoServicesAreAddedWhileADelinkIsRequested) {
  const auto customer = CreateCustomer("acme", {});
  pg::Connection conn(stack->database_url(), 5000);
  conn.Exec("UPDATE customer.customers SET state = $2 WHERE customer_id = $1",
            {customer.customer_id(), std::to_string(cv1::DELINK_REQUESTED)});
  av1::AssignServicesResponse out;
  const auto status =
      Assign(stack->MspToken("acme"), customer.name(), {av1::KNOX_MOBILE_ENROLLMENT}, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "CUSTOMER_DELINK_REQUESTED");
  EXPECT_TRUE(Services("acme", customer.name()).empty());
}

// Every method with the owner's token, another MSP's, a customer admin's, a service's, and bad
// tokens.
TEST(AssignmentApi, TenantIsolationMatrix) {
  const auto customer = CreateCustomer("owner", {av1::KNOX_MANAGE});
  ASSERT_TRUE(WaitForServiceStates("owner", customer.name(), 1, AssignedService::ACTIVE));
  auto stub = AssignmentStub();
  using Rpc = std::function<grpc::Status(const std::string& token)>;
  using S = av1::ServiceAssignmentService::Stub;
  struct Method {
    std::string name;
    Rpc rpc;
    bool msp_admins_allowed = true;
    // The service identity the method admits; empty: none (tried as knox-manage).
    std::string service_identity;
  };
  const std::vector<Method> methods = {
      {"AssignServices",
       [&](const std::string& t) {
         av1::AssignServicesResponse out;
         return Assign(t, customer.name(), {av1::KNOX_MANAGE}, &out);
       },
       true, identity::kCustomer},
      {"BatchAssignServices",
       [&](const std::string& t) {
         av1::BatchAssignServicesRequest r;
         r.set_parent("msps/owner");
         auto* one = r.add_requests();
         one->set_parent(customer.name());
         one->add_services(av1::KNOX_MANAGE);
         one->set_request_id("matrix-batch");
         auto* c = r.add_customers();
         c->set_state(av1::AssignableCustomer::ACTIVE);
         c->set_work_email(customer.contact().work_email());
         av1::BatchAssignServicesResponse out;
         return Call(&S::BatchAssignServices, *stub, t, r, &out);
       },
       false, identity::kCustomer},
      {"ListCustomerServices",
       [&](const std::string& t) {
         av1::ListCustomerServicesRequest r;
         r.set_parent(customer.name());
         av1::ListCustomerServicesResponse out;
         return Call(&S::ListCustomerServices, *stub, t, r, &out);
       },
       true, ""},
      {"BatchGetCustomerServices",
       [&](const std::string& t) {
         av1::BatchGetCustomerServicesRequest r;
         r.set_parent("msps/owner");
         r.add_customers(customer.name());
         av1::BatchGetCustomerServicesResponse out;
         return Call(&S::BatchGetCustomerServices, *stub, t, r, &out);
       },
       true, identity::kCustomer},
      {"ReportDeviceCounts",
       [&](const std::string& t) {
         av1::ReportDeviceCountsRequest r;
         auto* rep = r.add_reports();
         rep->set_customer_id(customer.customer_id());
         rep->set_service(av1::KNOX_MANAGE);
         rep->set_device_count(3);
         *rep->mutable_observe_time() = SecondsAgo(1);
         av1::ReportDeviceCountsResponse out;
         return Call(&S::ReportDeviceCounts, *stub, t, r, &out);
       },
       false, "knox-manage"},
      {"CheckKnoxManageTenantId",
       [&](const std::string& t) {
         av1::CheckKnoxManageTenantIdRequest r;
         r.set_parent("msps/owner");
         r.set_work_email("x@isolated.example");
         av1::CheckKnoxManageTenantIdResponse out;
         return Call(&S::CheckKnoxManageTenantId, *stub, t, r, &out);
       },
       true, identity::kOnboardingInvitation},
      {"BatchCheckKnoxManageTenantIds",
       [&](const std::string& t) {
         av1::BatchCheckKnoxManageTenantIdsRequest r;
         r.set_parent("msps/owner");
         r.add_tenant_ids("isolated.example");
         av1::BatchCheckKnoxManageTenantIdsResponse out;
         return Call(&S::BatchCheckKnoxManageTenantIds, *stub, t, r, &out);
       },
       false, identity::kCustomer},
      {"LaunchServiceConsole",
       [&](const std::string& t) {
         av1::LaunchServiceConsoleRequest r;
         r.set_name(customer.name() + "/services/knox-manage");
         r.set_return_uri("https://msp.samsungknox.com/");
         av1::LaunchServiceConsoleResponse out;
         return Call(&S::LaunchServiceConsole, *stub, t, r, &out);
       },
       true, ""},
      {"EndCustomerServices",
       [&](const std::string& t) {
         av1::EndCustomerServicesRequest r;
         r.set_parent(customer.name());
         av1::EndCustomerServicesResponse out;
         return Call(&S::EndCustomerServices, *stub, t, r, &out);
       },
       false, identity::kOnboardingInvitation},
  };
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      "msp.assignment.v1.ServiceAssignmentService");
  ASSERT_EQ(service->method_count(), static_cast<int>(methods.size()));

  auth::TokenIssuer wrong_key("HS256", "another-secret-entirely-0123456789abcdef",
                              testing::kTestIssuer, testing::kTestAudience);
  auth::TokenClaims claims;
  claims.kind = auth::PrincipalKind::kMspAdmin;
  claims.subject = "mallory";
  claims.msp_id = "owner";
  auth::TokenClaims expired = claims;
  expired.ttl = std::chrono::seconds(-600);

  for (const auto& m : methods) {
    // Another MSP: NOT_FOUND where MSP admins may call, PERMISSION_DENIED where they may not.
    const auto intruder = m.rpc(stack->MspToken("intruder"));
    EXPECT_EQ(intruder.error_code(), m.msp_admins_allowed ? grpc::StatusCode::NOT_FOUND
                                                          : grpc::StatusCode::PERMISSION_DENIED)
        << m.name << ": " << intruder.error_message();
    // Nothing about the owner's customer leaks into the answer.
    EXPECT_EQ(intruder.error_message().find("Assign Co"), std::string::npos) << m.name;
    EXPECT_EQ(m.rpc(stack->CustomerToken(customer.customer_id())).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << m.name;
    for (const std::string& bad : {std::string(), wrong_key.Mint(claims),
                                   stack->issuer().Mint(expired), std::string("not.a.jwt")}) {
      EXPECT_EQ(m.rpc(bad).error_code(), grpc::StatusCode::UNAUTHENTICATED) << m.name;
    }
    const auto as_service =
        m.rpc(stack->ServiceToken(m.service_identity.empty() ? "knox-manage" : m.service_identity));
    if (m.service_identity.empty()) {
      EXPECT_EQ(as_service.error_code(), grpc::StatusCode::PERMISSION_DENIED) << m.name;
    }
    const auto as_owner = m.rpc(stack->MspToken("owner"));
    if (m.msp_admins_allowed) {
      EXPECT_TRUE(as_owner.ok()) << m.name << ": " << as_owner.error_message();
    } else {
      EXPECT_EQ(as_owner.error_code(), grpc::StatusCode::PERMISSION_DENIED) << m.name;
      EXPECT_TRUE(as_service.ok()) << m.name << ": " << as_service.error_message();
    }
  }
}

av1::AssignServicesRequest BatchItem(const cv1::Customer& customer, const std::string& request_id,
                                     const std::vector<av1::KnoxService>& services) {
  av1::AssignServicesRequest one;
  one.set_parent(customer.name());
  for (auto s : services) one.add_services(s);
  one.set_request_id(request_id);
  return one;
}

av1::AssignableCustomer Assignable(const cv1::Customer& customer,
                                   av1::AssignableCustomer::State state) {
  av1::AssignableCustomer assignable;
  assignable.set_state(state);
  assignable.set_work_email(customer.contact().work_email());
  assignable.set_company_name(customer.company().display_name());
  return assignable;
}

// The customer service's batch: each customer's outcome is its own, a repeat is answered from
// the first, and the trail entries are left to the caller.
TEST(AssignmentApi, ABatchAssignsEachCustomerOnItsOwn) {
  const auto ready = CreateCustomer("batcher", {});
  const auto pending = CreateCustomer("batcher", {});
  const auto gone = CreateCustomer("batcher", {});
  av1::BatchAssignServicesRequest request;
  request.set_parent("msps/batcher");
  *request.add_requests() = BatchItem(ready, "batch-ready", {av1::KNOX_MANAGE, av1::KNOX_GUARD});
  *request.add_customers() = Assignable(ready, av1::AssignableCustomer::ACTIVE);
  *request.add_requests() = BatchItem(pending, "batch-pending", {av1::KNOX_GUARD});
  *request.add_customers() = Assignable(pending, av1::AssignableCustomer::DELINK_REQUESTED);
  *request.add_requests() = BatchItem(gone, "batch-bad", {});
  *request.add_customers() = Assignable(gone, av1::AssignableCustomer::ACTIVE);
  const std::string token = stack->ServiceToken(
      identity::kCustomer,
      auth::OnBehalfOf{auth::PrincipalKind::kMspAdmin, "alice", "batcher", "", {}});
  auto stub = AssignmentStub();
  av1::BatchAssignServicesResponse first;
  auto status = Call(&av1::ServiceAssignmentService::Stub::BatchAssignServices, *stub, token,
                     request, &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(first.results_size(), 3);
  ASSERT_TRUE(first.results(0).has_response());
  EXPECT_EQ(first.results(0).response().added_services_size(), 2);
  EXPECT_EQ(first.results(0).response().services(0).knox_manage_tenant_id(),
            knox::EmailDomain(ready.contact().work_email()));
  ASSERT_TRUE(first.results(1).has_error());
  EXPECT_EQ(first.results(1).error().code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(StatusOf(first.results(1).error())).reason, "CUSTOMER_DELINK_REQUESTED");
  ASSERT_TRUE(first.results(2).has_error());
  EXPECT_EQ(first.results(2).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(StatusOf(first.results(2).error())).fields,
            std::vector<std::string>{"requests[2].services"});
  EXPECT_EQ(Services("batcher", pending.name()).size(), 0u);  // nothing of a refused request

  // The same batch again: the first answer, nothing added twice.
  av1::BatchAssignServicesResponse again;
  status = Call(&av1::ServiceAssignmentService::Stub::BatchAssignServices, *stub, token, request,
                &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(again.results(0).response().SerializeAsString(),
            first.results(0).response().SerializeAsString());
  EXPECT_EQ(Services("batcher", ready.name()).size(), 2u);
  // The caller records the trail entry: no SERVICES_ADDED from the assignment service.
  pg::Connection db(stack->database_url(), 5000);
  EXPECT_EQ(db.Exec("SELECT count(*) FROM customer.customer_events WHERE customer_id = $1 AND "
                    "action = 'SERVICES_ADDED'",
                    {ready.customer_id()})
                .Int64(0, 0),
            0);

  // Another MSP's customer in the batch is refused on its own; an MSP admin may not batch.
  av1::BatchAssignServicesRequest foreign;
  foreign.set_parent("msps/batcher");
  *foreign.add_requests() =
      BatchItem(CreateCustomer("rival", {}), "batch-foreign", {av1::KNOX_GUARD});
  foreign.add_customers()->set_state(av1::AssignableCustomer::ACTIVE);
  av1::BatchAssignServicesResponse foreign_out;
  status = Call(&av1::ServiceAssignmentService::Stub::BatchAssignServices, *stub, token, foreign,
                &foreign_out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(foreign_out.results(0).has_error());
  // Another MSP's customer, as for anything of another tenant: as if it did not exist.
  EXPECT_EQ(foreign_out.results(0).error().code(), grpc::StatusCode::NOT_FOUND);
  status = Call(&av1::ServiceAssignmentService::Stub::BatchAssignServices, *stub,
                stack->MspToken("batcher"), request, &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// The GetCustomer calls the customer service has answered so far (its metrics).
double GetCustomerCalls() {
  const std::string metrics = testing::ScrapeMetrics(stack->service("customer").metrics_port);
  double calls = 0;
  for (const auto line : absl::StrSplit(metrics, '\n')) {
    if (absl::StartsWith(line, "grpc_server_handled_total{") &&
        absl::StrContains(line, "grpc_method=\"GetCustomer\"") &&
        absl::StrContains(line, "grpc_service=\"msp.customer.v1.CustomerService\"")) {
      calls += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
    }
  }
  return calls;
}

// A new customer's services are assigned from the customer as the customer service sends it:
// the assignment service does not ask for it again.
TEST(AssignmentApi, ANewCustomersServicesNeedNoCallBackToTheCustomerService) {
  const double before = GetCustomerCalls();
  const auto created = CreateCustomer("no-call-back", {av1::KNOX_GUARD, av1::KNOX_MANAGE});
  // Waited for in the database: the API would ask the customer service itself.
  pg::Connection db(stack->database_url(), 5000);
  int64_t active = 0;
  for (int i = 0; i < 300 && active < 2; ++i) {
    active = db.Exec(
                   "SELECT count(*) FROM assignment.customer_services WHERE customer_id = $1 "
                   "AND state = $2",
                   {created.customer_id(), std::to_string(AssignedService::ACTIVE)})
                 .Int64(0, 0);
    if (active < 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(active, 2);
  EXPECT_EQ(GetCustomerCalls(), before);
  // The count moves with a call: the reading above is of a live counter.
  cv1::GetCustomerRequest get;
  get.set_name(created.name());
  cv1::Customer got;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::GetCustomer, *CustomerStub(),
                   stack->MspToken("no-call-back"), get, &got)
                  .ok());
  EXPECT_EQ(GetCustomerCalls(), before + 1);
}

// A batch carries the customer as it was a moment before. One whose delink ended its services
// in between gets none: the services a delink ended stay ended.
TEST(AssignmentApi, ABatchAfterTheDelinkEndedTheServicesAddsNone) {
  const auto customer = CreateCustomer("fenced", {});
  auto stub = AssignmentStub();
  av1::EndCustomerServicesRequest end;
  end.set_parent(customer.name());
  end.set_reason("DELINKED");
  av1::EndCustomerServicesResponse ended;
  auto status = Call(&av1::ServiceAssignmentService::Stub::EndCustomerServices, *stub,
                     stack->ServiceToken(identity::kOnboardingInvitation), end, &ended);
  ASSERT_TRUE(status.ok()) << status.error_message();
  av1::BatchAssignServicesRequest request;
  request.set_parent("msps/fenced");
  *request.add_requests() = BatchItem(customer, "late-batch", {av1::KNOX_GUARD});
  // As the customer service saw it before the delink.
  *request.add_customers() = Assignable(customer, av1::AssignableCustomer::ACTIVE);
  av1::BatchAssignServicesResponse out;
  status = Call(&av1::ServiceAssignmentService::Stub::BatchAssignServices, *stub,
                stack->ServiceToken(identity::kCustomer), request, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(out.results(0).has_error());
  EXPECT_EQ(DetailsOf(StatusOf(out.results(0).error())).reason, "CUSTOMER_NOT_ACTIVE");
  EXPECT_EQ(Services("fenced", customer.name()).size(), 0u);
}

// Sixty long names of another MSP's customers made trailers past the C++ client's metadata
// limit: it saw RESOURCE_EXHAUSTED instead of the error. Now the details are bounded and count
// what they leave out (the grpc-js side is in tests/reflection).
TEST(AssignmentApi, AnErrorAboutManyNamesStaysReadable) {
  auto stub = AssignmentStub();
  av1::BatchGetCustomerServicesRequest request;
  request.set_parent("msps/acme");
  for (int i = 0; i < 60; ++i) {
    request.add_customers(
        absl::StrCat("msps/rival/customers/", 1000000000 + i, std::string(200, 'x')));
  }
  av1::BatchGetCustomerServicesResponse out;
  const auto status = Call(&av1::ServiceAssignmentService::Stub::BatchGetCustomerServices, *stub,
                           stack->MspToken("acme"), request, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  const auto details = DetailsOf(status);
  EXPECT_EQ(details.reason, "INVALID_FIELDS");
  ASSERT_FALSE(details.fields.empty());
  EXPECT_LE(details.fields.size(), 20u);
  EXPECT_EQ(details.fields[0], "customers[0]");
  EXPECT_EQ(details.metadata.at("violations_total"), "60");
}

TEST(AssignmentApi, BadInputNamesTheFieldAndWritesNothing) {
  const auto customer = CreateCustomer("acme", {});
  auto stub = AssignmentStub();
  using S = av1::ServiceAssignmentService::Stub;
  const std::string msp = stack->MspToken("acme");
  const std::string svc = stack->ServiceToken("knox-manage");
  struct Case {
    std::string label;
    std::function<grpc::Status()> rpc;
    std::string field;
  };
  auto assign = [&](const std::string& parent, std::vector<int> services, const std::string& prefix,
                    const std::string& request_id = "") {
    return [&, parent, services, prefix, request_id] {
      av1::AssignServicesRequest r;
      r.set_parent(parent);
      for (int s : services) r.add_services(static_cast<av1::KnoxService>(s));
      r.set_knox_manage_tenant_prefix(prefix);
      r.set_request_id(request_id);
      av1::AssignServicesResponse out;
      return Call(&S::AssignServices, *stub, msp, r, &out);
    };
  };
  auto report = [&](std::function<void(av1::DeviceCountReport&)> change) {
    return [&, change] {
      av1::ReportDeviceCountsRequest r;
      auto* rep = r.add_reports();
      rep->set_customer_id(customer.customer_id());
      rep->set_service(av1::KNOX_MANAGE);
      rep->set_device_count(10);
      rep->set_devices_needing_attention(1);
      *rep->mutable_observe_time() = SecondsAgo(5);
      change(*rep);
      av1::ReportDeviceCountsResponse out;
      return Call(&S::ReportDeviceCounts, *stub, svc, r, &out);
    };
  };
  auto check = [&](const std::string& email, const std::string& prefix) {
    return [&, email, prefix] {
      av1::CheckKnoxManageTenantIdRequest r;
      r.set_parent("msps/acme");
      r.set_work_email(email);
      r.set_prefix(prefix);
      av1::CheckKnoxManageTenantIdResponse out;
      return Call(&S::CheckKnoxManageTenantId, *stub, msp, r, &out);
    };
  };
  const std::string c = customer.name();
  const std::vector<Case> cases = {
      {"parent malformed", assign("customers/x", {1}, ""), "parent"},
      {"parent bad id", assign("msps/acme/customers/NOT-AN-ID", {1}, ""), "parent"},
      {"no services", assign(c, {}, ""), "services"},
      {"unknown service", assign(c, {1, 99}, ""), "services[1]"},
      {"unspecified service", assign(c, {0}, ""), "services[0]"},
      {"prefix without Knox Manage", assign(c, {1}, "hq"), "knox_manage_tenant_prefix"},
      {"prefix leading separator", assign(c, {2}, "-hq"), "knox_manage_tenant_prefix"},
      {"prefix trailing separator", assign(c, {2}, "hq_"), "knox_manage_tenant_prefix"},
      {"prefix doubled separator", assign(c, {2}, "h..q"), "knox_manage_tenant_prefix"},
      {"prefix bad character", assign(c, {2}, "h q"), "knox_manage_tenant_prefix"},
      {"prefix too long", assign(c, {2}, std::string(31, 'a')), "knox_manage_tenant_prefix"},
      {"request id", assign(c, {1}, "", "bad id!"), "request_id"},
      {"report customer id", report([](auto& r) { r.set_customer_id("nope"); }),
       "reports[0].customer_id"},
      {"report service", report([](auto& r) { r.set_service(static_cast<av1::KnoxService>(42)); }),
       "reports[0].service"},
      {"report negative count", report([](auto& r) { r.set_device_count(-1); }),
       "reports[0].device_count"},
      {"report attention above count", report([](auto& r) { r.set_devices_needing_attention(11); }),
       "reports[0].devices_needing_attention"},
      {"report without time", report([](auto& r) { r.clear_observe_time(); }),
       "reports[0].observe_time"},
      {"report from the future",
       report([](auto& r) { *r.mutable_observe_time() = SecondsAgo(-3600); }),
       "reports[0].observe_time"},
      {"check email", check("not-an-email", ""), "work_email"},
      {"check prefix", check("a@b.example", "a__b"), "prefix"},
      {"batch other parent",
       [&] {
         av1::BatchGetCustomerServicesRequest r;
         r.set_parent("msps/acme");
         r.add_customers("msps/other/customers/" + customer.customer_id());
         av1::BatchGetCustomerServicesResponse out;
         return Call(&S::BatchGetCustomerServices, *stub, msp, r, &out);
       },
       "customers[0]"},
      {"batch too many",
       [&] {
         av1::BatchGetCustomerServicesRequest r;
         r.set_parent("msps/acme");
         for (int i = 0; i < 501; ++i) r.add_customers(c);
         av1::BatchGetCustomerServicesResponse out;
         return Call(&S::BatchGetCustomerServices, *stub, msp, r, &out);
       },
       "customers"},
      {"launch name",
       [&] {
         av1::LaunchServiceConsoleRequest r;
         r.set_name(c + "/services/knox-nothing");
         r.set_return_uri("https://msp.samsungknox.com/");
         av1::LaunchServiceConsoleResponse out;
         return Call(&S::LaunchServiceConsole, *stub, msp, r, &out);
       },
       "name"},
      {"launch without return uri",
       [&] {
         av1::LaunchServiceConsoleRequest r;
         r.set_name(c + "/services/knox-manage");
         av1::LaunchServiceConsoleResponse out;
         return Call(&S::LaunchServiceConsole, *stub, msp, r, &out);
       },
       "return_uri"},
      {"create with unknown service",
       [&] {
         auto cs = CustomerStub();
         cv1::CreateCustomerRequest r;
         r.set_parent("msps/acme");
         *r.mutable_customer() = customer::testdata::ValidCustomer("Bad Services", "a@b.example");
         r.add_services(static_cast<av1::KnoxService>(77));
         cv1::Customer out;
         return Call(&cv1::CustomerService::Stub::CreateCustomer, *cs, msp, r, &out);
       },
       "services[0]"},
      {"create with prefix but no Knox Manage",
       [&] {
         auto cs = CustomerStub();
         cv1::CreateCustomerRequest r;
         r.set_parent("msps/acme");
         *r.mutable_customer() = customer::testdata::ValidCustomer("Bad Prefix", "a@b.example");
         r.add_services(av1::KNOX_GUARD);
         r.set_knox_manage_tenant_prefix("hq");
         cv1::Customer out;
         return Call(&cv1::CustomerService::Stub::CreateCustomer, *cs, msp, r, &out);
       },
       "knox_manage_tenant_prefix"},
  };
  for (const auto& k : cases) {
    const auto status = k.rpc();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << k.label << ": " << status.error_message();
    const auto fields = DetailsOf(status).fields;
    EXPECT_NE(std::find(fields.begin(), fields.end(), k.field), fields.end())
        << k.label << ": expected field " << k.field << ", got " << status.error_message();
  }
  // Nothing was written.
  EXPECT_TRUE(Services("acme", c).empty());
  pg::Connection conn(stack->database_url(), 5000);
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM customer.customers WHERE company_name LIKE 'Bad %'")
                .Int64(0, 0),
            0);
}

// The caller gets its answer without waiting for an absent assignment service; the services
// follow once it is back.
TEST(AssignmentApi, CreatingWhileTheAssignmentServiceIsDownAnswersAtOnceAndCatchesUp) {
  ASSERT_GE(stack->StopService("service-assignment", SIGKILL), 0);
  const auto start = std::chrono::steady_clock::now();
  const auto customer = CreateCustomer("acme", {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_EFOTA});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(1));
  ASSERT_EQ(customer.services_size(), 2);
  // Reading the services needs their service: a clear UNAVAILABLE, not a guess.
  grpc::Status status;
  GetFull("acme", customer.name(), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(DetailsOf(status).reason, "ASSIGNMENT_SERVICE_UNAVAILABLE");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a few failed deliveries
  stack->StartService("service-assignment");
  EXPECT_TRUE(WaitForServiceStates("acme", customer.name(), 2, AssignedService::ACTIVE,
                                   std::chrono::seconds(60)));
}

}  // namespace
}  // namespace msp
