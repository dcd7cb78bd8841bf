// The customer service end to end: the real binaries (all four services), a real PostgreSQL
// and redis-server, and a gRPC client holding bearer tokens, as the portal backend would.
#include <signal.h>

#include <grpcpp/support/error_details.h>
#include <gtest/gtest.h>

#include <filesystem>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "http_get.h"
#include "msp/common/identities.h"
#include "msp/common/pg.h"
#include "msp/common/server.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "stack.h"
#include "status_details.h"
#include "testdata/sample_customers.h"

namespace msp::customer {
namespace {

using testing::Authorize;
using testing::DetailsOf;
using testing::Stack;

Stack* stack = nullptr;

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

v1::Customer NewCustomer(const std::string& company = "Example GmbH",
                         const std::string& email = "erika@example.de",
                         v1::ManagementType type = v1::FULLY_MANAGED) {
  return testdata::ValidCustomer(company, email, type);
}

// A client for one MSP admin.
class Client {
 public:
  explicit Client(const std::string& token)
      : token_(token), stub_(v1::CustomerService::NewStub(stack->Channel("customer"))) {}

  grpc::Status Create(const std::string& parent, const v1::Customer& customer, v1::Customer* out,
                      const std::string& request_id = "") {
    v1::CreateCustomerRequest request;
    request.set_parent(parent);
    *request.mutable_customer() = customer;
    request.set_request_id(request_id);
    auto context = Context();
    return stub_->CreateCustomer(context.get(), request, out);
  }
  v1::Customer MustCreate(const std::string& msp, const v1::Customer& customer) {
    v1::Customer out;
    auto status = Create("msps/" + msp, customer, &out);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return out;
  }
  grpc::Status Get(const std::string& name, v1::Customer* out) {
    v1::GetCustomerRequest request;
    request.set_name(name);
    auto context = Context();
    return stub_->GetCustomer(context.get(), request, out);
  }
  grpc::Status List(const v1::ListCustomersRequest& request, v1::ListCustomersResponse* out) {
    auto context = Context();
    return stub_->ListCustomers(context.get(), request, out);
  }
  grpc::Status Update(const v1::Customer& customer, const std::vector<std::string>& paths,
                      v1::Customer* out, const std::string& etag = "") {
    v1::UpdateCustomerRequest request;
    *request.mutable_customer() = customer;
    for (const auto& p : paths) request.mutable_update_mask()->add_paths(p);
    request.set_etag(etag);
    auto context = Context();
    return stub_->UpdateCustomer(context.get(), request, out);
  }
  grpc::Status Upgrade(const std::string& name, v1::Customer* out, const std::string& etag = "") {
    v1::UpgradeToJointlyManagedRequest request;
    request.set_name(name);
    request.set_etag(etag);
    auto context = Context();
    return stub_->UpgradeToJointlyManaged(context.get(), request, out);
  }
  grpc::Status Events(const std::string& parent, v1::ListCustomerEventsResponse* out,
                      int page_size = 0, const std::string& token = "") {
    v1::ListCustomerEventsRequest request;
    request.set_parent(parent);
    request.set_page_size(page_size);
    request.set_page_token(token);
    auto context = Context();
    return stub_->ListCustomerEvents(context.get(), request, out);
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token_.empty()) Authorize(*context, token_);
    return context;
  }
  std::string token_;
  std::unique_ptr<v1::CustomerService::Stub> stub_;
};

int64_t CountCustomers(const std::string& msp) {
  pg::Connection conn(stack->database_url(), 5000);
  return conn.Exec("SELECT count(*) FROM customer.customers WHERE msp_id = $1", {msp}).Int64(0, 0);
}

void Sql(const std::string& sql, const std::vector<pg::Param>& params) {
  pg::Connection conn(stack->database_url(), 5000);
  conn.Exec(sql, params);
}

TEST(CustomerApi, CreateGetListUpdate) {
  Client client(stack->MspToken("acme"));
  auto created = client.MustCreate("acme", NewCustomer("Create Flow AG"));
  EXPECT_EQ(created.state(), v1::ACTIVE);
  EXPECT_EQ(created.management_type(), v1::FULLY_MANAGED);
  EXPECT_EQ(created.name(), "msps/acme/customers/" + created.customer_id());
  EXPECT_EQ(created.contact().phone(), "+49301234567");
  EXPECT_TRUE(created.has_create_time() && created.has_update_time() &&
              created.has_msp_link_time());
  EXPECT_FALSE(created.etag().empty());

  v1::Customer got;
  ASSERT_TRUE(client.Get(created.name(), &got).ok());
  EXPECT_EQ(got.SerializeAsString(), created.SerializeAsString());

  v1::ListCustomersRequest list;
  list.set_parent("msps/acme");
  list.set_search("create flow");
  v1::ListCustomersResponse listed;
  ASSERT_TRUE(client.List(list, &listed).ok());
  ASSERT_EQ(listed.customers_size(), 1);
  EXPECT_EQ(listed.customers(0).customer_id(), created.customer_id());

  v1::Customer patch;
  patch.set_name(created.name());
  patch.mutable_company()->set_display_name("Create Flow SE");
  patch.mutable_contact()->set_work_email("max@createflow.example");
  v1::Customer updated;
  auto status = client.Update(patch, {"company.display_name", "contact.work_email"}, &updated,
                              created.etag());
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(updated.company().display_name(), "Create Flow SE");
  EXPECT_EQ(updated.contact().work_email(), "max@createflow.example");
  EXPECT_EQ(updated.contact().first_name(), "Erika");
  EXPECT_NE(updated.etag(), created.etag());

  // The stale etag now loses.
  status = client.Update(patch, {"company.display_name"}, &updated, created.etag());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(DetailsOf(status).reason, "ETAG_MISMATCH");
}

// AIP-159's `msps/-` (every MSP at once) is for internal services (reporting's rebuild), by
// customer id and without services; an MSP admin naming it finds nothing.
TEST(CustomerApi, EveryMspAtOnceIsForInternalServicesOnly) {
  Client a(stack->MspToken("wild-a"));
  Client b(stack->MspToken("wild-b"));
  const auto ca = a.MustCreate("wild-a", NewCustomer("Wild A"));
  const auto cb = b.MustCreate("wild-b", NewCustomer("Wild B"));
  v1::ListCustomersRequest request;
  request.set_parent("msps/-");
  request.set_page_size(500);
  v1::ListCustomersResponse out;
  EXPECT_EQ(a.List(request, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Client(stack->MspToken("-")).List(request, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Only the rebuild reads every MSP at once; another service is refused `msps/-`.
  EXPECT_EQ(
      Client(stack->ServiceToken(identity::kServiceAssignment)).List(request, &out).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  Client service(stack->ServiceToken(identity::kReportingRebuild));
  request.set_order_by("customer_id");
  std::set<std::string> names;
  while (true) {
    ASSERT_TRUE(service.List(request, &out).ok());
    for (const auto& c : out.customers()) names.insert(c.name());
    if (out.next_page_token().empty()) break;
    request.set_page_token(out.next_page_token());
  }
  EXPECT_TRUE(names.count(ca.name()) && names.count(cb.name()));
  request.clear_page_token();
  request.set_view(v1::FULL);
  EXPECT_EQ(service.List(request, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.set_view(v1::BASIC);
  request.set_order_by("company_name");
  EXPECT_EQ(service.List(request, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(CustomerApi, RetriesWithTheSameRequestIdReturnTheFirstAnswer) {
  Client client(stack->MspToken("retry-msp"));
  const auto customer = NewCustomer("Retry Corp");
  v1::Customer first, second;
  ASSERT_TRUE(client.Create("msps/retry-msp", customer, &first, "req-0001").ok());
  ASSERT_TRUE(client.Create("msps/retry-msp", customer, &second, "req-0001").ok());
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
  EXPECT_EQ(CountCustomers("retry-msp"), 1);

  v1::Customer other;
  auto status = client.Create("msps/retry-msp", NewCustomer("Different"), &other, "req-0001");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).reason, "REQUEST_ID_REUSED");

  // Eight concurrent retries of one request: one customer, one answer.
  std::vector<std::thread> threads;
  std::vector<std::string> ids(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Client c(stack->MspToken("retry-msp"));
      v1::Customer out;
      if (c.Create("msps/retry-msp", NewCustomer("Concurrent"), &out, "req-concurrent").ok()) {
        ids[i] = out.customer_id();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
  EXPECT_FALSE(ids[0].empty());
  EXPECT_EQ(CountCustomers("retry-msp"), 2);
}

// Every RPC, called on MSP "owner"'s customer with every kind of caller.
TEST(CustomerApi, TenantIsolationMatrix) {
  Client owner(stack->MspToken("owner"));
  const auto customer =
      owner.MustCreate("owner", NewCustomer("Isolated Ltd", "it@isolated.example"));
  const std::string name = customer.name();

  using Rpc = std::function<grpc::Status(Client&)>;
  const std::vector<std::pair<std::string, Rpc>> rpcs = {
      {"CreateCustomer",
       [&](Client& c) {
         v1::Customer out;
         return c.Create("msps/owner", NewCustomer("Injected"), &out);
       }},
      {"GetCustomer",
       [&](Client& c) {
         v1::Customer out;
         return c.Get(name, &out);
       }},
      {"ListCustomers",
       [&](Client& c) {
         v1::ListCustomersRequest r;
         r.set_parent("msps/owner");
         v1::ListCustomersResponse out;
         return c.List(r, &out);
       }},
      {"UpdateCustomer",
       [&](Client& c) {
         v1::Customer patch;
         patch.set_name(name);
         patch.mutable_company()->set_display_name("Hijacked");
         v1::Customer out;
         return c.Update(patch, {"company.display_name"}, &out);
       }},
      {"UpgradeToJointlyManaged",
       [&](Client& c) {
         v1::Customer out;
         return c.Upgrade(name, &out);
       }},
      {"ListCustomerEvents",
       [&](Client& c) {
         v1::ListCustomerEventsResponse out;
         return c.Events(name, &out);
       }},
  };
  // Every method of the service is in the matrix.
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      "msp.customer.v1.CustomerService");
  // The internal methods (service principals only) are checked below.
  const std::vector<std::string> internal = {"CreateKnoxCustomer", "LookupKnoxCustomer",
                                             "TransitionCustomer", "RecordCustomerEvent"};
  ASSERT_EQ(service->method_count(), static_cast<int>(rpcs.size() + internal.size()));
  for (const auto& method : internal) {
    ASSERT_NE(service->FindMethodByName(method), nullptr) << method;
  }
  {
    auto stub = v1::CustomerService::NewStub(stack->Channel("customer"));
    auto call_internal = [&](const std::string& token, int which) {
      grpc::ClientContext context;
      if (!token.empty()) Authorize(context, token);
      if (which == 0) {
        v1::CreateKnoxCustomerRequest r;
        *r.mutable_customer() = NewCustomer("Knox Internal Ltd", "it@internal.example");
        v1::Customer out;
        return stub->CreateKnoxCustomer(&context, r, &out);
      }
      if (which == 1) {
        v1::LookupKnoxCustomerRequest r;
        r.set_customer_id(customer.customer_id());
        v1::KnoxCustomer out;
        return stub->LookupKnoxCustomer(&context, r, &out);
      }
      if (which == 2) {
        v1::TransitionCustomerRequest r;
        r.set_customer_id(customer.customer_id());
        r.set_msp_id("intruder");
        r.set_transition(v1::INVITE);
        r.set_link_id("inv-matrix");
        r.set_management_type(v1::FULLY_MANAGED);
        v1::Customer out;
        return stub->TransitionCustomer(&context, r, &out);
      }
      v1::RecordCustomerEventRequest r;
      r.set_parent(customer.name());
      r.set_action("SERVICES_ADDED");
      r.set_event_key("matrix-forged");
      r.mutable_event_time()->set_seconds(1);
      v1::CustomerEvent out;
      return stub->RecordCustomerEvent(&context, r, &out);
    };
    for (int which = 0; which < 4; ++which) {
      for (const auto& token : {stack->MspToken("owner"), stack->MspToken("intruder"),
                                stack->CustomerToken(customer.customer_id())}) {
        EXPECT_EQ(call_internal(token, which).error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << internal[static_cast<size_t>(which)];
      }
      EXPECT_EQ(call_internal("", which).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    }
  }

  auth::TokenIssuer wrong_key("HS256", "a-completely-different-secret-0123456789",
                              testing::kTestIssuer, testing::kTestAudience);
  auth::TokenClaims claims;
  claims.kind = auth::PrincipalKind::kMspAdmin;
  claims.subject = "mallory";
  claims.msp_id = "owner";
  const std::string forged = wrong_key.Mint(claims);
  auth::TokenClaims expired_claims = claims;
  expired_claims.ttl = std::chrono::seconds(-600);
  const std::string expired = stack->issuer().Mint(expired_claims);
  auto b64 = [](const std::string& s) {
    std::string o;
    absl::WebSafeBase64Escape(s, &o);
    return o;
  };
  const std::string alg_none =
      b64("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." +
      b64("{\"iss\":\"msp-test\",\"aud\":\"msp-customers\",\"sub\":\"m\",\"role\":\"msp_admin\","
          "\"msp_id\":\"owner\",\"exp\":9999999999}") +
      ".";
  auth::TokenIssuer wrong_issuer("HS256", testing::kTestJwtSecret, "someone-else",
                                 testing::kTestAudience);

  struct Caller {
    std::string label;
    std::string token;
    grpc::StatusCode expected;  // for every RPC but the own-MSP row
    // Methods where this caller is allowed (answered OK instead of `expected`).
    std::set<std::string> allowed = {};
  };
  const std::vector<Caller> callers = {
      {"other MSP", stack->MspToken("intruder"), grpc::StatusCode::NOT_FOUND},
      {"customer admin", stack->CustomerToken(customer.customer_id()),
       grpc::StatusCode::PERMISSION_DENIED},
      // Internal services read customers (the assignment service checks state and email,
      // reporting's rebuild lists them) but change nothing.
      {"assignment service",
       stack->ServiceToken(identity::kServiceAssignment),
       grpc::StatusCode::PERMISSION_DENIED,
       {"GetCustomer"}},
      {"reporting rebuild",
       stack->ServiceToken(identity::kReportingRebuild),
       grpc::StatusCode::PERMISSION_DENIED,
       {"ListCustomers"}},
      {"reporting", stack->ServiceToken(identity::kReporting), grpc::StatusCode::PERMISSION_DENIED},
      {"no token", "", grpc::StatusCode::UNAUTHENTICATED},
      {"expired", expired, grpc::StatusCode::UNAUTHENTICATED},
      {"alg none", alg_none, grpc::StatusCode::UNAUTHENTICATED},
      {"wrong key", forged, grpc::StatusCode::UNAUTHENTICATED},
      {"wrong issuer", wrong_issuer.Mint(claims), grpc::StatusCode::UNAUTHENTICATED},
      {"garbage", "not.a.jwt", grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const auto& caller : callers) {
    Client client(caller.token);
    for (const auto& [method, rpc] : rpcs) {
      const auto status = rpc(client);
      const auto expected =
          caller.allowed.contains(method) ? grpc::StatusCode::OK : caller.expected;
      EXPECT_EQ(status.error_code(), expected)
          << caller.label << " -> " << method << ": " << status.error_message();
      // Nothing about the owner's customer leaks into the message.
      EXPECT_EQ(status.error_message().find("Isolated"), std::string::npos)
          << caller.label << " " << method;
    }
  }
  // The owner itself: every RPC answers (Create makes a second customer).
  for (const auto& [method, rpc] : rpcs) {
    EXPECT_TRUE(rpc(owner).ok()) << method;
  }
  // Nothing the others tried was written.
  v1::Customer after;
  ASSERT_TRUE(owner.Get(name, &after).ok());
  EXPECT_EQ(after.company().display_name(), "Hijacked");  // the owner's own update above
  EXPECT_EQ(CountCustomers("owner"), 2);
  EXPECT_EQ(CountCustomers("intruder"), 0);
  // The intruder's own list is empty: the tenant comes from the token, not the request.
  Client intruder(stack->MspToken("intruder"));
  v1::ListCustomersRequest own_list;
  own_list.set_parent("msps/intruder");
  v1::ListCustomersResponse listed;
  ASSERT_TRUE(intruder.List(own_list, &listed).ok());
  EXPECT_EQ(listed.customers_size(), 0);
}

TEST(CustomerApi, BadInputIsRefusedFieldByFieldAndNothingIsWritten) {
  Client client(stack->MspToken("bad-input"));
  struct Case {
    std::string field;
    std::function<void(v1::Customer&)> spoil;
  };
  const std::vector<Case> cases = {
      {"customer.company.display_name",
       [](v1::Customer& c) { c.mutable_company()->clear_display_name(); }},
      {"customer.company.size", [](v1::Customer& c) { c.mutable_company()->clear_size(); }},
      {"customer.company.industries",
       [](v1::Customer& c) { c.mutable_company()->clear_industries(); }},
      {"customer.company.country_code",
       [](v1::Customer& c) { c.mutable_company()->set_country_code("ZZ"); }},
      {"customer.company.address.address_line1",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_address_line1(); }},
      {"customer.company.address.city",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_city(); }},
      {"customer.company.address.state",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->clear_state(); }},
      {"customer.company.address.zip_code",
       [](v1::Customer& c) { c.mutable_company()->mutable_address()->set_zip_code("?"); }},
      {"customer.company.website_uri",
       [](v1::Customer& c) { c.mutable_company()->set_website_uri("ftp://x.y"); }},
      {"customer.contact.first_name",
       [](v1::Customer& c) { c.mutable_contact()->clear_first_name(); }},
      {"customer.contact.last_name",
       [](v1::Customer& c) { c.mutable_contact()->set_last_name(std::string(101, 'x')); }},
      {"customer.contact.work_email",
       [](v1::Customer& c) { c.mutable_contact()->set_work_email("not-an-email"); }},
      {"customer.contact.phone", [](v1::Customer& c) { c.mutable_contact()->set_phone("12"); }},
      {"customer.contact.job_title",
       [](v1::Customer& c) { c.mutable_contact()->set_job_title(std::string(101, 'x')); }},
      {"customer.management_type", [](v1::Customer& c) { c.clear_management_type(); }},
  };
  for (const auto& bad : cases) {
    auto customer = NewCustomer("Bad Input Inc");
    bad.spoil(customer);
    v1::Customer out;
    const auto status =
        client.Create("msps/bad-input", customer, &out, "bad-" + std::to_string(&bad - &cases[0]));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.field;
    const auto details = DetailsOf(status);
    EXPECT_EQ(details.reason, "INVALID_FIELDS") << bad.field;
    EXPECT_EQ(details.domain, "customer.msp.v1");
    EXPECT_EQ(details.fields, std::vector<std::string>{bad.field}) << bad.field;
  }
  // Malformed request fields outside the customer.
  v1::Customer out;
  auto status = client.Create("msps/Bad Input", NewCustomer(), &out);
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"parent"});
  status = client.Create("msps/bad-input", NewCustomer(), &out, "has spaces");
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"request_id"});
  status = client.Get("customers/abc", &out);
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"name"});
  status = client.Create("msps/bad-input",
                         NewCustomer("Free Mail", "boss@gmail.com", v1::JOINTLY_MANAGED), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).reason, "FREE_MAIL_DOMAIN_NOT_ALLOWED");
  v1::ListCustomersRequest list;
  list.set_parent("msps/bad-input");
  list.set_filter("state = SLEEPING");
  v1::ListCustomersResponse listed;
  EXPECT_EQ(DetailsOf(client.List(list, &listed)).fields, std::vector<std::string>{"filter"});
  list.clear_filter();
  list.set_order_by("phone");
  EXPECT_EQ(DetailsOf(client.List(list, &listed)).fields, std::vector<std::string>{"order_by"});
  list.clear_order_by();
  list.set_page_token("garbage");
  EXPECT_EQ(DetailsOf(client.List(list, &listed)).fields, std::vector<std::string>{"page_token"});

  EXPECT_EQ(CountCustomers("bad-input"), 0);
}

TEST(CustomerApi, EditingRules) {
  Client client(stack->MspToken("rules"));
  auto jointly = client.MustCreate(
      "rules", NewCustomer("Jointly AG", "it@jointly.example", v1::JOINTLY_MANAGED));
  EXPECT_EQ(jointly.state(), v1::ACTIVE);
  v1::Customer patch;
  patch.set_name(jointly.name());
  patch.mutable_contact()->set_first_name("Max");
  v1::Customer out;
  auto status = client.Update(patch, {"contact.first_name"}, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "CONTACT_MANAGED_BY_CUSTOMER");
  EXPECT_EQ(DetailsOf(status).preconditions,
            std::vector<std::string>{"CONTACT_MANAGED_BY_CUSTOMER"});
  // Company details of a jointly managed customer are the MSP's to edit.
  patch.mutable_company()->set_display_name("Jointly SE");
  ASSERT_TRUE(client.Update(patch, {"company.display_name"}, &out).ok());
  // Jointly -> fully does not exist.
  status = client.Update(patch, {"management_type"}, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  status = client.Upgrade(jointly.name(), &out);
  EXPECT_EQ(DetailsOf(status).reason, "ALREADY_JOINTLY_MANAGED");

  // No edits while a delink is requested (the onboarding service will set that state).
  Sql("UPDATE customer.customers SET state = 6 WHERE customer_id = $1", {jointly.customer_id()});
  status = client.Update(patch, {"company.display_name"}, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "CUSTOMER_DELINK_REQUESTED");

  // Fully managed on free mail: can't be upgraded until the email changes.
  auto fully = client.MustCreate("rules", NewCustomer("Fully GmbH", "chef@gmx.de"));
  status = client.Upgrade(fully.name(), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailsOf(status).reason, "FREE_MAIL_DOMAIN_NOT_ALLOWED");
  v1::Customer email_patch;
  email_patch.set_name(fully.name());
  email_patch.mutable_contact()->set_work_email("chef@fully.example");
  ASSERT_TRUE(client.Update(email_patch, {"contact.work_email"}, &out).ok());
  status = client.Upgrade(fully.name(), &out, "\"1\"");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ABORTED);  // stale etag
  status = client.Upgrade(fully.name(), &out, out.etag());
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(out.management_type(), v1::JOINTLY_MANAGED);
  // Jointly managed: its super admin has full access to the Knox portals, as when created so.
  EXPECT_FALSE(fully.super_admin_portal_access());
  EXPECT_TRUE(out.super_admin_portal_access());
  v1::Customer reread;
  ASSERT_TRUE(client.Get(fully.name(), &reread).ok());
  EXPECT_TRUE(reread.super_admin_portal_access());
  // Phone and job title are never the MSP's to change.
  status = client.Update(email_patch, {"contact.phone"}, &out);
  EXPECT_EQ(DetailsOf(status).reason, "INVALID_UPDATE_MASK");

  v1::ListCustomerEventsResponse events;
  ASSERT_TRUE(client.Events(fully.name(), &events).ok());
  ASSERT_EQ(events.events_size(), 3);
  EXPECT_EQ(events.events(0).action(), "UPGRADED_TO_JOINTLY_MANAGED");
  EXPECT_EQ(events.events(1).action(), "CUSTOMER_UPDATED");
  EXPECT_EQ(events.events(1).changed_fields(0), "contact.work_email");
  EXPECT_EQ(events.events(2).action(), "CUSTOMER_CREATED");
  EXPECT_EQ(events.events(2).actor(), "msp-admin:admin");
  // Paged one at a time, the same three.
  v1::ListCustomerEventsResponse page;
  ASSERT_TRUE(client.Events(fully.name(), &page, 2).ok());
  ASSERT_EQ(page.events_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  v1::ListCustomerEventsResponse rest;
  ASSERT_TRUE(client.Events(fully.name(), &rest, 2, page.next_page_token()).ok());
  ASSERT_EQ(rest.events_size(), 1);
  EXPECT_EQ(rest.events(0).action(), "CUSTOMER_CREATED");
}

TEST(CustomerApi, ListPagesFilterAndSearch) {
  Client client(stack->MspToken("lister"));
  for (int i = 0; i < 12; ++i) {
    client.MustCreate("lister", NewCustomer("Lister " + std::to_string(100 + i),
                                            "it@lister" + std::to_string(i) + ".example",
                                            i % 3 == 0 ? v1::JOINTLY_MANAGED : v1::FULLY_MANAGED));
  }
  v1::ListCustomersRequest request;
  request.set_parent("msps/lister");
  request.set_page_size(5);
  request.set_order_by("company_name desc");
  std::vector<std::string> names;
  for (int guard = 0; guard < 10; ++guard) {
    v1::ListCustomersResponse page;
    ASSERT_TRUE(client.List(request, &page).ok());
    for (const auto& c : page.customers()) names.push_back(c.company().display_name());
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  ASSERT_EQ(names.size(), 12u);
  EXPECT_EQ(names.front(), "Lister 111");
  EXPECT_EQ(names.back(), "Lister 100");

  v1::ListCustomersRequest filtered;
  filtered.set_parent("msps/lister");
  filtered.set_filter("management_type = JOINTLY_MANAGED AND state = ACTIVE");
  v1::ListCustomersResponse jointly;
  ASSERT_TRUE(client.List(filtered, &jointly).ok());
  EXPECT_EQ(jointly.customers_size(), 4);
  filtered.set_search("lister7.example");
  v1::ListCustomersResponse none;
  ASSERT_TRUE(client.List(filtered, &none).ok());
  EXPECT_EQ(none.customers_size(), 0);
  filtered.clear_filter();
  v1::ListCustomersResponse one;
  ASSERT_TRUE(client.List(filtered, &one).ok());
  ASSERT_EQ(one.customers_size(), 1);
  EXPECT_EQ(one.customers(0).company().display_name(), "Lister 107");
}

// Invalid UTF-8 never reached a handler: gRPC answered UNIMPLEMENTED (CreateCustomer, a
// callback handler) or INTERNAL (ListCustomers), without ErrorInfo. A search of NUL alone
// matched every customer. Tampered page tokens gave INTERNAL and a database error.
TEST(CustomerApi, MalformedTextAndForgedTokensAreInvalidArgumentNamingTheField) {
  Client client(stack->MspToken("malformed"));
  auto bad = NewCustomer("Malformed GmbH", "it@malformed.example");
  bad.mutable_company()->mutable_address()->set_city("Z\xfcrich");  // Latin-1, not UTF-8
  v1::Customer out;
  auto status = client.Create("msps/malformed", bad, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  auto details = DetailsOf(status);
  EXPECT_EQ(details.reason, "INVALID_UTF8");
  EXPECT_EQ(details.domain, "customer.msp.v1");
  EXPECT_EQ(details.fields, std::vector<std::string>{"customer.company.address.city"});
  EXPECT_EQ(CountCustomers("malformed"), 0);

  client.MustCreate("malformed", NewCustomer("Kept GmbH", "it@kept.example"));
  v1::ListCustomersRequest list;
  list.set_parent("msps/malformed");
  v1::ListCustomersResponse page;
  for (const std::string& search :
       {std::string("\xff"), std::string("\0", 1), std::string("a\x01")}) {
    list.set_search(search);
    status = client.List(list, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"search"});
  }
  list.clear_search();
  for (const std::string& token :
       {std::string("abc"), std::string("'"), std::string("CgZtYWxmb3JtZWQ")}) {
    list.set_page_token(token);
    status = client.List(list, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"page_token"}) << token;
  }
  // A cursor of the right shape for this query, written by the caller: a sort value that is
  // not a time, an overflowing number, a quote. It reached SQL (INTERNAL, a database error in
  // the log); it is refused now, its MAC not verifying.
  list.set_order_by("create_time desc");
  for (const std::string& sort_value :
       {std::string("abc"), std::string("99999999999999999999"), std::string("'")}) {
    v1::CustomerPageCursor forged;
    forged.set_msp_id("malformed");
    forged.set_order_by(list.order_by());
    forged.set_last_sort_value(sort_value);
    forged.set_last_customer_id("0123456789");
    std::string token;
    absl::WebSafeBase64Escape(forged.SerializeAsString(), &token);
    list.set_page_token(token);
    status = client.List(list, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << sort_value;
    EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"page_token"}) << sort_value;
  }
}

TEST(CustomerApi, EveryServiceServesHealthAndMetrics) {
  for (const char* name :
       {"customer", "service-assignment", "onboarding-invitation", "reporting"}) {
    auto stub = grpc::health::v1::Health::NewStub(stack->Channel(name));
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(stub->Check(&context, request, &response).ok()) << name;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
    EXPECT_NE(testing::ScrapeMetrics(stack->service(name).metrics_port).find("health_serving"),
              std::string::npos)
        << name;
  }
  const std::string metrics = testing::ScrapeMetrics(stack->service("customer").metrics_port);
  // go-grpc-prometheus' names and labels, so that the usual gRPC dashboards work.
  const auto has_series = [&](const std::string& name, std::vector<std::string> labels) {
    for (const auto line : absl::StrSplit(metrics, '\n')) {
      if (!absl::StartsWith(line, name + "{")) continue;
      if (std::all_of(labels.begin(), labels.end(),
                      [&](const std::string& l) { return absl::StrContains(line, l); })) {
        return true;
      }
    }
    return false;
  };
  const std::vector<std::string> create = {"grpc_method=\"CreateCustomer\"",
                                           "grpc_service=\"msp.customer.v1.CustomerService\"",
                                           "grpc_type=\"unary\""};
  auto handled_ok = create;
  handled_ok.push_back("grpc_code=\"OK\"");
  EXPECT_TRUE(has_series("grpc_server_handled_total", handled_ok)) << metrics.substr(0, 2000);
  EXPECT_TRUE(has_series("grpc_server_started_total", create));
  EXPECT_TRUE(has_series("grpc_server_handling_seconds_bucket", create));
  EXPECT_TRUE(has_series("msp_customers_created_total", {}));
  for (const char* name :
       {"customer", "service-assignment", "onboarding-invitation", "reporting"}) {
    const std::string own = testing::ScrapeMetrics(stack->service(name).metrics_port);
    for (const char* standard :
         {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
          "process_max_fds ", "process_start_time_seconds ", "msp_build_info{"}) {
      EXPECT_NE(own.find(standard), std::string::npos) << name << " has no " << standard;
    }
  }
  EXPECT_NE(metrics.find("grpc_code=\"Unauthenticated\""), std::string::npos);
  EXPECT_NE(metrics.find("grpc_server_handling_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics.find("db_pool_connections"), std::string::npos);
  EXPECT_NE(metrics.find("outbox_pending_messages"), std::string::npos);
  EXPECT_NE(metrics.find("outbox_oldest_pending_age_seconds"), std::string::npos);
}

// Every service's log is scanned when the stack stops (StackEnvironment); this checks the scan
// itself: nothing so far, and a line with an email, a token or the phone number is caught.
TEST(CustomerApi, LogsAreJsonAndHoldNoPersonalDataOrTokens) {
  EXPECT_EQ(stack->LogLeaks(), std::vector<std::string>{});
  const std::string path = stack->log_dir() + "/customer.log";
  const auto size = std::filesystem::file_size(path);
  for (const std::string planted :
       {R"({"msg":"planted","to":"erika@example.de"})",
        R"({"msg":"planted","phone":"+49301234567"})",
        R"({"msg":"planted","auth":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"})",
        R"({"msg":"planted","url":"/respond?token=6JvH4q4dZlW6msh5VRV6KH3E1F2mfnj3bD8ZXernaGM"})",
        "not json"}) {
    std::ofstream(path, std::ios::app) << planted << "\n";
    const auto leaks = stack->LogLeaks();
    EXPECT_EQ(leaks.size(), 1u) << planted;
    std::filesystem::resize_file(path, size);
  }
}

grpc::health::v1::HealthCheckResponse::ServingStatus CustomerHealth(
    const std::string& service = "msp.customer.v1.CustomerService") {
  auto health = grpc::health::v1::Health::NewStub(stack->Channel("customer"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  if (!health->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

bool WaitForHealth(grpc::health::v1::HealthCheckResponse::ServingStatus want) {
  for (int i = 0; i < 100; ++i) {
    if (CustomerHealth() == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The access-log lines ("msg":"call") of a service that carry a trace id.
std::vector<nlohmann::json> CallLines(const std::string& service, const std::string& trace_id) {
  return stack->LogLines(service, trace_id, "call");
}

// A caller's W3C traceparent is joined: the access log has a line per call with its trace id,
// the internal call it makes carries the trace on, and an error names the trace in its
// RequestInfo. Without a traceparent a call starts a trace of its own, named the same way.
TEST(CustomerApi, ATraceIsFollowedThroughTheLogsAndNamedInErrors) {
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string traceparent = "00-" + trace_id + "-00f067aa0ba902b7-01";
  auto stub = v1::CustomerService::NewStub(stack->Channel("customer"));
  const std::string token = stack->MspToken("tracing");
  Client client(token);
  const v1::Customer created =
      client.MustCreate("tracing", NewCustomer("Traced GmbH", "it@traced.example"));
  ASSERT_FALSE(created.customer_id().empty());

  // A list with services: the customer service asks the assignment service, in the same trace.
  {
    grpc::ClientContext context;
    Authorize(context, token);
    context.AddMetadata("traceparent", traceparent);
    v1::ListCustomersRequest request;
    request.set_parent("msps/tracing");
    request.set_view(v1::FULL);
    v1::ListCustomersResponse page;
    ASSERT_TRUE(stub->ListCustomers(&context, request, &page).ok());
    ASSERT_EQ(page.customers_size(), 1);
  }
  const auto listed = CallLines("customer", trace_id);
  ASSERT_EQ(listed.size(), 1u) << "no access-log line with the caller's trace id";
  EXPECT_EQ(listed[0]["method"], "/msp.customer.v1.CustomerService/ListCustomers");
  EXPECT_EQ(listed[0]["code"], "OK");
  EXPECT_EQ(listed[0]["tenant"], "tracing");
  EXPECT_EQ(listed[0]["parent_span_id"], "00f067aa0ba902b7");
  EXPECT_TRUE(listed[0].contains("duration_ms"));
  const auto batch = CallLines("service-assignment", trace_id);
  ASSERT_EQ(batch.size(), 1u) << "the internal call did not carry the trace";
  EXPECT_EQ(batch[0]["method"],
            "/msp.assignment.v1.ServiceAssignmentService/BatchGetCustomerServices");
  // Its parent is the customer service's span for the list.
  EXPECT_EQ(batch[0]["parent_span_id"], listed[0]["span_id"]);

  // An error names its trace, with or without a traceparent from the caller.
  v1::GetCustomerRequest missing;
  missing.set_name("msps/tracing/customers/0000000000");
  v1::Customer none;
  {
    grpc::ClientContext context;
    Authorize(context, token);
    context.AddMetadata("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const auto status = stub->GetCustomer(&context, missing, &none);
    ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(testing::DetailsOf(status).request_id, "0af7651916cd43dd8448eb211c80319c");
    const auto lines = CallLines("customer", "0af7651916cd43dd8448eb211c80319c");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["code"], "NOT_FOUND");
    EXPECT_EQ(lines[0]["reason"], "RESOURCE_NOT_FOUND");
  }
  {
    grpc::ClientContext context;
    Authorize(context, token);
    const auto status = stub->GetCustomer(&context, missing, &none);
    const std::string own = testing::DetailsOf(status).request_id;
    ASSERT_EQ(own.size(), 32u);
    EXPECT_EQ(CallLines("customer", own).size(), 1u);
  }
}

// Two admins update the same customer from the same read: exactly one wins, the other learns
// that the customer changed (ABORTED), and the loser's value is not silently written.
TEST(CustomerApi, ConcurrentUpdatesWithTheSameEtagLetOneWin) {
  Client client(stack->MspToken("etag"));
  auto customer = client.MustCreate("etag", NewCustomer("Etag Race"));
  std::vector<grpc::Status> results(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Client c(stack->MspToken("etag"));
      v1::Customer patch;
      patch.set_name(customer.name());
      patch.mutable_company()->set_display_name("Winner " + std::to_string(i));
      v1::Customer out;
      results[i] = c.Update(patch, {"company.display_name"}, &out, customer.etag());
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, aborted = 0, winner = -1;
  for (int i = 0; i < 8; ++i) {
    if (results[i].ok()) {
      ++ok;
      winner = i;
    }
    aborted += results[i].error_code() == grpc::StatusCode::ABORTED ? 1 : 0;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(aborted, 7);
  v1::Customer after;
  ASSERT_TRUE(client.Get(customer.name(), &after).ok());
  EXPECT_EQ(after.company().display_name(), "Winner " + std::to_string(winner));
  v1::ListCustomerEventsResponse events;
  ASSERT_TRUE(client.Events(customer.name(), &events).ok());
  EXPECT_EQ(events.events_size(), 2);  // created, one update
}

// kill -9 of the customer service while creates are in flight: every client retries with its
// request id until it gets an answer. Afterwards each request made exactly one customer: none
// lost, none twice, and each answer is the customer that exists.
TEST(CustomerApiZOutage, KilledMidLoadRetriesConvergeWithoutDuplicates) {
  constexpr int kClients = 4;
  constexpr int kRequestsEach = 100;
  std::atomic<int> acknowledged{0};
  std::vector<std::map<std::string, std::string>> answers(kClients);  // request id -> customer id
  std::atomic<int> failed_attempts{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      for (int n = 0; n < kRequestsEach; ++n) {
        const std::string request_id = "crash-" + std::to_string(t) + "-" + std::to_string(n);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
          Client c(stack->MspToken("crash"));
          v1::Customer out;
          auto status =
              c.Create("msps/crash", NewCustomer("Crash " + request_id), &out, request_id);
          if (status.ok()) {
            answers[t][request_id] = out.customer_id();
            ++acknowledged;
            break;
          }
          ++failed_attempts;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  std::thread killer([&] {
    while (acknowledged.load() < kClients * kRequestsEach / 4) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stack->StopService("customer", SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stack->StartService("customer");
  });
  for (auto& c : clients) c.join();
  killer.join();

  std::set<std::string> ids;
  int answered = 0;
  for (const auto& per_client : answers) {
    for (const auto& [request_id, customer_id] : per_client) {
      ++answered;
      ids.insert(customer_id);
    }
  }
  EXPECT_EQ(answered, kClients * kRequestsEach) << "some requests never got an answer";
  EXPECT_EQ(ids.size(), static_cast<size_t>(answered)) << "two requests answered with one customer";
  EXPECT_EQ(CountCustomers("crash"), kClients * kRequestsEach) << "lost or duplicated customers";
  pg::Connection conn(stack->database_url(), 5000);
  EXPECT_EQ(
      conn.Exec(
              "SELECT count(DISTINCT company_name) FROM customer.customers WHERE msp_id = 'crash'")
          .Int64(0, 0),
      kClients * kRequestsEach);
  for (const auto& id : ids) {
    EXPECT_EQ(conn.Exec("SELECT count(*) FROM customer.customers WHERE customer_id = $1", {id})
                  .Int64(0, 0),
              1);
  }
  std::cerr << "crash test: " << failed_attempts.load()
            << " attempts failed while the service was down\n";
}

// Runs after the others: it takes the database away and brings it back.
TEST(CustomerApiZOutage, HealthFollowsTheDatabaseAndCallsFailCleanly) {
  Client client(stack->MspToken("outage"));
  auto customer = client.MustCreate("outage", NewCustomer("Outage Co"));
  stack->postgres().Stop();
  EXPECT_TRUE(WaitForHealth(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  // Not ready, but alive: a liveness probe must not restart it for the database's outage.
  EXPECT_EQ(CustomerHealth(kLivenessHealthService), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(CustomerHealth(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  v1::Customer out;
  auto status = client.Get(customer.name(), &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(DetailsOf(status).reason, "DATABASE_UNAVAILABLE");
  stack->postgres().Start();
  EXPECT_TRUE(WaitForHealth(grpc::health::v1::HealthCheckResponse::SERVING));
  status = client.Get(customer.name(), &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// SIGTERM: health turns NOT_SERVING first, the call in flight still completes, the process
// exits 0. The service runs with a shutdown delay, as in Kubernetes, so that NOT_SERVING is
// visible before the drain begins.
TEST(CustomerApiZOutage, SigtermDrainsInFlightCalls) {
  ASSERT_EQ(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer", {"--shutdown_delay_ms=1500", "--drain_timeout_ms=20000"});
  Client client(stack->MspToken("drain"));
  auto customer = client.MustCreate("drain", NewCustomer("Drain Co"));
  // Hold the customer's row lock so that an update is in flight for as long as we like
  // (well under the service's 5 s statement timeout).
  pg::Connection locker(stack->database_url(), 10000);
  locker.Exec("BEGIN");
  locker.Exec("SELECT 1 FROM customer.customers WHERE customer_id = $1 FOR UPDATE",
              {customer.customer_id()});
  std::atomic<bool> done{false};
  grpc::Status update_status;
  std::thread in_flight([&] {
    Client c(stack->MspToken("drain"));
    v1::Customer patch;
    patch.set_name(customer.name());
    patch.mutable_company()->set_display_name("Drained");
    v1::Customer out;
    update_status = c.Update(patch, {"company.display_name"}, &out);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done.load()) << "the update did not wait for the row lock";
  const auto sigterm_at = std::chrono::steady_clock::now();
  kill(stack->service("customer").process->pid(), SIGTERM);
  bool saw_not_serving = false;
  while (!saw_not_serving &&
         std::chrono::steady_clock::now() - sigterm_at < std::chrono::milliseconds(1400)) {
    saw_not_serving = CustomerHealth() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!saw_not_serving) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(saw_not_serving);
  // Past the shutdown delay: the server is draining, and the update must still be waiting.
  std::this_thread::sleep_until(sigterm_at + std::chrono::milliseconds(1800));
  EXPECT_FALSE(done.load()) << "the in-flight call was cut";
  locker.Exec("COMMIT");
  in_flight.join();
  EXPECT_TRUE(update_status.ok()) << update_status.error_message();
  EXPECT_EQ(stack->service("customer").process->Wait(std::chrono::seconds(15)), 0);
  stack->StartService("customer");
  v1::Customer after;
  ASSERT_TRUE(client.Get(customer.name(), &after).ok());
  EXPECT_EQ(after.company().display_name(), "Drained");
  if (::testing::Test::HasFailure()) {
    std::ifstream log(stack->log_dir() + "/customer.log");
    std::cerr << "customer.log:\n" << log.rdbuf();
  }
}

// The link with an MSP, as the onboarding service drives it: an existing Knox customer is
// invited, accepts, is delinked; each transition starts only where its rule allows, and a
// repeat with the same link id is answered, not applied twice.
TEST(CustomerApi, TransitionsFollowTheLinkRules) {
  auto stub = v1::CustomerService::NewStub(stack->Channel("customer"));
  const std::string service = stack->ServiceToken(identity::kOnboardingInvitation);
  v1::Customer knox;
  {
    grpc::ClientContext context;
    Authorize(context, stack->ServiceToken(identity::kKnoxAccounts));
    v1::CreateKnoxCustomerRequest r;
    *r.mutable_customer() = NewCustomer("Existing Knox AG", "admin@existing.example");
    r.set_request_id("knox-seed-1");
    ASSERT_TRUE(stub->CreateKnoxCustomer(&context, r, &knox).ok());
  }
  EXPECT_EQ(knox.name(), "msps/-/customers/" + knox.customer_id());
  EXPECT_EQ(knox.management_type(), v1::MANAGEMENT_TYPE_UNSPECIFIED);
  EXPECT_FALSE(knox.has_msp_link_time());
  EXPECT_TRUE(knox.super_admin_portal_access());

  auto transition = [&](const std::string& msp, v1::LinkTransition t, const std::string& link,
                        v1::ManagementType type, v1::Customer* out) {
    grpc::ClientContext context;
    Authorize(context, service);
    v1::TransitionCustomerRequest r;
    r.set_customer_id(knox.customer_id());
    r.set_msp_id(msp);
    r.set_transition(t);
    r.set_link_id(link);
    r.set_management_type(type);
    return stub->TransitionCustomer(&context, r, out);
  };
  auto reason = [](const grpc::Status& status) { return DetailsOf(status).reason; };
  v1::Customer out;
  // Nobody manages it: no MSP sees it.
  Client link_msp(stack->MspToken("link-msp"));
  EXPECT_EQ(link_msp.Get("msps/link-msp/customers/" + knox.customer_id(), &out).error_code(),
            grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(transition("link-msp", v1::INVITE, "inv-1", v1::FULLY_MANAGED, &out).ok());
  EXPECT_EQ(out.state(), v1::PENDING);
  EXPECT_EQ(out.name(), "msps/link-msp/customers/" + knox.customer_id());
  // The MSP sees it PENDING with the contact's name only (no email before consent); it can't
  // edit it.
  ASSERT_TRUE(link_msp.Get(out.name(), &out).ok());
  EXPECT_EQ(out.state(), v1::PENDING);
  EXPECT_EQ(out.contact().work_email(), "");
  EXPECT_FALSE(out.contact().last_name().empty());
  v1::Customer patch = out;
  patch.mutable_company()->set_display_name("Changed");
  EXPECT_EQ(reason(link_msp.Update(patch, {"company.display_name"}, &patch)),
            "CUSTOMER_NOT_ACTIVE");
  // A second MSP can't invite it meanwhile, and is not told who did.
  auto other = transition("other-msp", v1::INVITE, "inv-2", v1::FULLY_MANAGED, &out);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(reason(other), "CUSTOMER_HAS_PENDING_INVITATION");
  EXPECT_EQ(other.error_message().find("link-msp"), std::string::npos);
  // The same invite again is answered as done.
  ASSERT_TRUE(transition("link-msp", v1::INVITE, "inv-1", v1::FULLY_MANAGED, &out).ok());
  // Accepting another invitation id is refused; this one works, twice.
  EXPECT_EQ(reason(transition("link-msp", v1::ACCEPT_INVITATION, "inv-x", v1::FULLY_MANAGED, &out)),
            "INVITATION_NOT_PENDING");
  ASSERT_TRUE(transition("link-msp", v1::ACCEPT_INVITATION, "inv-1", v1::FULLY_MANAGED, &out).ok());
  EXPECT_EQ(out.state(), v1::ACTIVE);
  EXPECT_EQ(out.management_type(), v1::FULLY_MANAGED);
  EXPECT_TRUE(out.has_msp_link_time());
  EXPECT_FALSE(out.super_admin_portal_access()) << "fully managed: no portal for the customer";
  const auto etag = out.etag();
  ASSERT_TRUE(transition("link-msp", v1::ACCEPT_INVITATION, "inv-1", v1::FULLY_MANAGED, &out).ok());
  EXPECT_EQ(out.etag(), etag) << "a repeat changes nothing";
  // Managed now: others can't invite; a fully managed customer can't be delinked.
  EXPECT_EQ(reason(transition("other-msp", v1::INVITE, "inv-3", v1::FULLY_MANAGED, &out)),
            "CUSTOMER_ALREADY_MANAGED");
  EXPECT_EQ(reason(transition("link-msp", v1::REQUEST_DELINK, "del-1",
                              v1::MANAGEMENT_TYPE_UNSPECIFIED, &out)),
            "DELINK_ONLY_JOINTLY_MANAGED");
  ASSERT_TRUE(link_msp.Upgrade("msps/link-msp/customers/" + knox.customer_id(), &out).ok());
  ASSERT_TRUE(
      transition("link-msp", v1::REQUEST_DELINK, "del-1", v1::MANAGEMENT_TYPE_UNSPECIFIED, &out)
          .ok());
  EXPECT_EQ(out.state(), v1::DELINK_REQUESTED);
  ASSERT_TRUE(
      transition("link-msp", v1::ACCEPT_DELINK, "del-1", v1::MANAGEMENT_TYPE_UNSPECIFIED, &out)
          .ok());
  EXPECT_EQ(out.state(), v1::DELINKED);
  EXPECT_TRUE(out.super_admin_portal_access());
  // Delinked: an existing Knox customer again, which another MSP may invite.
  ASSERT_TRUE(transition("other-msp", v1::INVITE, "inv-4", v1::JOINTLY_MANAGED, &out).ok());
  EXPECT_EQ(out.name(), "msps/other-msp/customers/" + knox.customer_id());
  // The audit trail has every step.
  v1::ListCustomerEventsResponse events;
  Client other_msp(stack->MspToken("other-msp"));
  ASSERT_TRUE(other_msp.Events(out.name(), &events).ok());
  std::vector<std::string> actions;
  for (const auto& e : events.events()) actions.push_back(e.action());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "INVITED"), actions.end());
}

}  // namespace
}  // namespace msp::customer
