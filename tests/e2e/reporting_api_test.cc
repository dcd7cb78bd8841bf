// The reporting service end to end: customers written through the customer, assignment and
// onboarding services reach reporting's read model over the Redis change stream; the table,
// preferences, details and CSV export read it. Real binaries, PostgreSQL and redis-server.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/identities.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "stack.h"
#include "status_details.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Authorize;
using testing::Call;
using testing::DetailsOf;
using testing::Stack;
namespace av1 = assignment::v1;
namespace cv1 = customer::v1;
namespace ov1 = onboarding::v1;
namespace rv1 = reporting::v1;
using RS = rv1::ReportingService::Stub;

Stack* stack = nullptr;

const auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(&stack));

std::unique_ptr<RS> Reporting() {
  return rv1::ReportingService::NewStub(stack->Channel("reporting"));
}

// A fresh email domain per customer: Knox Manage tenant ids are unique across all tests.
std::string FreshDomain() {
  static std::atomic<int> n{0};
  return absl::StrCat("rep", n.fetch_add(1), "-", ::getpid(), ".example");
}

cv1::Customer CreateCustomer(const std::string& msp, const std::string& company,
                             const std::vector<av1::KnoxService>& services = {},
                             cv1::ManagementType type = cv1::FULLY_MANAGED) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest request;
  request.set_parent("msps/" + msp);
  *request.mutable_customer() =
      customer::testdata::ValidCustomer(company, "it@" + FreshDomain(), type);
  for (auto s : services) request.add_services(s);
  cv1::Customer out;
  const auto status =
      Call(&cv1::CustomerService::Stub::CreateCustomer, *stub, stack->MspToken(msp), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

cv1::Customer GetCustomer(const std::string& msp, const std::string& name) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::GetCustomerRequest request;
  request.set_name(name);
  cv1::Customer out;
  const auto status =
      Call(&cv1::CustomerService::Stub::GetCustomer, *stub, stack->MspToken(msp), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

void Rename(const std::string& msp, const cv1::Customer& customer, const std::string& company) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::UpdateCustomerRequest request;
  request.mutable_customer()->set_name(customer.name());
  request.mutable_customer()->mutable_company()->set_display_name(company);
  request.mutable_update_mask()->add_paths("company.display_name");
  cv1::Customer out;
  const auto status =
      Call(&cv1::CustomerService::Stub::UpdateCustomer, *stub, stack->MspToken(msp), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// Device counts as a Knox backend reports them.
void ReportDevices(const cv1::Customer& customer, av1::KnoxService service, int64_t devices,
                   int64_t attention = 0) {
  static std::atomic<int64_t> observed{1700000000};
  auto stub = av1::ServiceAssignmentService::NewStub(stack->Channel("service-assignment"));
  av1::ReportDeviceCountsRequest request;
  auto* r = request.add_reports();
  r->set_customer_id(customer.customer_id());
  r->set_service(service);
  r->set_device_count(devices);
  r->set_devices_needing_attention(attention);
  r->mutable_observe_time()->set_seconds(observed.fetch_add(1));
  av1::ReportDeviceCountsResponse out;
  const auto status =
      Call(&av1::ServiceAssignmentService::Stub::ReportDeviceCounts, *stub,
           stack->ServiceToken(std::string(identity::KnoxBackend(service))), request, &out);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(out.results(0), av1::ReportDeviceCountsResponse::APPLIED);
}

grpc::Status Query(const std::string& token, const rv1::QueryCustomerTableRequest& request,
                   rv1::QueryCustomerTableResponse* out) {
  auto stub = Reporting();
  return Call(&RS::QueryCustomerTable, *stub, token, request, out);
}

// Every row of the MSP's table (all pages), in order.
std::vector<rv1::TableRow> AllRows(const std::string& msp, rv1::QueryCustomerTableRequest request) {
  request.set_parent("msps/" + msp);
  std::vector<rv1::TableRow> rows;
  while (true) {
    rv1::QueryCustomerTableResponse page;
    const auto status = Query(stack->MspToken(msp), request, &page);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) return rows;
    rows.insert(rows.end(), page.rows().begin(), page.rows().end());
    if (page.next_page_token().empty()) return rows;
    request.set_page_token(page.next_page_token());
  }
}

// Polls until `done` holds (the read model follows its sources within milliseconds; 20 s is
// for a loaded machine).
bool WaitUntil(const std::function<bool()>& done,
               std::chrono::seconds timeout = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::map<std::string, rv1::TableRow> RowsById(const std::string& msp,
                                              const std::vector<rv1::Column>& columns = {
                                                  rv1::NAME, rv1::SERVICE_STATUS, rv1::CUSTOMER_ID,
                                                  rv1::MANAGEMENT_TYPE, rv1::TOTAL_DEVICES,
                                                  rv1::MODIFIED, rv1::CREATED, rv1::MSP_LINKED}) {
  rv1::QueryCustomerTableRequest request;
  for (auto c : columns) request.add_columns(c);
  std::map<std::string, rv1::TableRow> out;
  for (auto& row : AllRows(msp, request)) {
    out[row.customer().substr(row.customer().rfind('/') + 1)] = row;
  }
  return out;
}

// The MSP's export as one string. `token`: whose call it is (default the MSP's admin; "" for
// none).
std::string Export(const std::string& msp, const std::string& filter = "",
                   grpc::Status* status_out = nullptr, const std::string* token = nullptr) {
  auto stub = Reporting();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const std::string bearer = token != nullptr ? *token : stack->MspToken(msp);
  if (!bearer.empty()) Authorize(context, bearer);
  rv1::ExportCustomersCsvRequest request;
  request.set_parent("msps/" + msp);
  request.set_filter(filter);
  auto reader = stub->ExportCustomersCsv(&context, request);
  std::string csv;
  rv1::CsvChunk chunk;
  while (reader->Read(&chunk)) csv += chunk.data();
  const auto status = reader->Finish();
  if (status_out != nullptr) {
    *status_out = status;
  } else {
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  return csv;
}

std::string Iso(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

TEST(Reporting, TheTableShowsEachCustomerWithItsServicesAndDevices) {
  const auto alpha =
      CreateCustomer("tbl1", "Alpha Widgets", {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE});
  const auto beta = CreateCustomer("tbl1", "Beta Tools", {}, cv1::JOINTLY_MANAGED);
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("tbl1");
    return rows.size() == 2 && rows[alpha.customer_id()].services_size() == 2 &&
           rows[alpha.customer_id()].services(0).state() == av1::AssignedService::ACTIVE &&
           rows[alpha.customer_id()].services(1).state() == av1::AssignedService::ACTIVE;
  }));
  ReportDevices(alpha, av1::KNOX_MOBILE_ENROLLMENT, 10, 2);
  ReportDevices(alpha, av1::KNOX_MANAGE, 3);
  ASSERT_TRUE(
      WaitUntil([&] { return RowsById("tbl1")[alpha.customer_id()].total_devices() == 10; }));
  ASSERT_TRUE(
      WaitUntil([&] { return RowsById("tbl1")[alpha.customer_id()].knox_manage_devices() == 3; }));

  // The default columns, in the domain's order, and only those fields.
  rv1::QueryCustomerTableRequest request;
  request.set_parent("msps/tbl1");
  rv1::QueryCustomerTableResponse page;
  ASSERT_TRUE(Query(stack->MspToken("tbl1"), request, &page).ok());
  EXPECT_EQ(std::vector<int>(page.columns().begin(), page.columns().end()),
            (std::vector<int>{rv1::NAME, rv1::SERVICE_STATUS, rv1::CUSTOMER_ID,
                              rv1::MANAGEMENT_TYPE, rv1::TOTAL_DEVICES, rv1::MODIFIED}));
  ASSERT_EQ(page.rows_size(), 2);
  const auto& first = page.rows(0);  // by name: Alpha first
  EXPECT_EQ(first.customer(), alpha.name());
  EXPECT_EQ(first.state(), cv1::ACTIVE);
  EXPECT_EQ(first.company_name(), "Alpha Widgets");
  EXPECT_EQ(first.customer_id(), alpha.customer_id());
  EXPECT_EQ(first.management_type(), cv1::FULLY_MANAGED);
  EXPECT_EQ(first.total_devices(), 10);
  EXPECT_EQ(first.knox_manage_devices(), 3);
  ASSERT_EQ(first.services_size(), 2);
  EXPECT_EQ(first.services(0).service(), av1::KNOX_MOBILE_ENROLLMENT);
  EXPECT_EQ(first.services(0).devices_needing_attention(), 2);
  EXPECT_TRUE(first.has_update_time());
  EXPECT_FALSE(first.has_create_time());  // Created is not a default column
  const auto& second = page.rows(1);
  EXPECT_EQ(second.management_type(), cv1::JOINTLY_MANAGED);
  EXPECT_EQ(second.total_devices(), 0);
  EXPECT_FALSE(second.has_knox_manage_devices());  // no Knox Manage: "-" in the export
  EXPECT_EQ(second.services_size(), 0);
  // The modified time is the account's.
  EXPECT_EQ(second.update_time().seconds(),
            GetCustomer("tbl1", beta.name()).update_time().seconds());
}

// A create's W3C trace is followed through the logs of every service it reaches: the create's
// access-log line, the relay's delivery of its outbox message and the batch call it makes, the
// assignment of its services (an item of that call), and the read model applying the account's
// and the services' change events (carried by the outbox and the change stream), each line
// naming the span it continues.
TEST(Reporting, ATraceFollowsACreateThroughItsServicesIntoTheTable) {
  const std::string trace_id = "5e2c1d0f9a8b47c6b3a2918d7e6f5a4b";
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest request;
  request.set_parent("msps/trace");
  *request.mutable_customer() =
      customer::testdata::ValidCustomer("Traced Widgets", "it@" + FreshDomain());
  for (auto s : {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE, av1::KNOX_GUARD}) {
    request.add_services(s);
  }
  cv1::Customer created;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    Authorize(context, stack->MspToken("trace"));
    context.AddMetadata("traceparent", "00-" + trace_id + "-a1b2c3d4e5f60718-01");
    ASSERT_TRUE(stub->CreateCustomer(&context, request, &created).ok());
  }
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("trace");
    const auto& row = rows[created.customer_id()];
    return row.services_size() == 3 &&
           std::all_of(row.services().begin(), row.services().end(), [](const auto& service) {
             return service.state() == av1::AssignedService::ACTIVE;
           });
  }));

  // A service's lines of the trace with message `msg` (and `key` = `value`, when given), once
  // there is one: each is written when its step ends, which the table may show a moment before.
  auto lines_of = [&](const std::string& service, const std::string& msg,
                      const std::string& key = "", const std::string& value = "") {
    std::vector<nlohmann::json> found;
    WaitUntil([&] {
      found.clear();
      for (auto& line : stack->LogLines(service, trace_id, msg)) {
        if (key.empty() || line.value(key, "") == value) found.push_back(std::move(line));
      }
      return !found.empty();
    });
    return found;
  };
  const auto create = lines_of("customer", "call");
  ASSERT_EQ(create.size(), 1u) << "no access-log line of the create in its trace";
  EXPECT_EQ(create[0]["method"], "/msp.customer.v1.CustomerService/CreateCustomer");
  EXPECT_EQ(create[0]["parent_span_id"], "a1b2c3d4e5f60718");
  const std::string create_span = create[0]["span_id"];

  // The customer service's relay delivers the create's message in the create's trace (a batch
  // is one MSP's and one admin's: this message alone), and its call carries it on. (The
  // change-event relay delivers the customer-changed message in the trace too.)
  const auto delivered =
      lines_of("customer", "outbox messages delivered", "topic", "assign-services");
  ASSERT_EQ(delivered.size(), 1u) << "the outbox message did not carry the create's trace";
  EXPECT_EQ(delivered[0]["parent_span_id"], create_span);
  EXPECT_EQ(delivered[0]["failed"], 0);
  const auto batch_call = lines_of("service-assignment", "call");
  ASSERT_EQ(batch_call.size(), 1u);
  EXPECT_EQ(batch_call[0]["method"],
            "/msp.assignment.v1.ServiceAssignmentService/BatchAssignServices");
  EXPECT_EQ(batch_call[0]["parent_span_id"], delivered[0]["span_id"]);

  // Each request of the batch continues its own create's trace.
  const auto assigned = lines_of("service-assignment", "services assigned");
  ASSERT_EQ(assigned.size(), 1u) << "the assignment did not continue the create's trace";
  EXPECT_EQ(assigned[0]["parent_span_id"], create_span);
  EXPECT_EQ(assigned[0]["customer"], created.name());
  EXPECT_EQ(assigned[0]["added"].size(), 3u);
  const std::string assign_span = assigned[0]["span_id"];

  // The read model applies the account's event in the create's span, the services' in the
  // assignment's.
  const auto account = lines_of("reporting", "change event applied", "event", "CustomerChanged");
  ASSERT_FALSE(account.empty())
      << "the account's change event did not carry the create's trace into the read model";
  EXPECT_EQ(account[0]["parent_span_id"], create_span);
  EXPECT_EQ(account[0]["customer"], created.name());
  const auto services =
      lines_of("reporting", "change event applied", "event", "CustomerServicesChanged");
  ASSERT_FALSE(services.empty())
      << "the services' change event did not carry the assignment's trace into the read model";
  EXPECT_EQ(services[0]["parent_span_id"], assign_span);
  EXPECT_EQ(services[0]["customer"], created.name());
}

TEST(Reporting, ColumnsComeFromTheRequestThenTheAdminsPreferenceThenTheDefaults) {
  const auto c = CreateCustomer("tbl2", "Columns Co");
  ASSERT_TRUE(WaitUntil([&] { return RowsById("tbl2").size() == 1; }));
  auto stub = Reporting();
  const std::string alice = stack->MspToken("tbl2", "alice");
  const std::string bob = stack->MspToken("tbl2", "bob");

  rv1::GetTablePreferencesRequest get;
  get.set_name("msps/tbl2/admins/alice/tablePreferences");
  rv1::TablePreferences prefs;
  ASSERT_TRUE(Call(&RS::GetTablePreferences, *stub, alice, get, &prefs).ok());
  EXPECT_EQ(prefs.columns_size(), 6);  // none chosen: the defaults

  rv1::UpdateTablePreferencesRequest update;
  update.mutable_preferences()->set_name("msps/tbl2/admins/alice/tablePreferences");
  update.mutable_preferences()->add_columns(rv1::CREATED);
  update.mutable_preferences()->add_columns(rv1::NAME);
  ASSERT_TRUE(Call(&RS::UpdateTablePreferences, *stub, alice, update, &prefs).ok());
  ASSERT_TRUE(Call(&RS::GetTablePreferences, *stub, alice, get, &prefs).ok());
  EXPECT_EQ(std::vector<int>(prefs.columns().begin(), prefs.columns().end()),
            (std::vector<int>{rv1::CREATED, rv1::NAME}));

  rv1::QueryCustomerTableRequest request;
  request.set_parent("msps/tbl2");
  rv1::QueryCustomerTableResponse page;
  ASSERT_TRUE(Query(alice, request, &page).ok());
  EXPECT_EQ(std::vector<int>(page.columns().begin(), page.columns().end()),
            (std::vector<int>{rv1::CREATED, rv1::NAME}));
  ASSERT_EQ(page.rows_size(), 1);
  EXPECT_TRUE(page.rows(0).has_create_time());
  EXPECT_TRUE(page.rows(0).has_company_name());
  EXPECT_FALSE(page.rows(0).has_customer_id());
  EXPECT_FALSE(page.rows(0).has_total_devices());
  EXPECT_EQ(page.rows(0).customer(), c.name());  // always there

  // Bob's table is his own: the defaults.
  ASSERT_TRUE(Query(bob, request, &page).ok());
  EXPECT_EQ(page.columns_size(), 6);
  // Columns in the request win over the preference.
  request.add_columns(rv1::CUSTOMER_ID);
  ASSERT_TRUE(Query(alice, request, &page).ok());
  EXPECT_EQ(page.columns_size(), 1);
  EXPECT_EQ(page.rows(0).customer_id(), c.customer_id());
  EXPECT_FALSE(page.rows(0).has_company_name());

  // An admin reads and sets only its own preferences; another MSP's are not there for it.
  EXPECT_EQ(Call(&RS::GetTablePreferences, *stub, bob, get, &prefs).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call(&RS::UpdateTablePreferences, *stub, bob, update, &prefs).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call(&RS::GetTablePreferences, *stub, stack->MspToken("other", "alice"), get, &prefs)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  // An unknown or repeated column is named; nothing changes.
  update.mutable_preferences()->add_columns(static_cast<rv1::Column>(99));
  update.mutable_preferences()->add_columns(rv1::NAME);
  const auto bad = Call(&RS::UpdateTablePreferences, *stub, alice, update, &prefs);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const auto details = DetailsOf(bad);
  std::set<std::string> fields(details.fields.begin(), details.fields.end());
  EXPECT_EQ(fields, (std::set<std::string>{"preferences.columns[2]", "preferences.columns[3]"}));
  ASSERT_TRUE(Call(&RS::GetTablePreferences, *stub, alice, get, &prefs).ok());
  EXPECT_EQ(prefs.columns_size(), 2);
  // No columns: back to the defaults.
  update.mutable_preferences()->clear_columns();
  ASSERT_TRUE(Call(&RS::UpdateTablePreferences, *stub, alice, update, &prefs).ok());
  EXPECT_EQ(prefs.columns_size(), 6);
}

TEST(Reporting, EveryColumnOrdersAndFilterAndSearchNarrow) {
  const auto a = CreateCustomer("tbl3", "Anvil Corp", {av1::KNOX_GUARD});
  const auto b = CreateCustomer("tbl3", "bolt ltd", {av1::KNOX_MOBILE_ENROLLMENT});
  const auto c = CreateCustomer("tbl3", "Crane SA", {}, cv1::JOINTLY_MANAGED);
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("tbl3");
    return rows.size() == 3 && rows[a.customer_id()].services_size() == 1 &&
           rows[a.customer_id()].services(0).state() == av1::AssignedService::ACTIVE &&
           rows[b.customer_id()].services_size() == 1 &&
           rows[b.customer_id()].services(0).state() == av1::AssignedService::ACTIVE;
  }));
  ReportDevices(b, av1::KNOX_MOBILE_ENROLLMENT, 500);
  ReportDevices(a, av1::KNOX_GUARD, 20);
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("tbl3");
    return rows[b.customer_id()].total_devices() == 500 &&
           rows[a.customer_id()].total_devices() == 20;
  }));
  auto names = [](const std::string& order_by, const std::string& filter = "",
                  const std::string& search = "") {
    rv1::QueryCustomerTableRequest request;
    request.set_order_by(order_by);
    request.set_filter(filter);
    request.set_search(search);
    request.set_page_size(2);  // pages too
    std::vector<std::string> out;
    for (const auto& row : AllRows("tbl3", request)) out.push_back(row.company_name());
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(""), (V{"Anvil Corp", "bolt ltd", "Crane SA"}));  // case-insensitive
  EXPECT_EQ(names("name desc"), (V{"Crane SA", "bolt ltd", "Anvil Corp"}));
  EXPECT_EQ(names("total_devices desc"), (V{"bolt ltd", "Anvil Corp", "Crane SA"}));
  EXPECT_EQ(names("total_devices"), (V{"Crane SA", "Anvil Corp", "bolt ltd"}));
  EXPECT_EQ(names("created"), (V{"Anvil Corp", "bolt ltd", "Crane SA"}));
  EXPECT_EQ(names("management_type desc").front(), "Crane SA");
  // Service/Status sorts by the services' ids: none, knox-guard, knox-mobile-enrollment.
  EXPECT_EQ(names("service_status"), (V{"Crane SA", "Anvil Corp", "bolt ltd"}));
  for (const char* order : {"customer_id", "modified desc", "msp_linked", "created desc"}) {
    EXPECT_EQ(names(order).size(), 3u) << order;
  }
  EXPECT_EQ(names("", "service = KNOX_GUARD"), (V{"Anvil Corp"}));
  EXPECT_EQ(names("", "(service = KNOX_GUARD OR service = KNOX_MOBILE_ENROLLMENT)"),
            (V{"Anvil Corp", "bolt ltd"}));
  EXPECT_EQ(names("", "management_type = JOINTLY_MANAGED"), (V{"Crane SA"}));
  EXPECT_EQ(names("", "state = PENDING"), V{});
  EXPECT_EQ(names("", "state = ACTIVE AND state = PENDING"), V{});
  EXPECT_EQ(names("", "", "CRANE"), (V{"Crane SA"}));                   // name
  EXPECT_EQ(names("", "", b.customer_id()), (V{"bolt ltd"}));           // customer id
  EXPECT_EQ(names("", "", b.contact().work_email()), (V{"bolt ltd"}));  // contact email
  EXPECT_EQ(names("", "", "mustermann").size(), 3u);                    // contact name
  EXPECT_EQ(names("", "", "100%_"), V{});  // LIKE wildcards are literal
}

TEST(Reporting, PagesCoverEveryRowOnceWhileCustomersAreAddedAndChange) {
  std::vector<cv1::Customer> before;
  for (int i = 0; i < 40; ++i) {
    before.push_back(CreateCustomer("tbl4", absl::StrCat("Page ", 100 + i)));
  }
  ASSERT_TRUE(WaitUntil([&] { return RowsById("tbl4").size() == 40; }));
  // Writers keep adding customers (anywhere in the order) and changing device counts while a
  // reader pages through by name.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop && i < 30; ++i) {
      CreateCustomer("tbl4", absl::StrCat(i % 2 ? "Page 0" : "Page 9", i));
    }
  });
  rv1::QueryCustomerTableRequest request;
  request.set_page_size(7);
  std::vector<rv1::TableRow> rows;
  for (int pass = 0; pass < 3; ++pass) {
    rows = AllRows("tbl4", request);
    std::map<std::string, int> seen;
    for (const auto& row : rows) ++seen[row.customer()];
    for (const auto& [name, count] : seen) EXPECT_EQ(count, 1) << name << " twice";
    for (const auto& c : before) EXPECT_EQ(seen.count(c.name()), 1u) << c.name() << " missing";
    // In order, page after page.
    for (size_t i = 1; i < rows.size(); ++i) {
      EXPECT_LE(absl::AsciiStrToLower(rows[i - 1].company_name()),
                absl::AsciiStrToLower(rows[i].company_name()));
    }
  }
  stop = true;
  writer.join();
}

TEST(Reporting, TheCsvExportIsByteForByteTheDomainsFormat) {
  // Names that need quoting, formula neutralising and UTF-8; Knox Manage with and without
  // devices, and none.
  const auto plus = CreateCustomer("csv1", "+Plus GmbH", {av1::KNOX_MANAGE});
  const auto minus = CreateCustomer("csv1", "-Minus Ltd");
  const auto formula = CreateCustomer("csv1", "=SUM(A1)", {av1::KNOX_MOBILE_ENROLLMENT});
  const auto at = CreateCustomer("csv1", "@home", {}, cv1::JOINTLY_MANAGED);
  const auto comma = CreateCustomer(
      "csv1", "Comma, Inc.", {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE, av1::KNOX_GUARD});
  const auto quote = CreateCustomer("csv1", "Quote \"Q\" GmbH");
  const auto zurich = CreateCustomer("csv1", "Zürich AG");
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("csv1");
    if (rows.size() != 7) return false;
    for (const auto& [id, row] : rows) {
      for (const auto& s : row.services()) {
        if (s.state() != av1::AssignedService::ACTIVE) return false;
      }
    }
    return true;
  }));
  ReportDevices(formula, av1::KNOX_MOBILE_ENROLLMENT, 7);
  ReportDevices(comma, av1::KNOX_MOBILE_ENROLLMENT, 1200);
  ReportDevices(comma, av1::KNOX_MANAGE, 35);
  ReportDevices(comma, av1::KNOX_GUARD, 5);
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("csv1");
    return rows[comma.customer_id()].total_devices() == 1205 &&
           rows[comma.customer_id()].knox_manage_devices() == 35 &&
           rows[formula.customer_id()].total_devices() == 7;
  }));
  auto line = [](const cv1::Customer& created, const std::string& name, const std::string& active,
                 const std::string& type, const std::string& total, const std::string& km) {
    const auto c = GetCustomer("csv1", created.name());  // its times as stored
    return absl::StrCat(name, ",", active, ",", c.customer_id(), ",", type, ",", total, ",", km,
                        ",", Iso(c.create_time()), ",", Iso(c.update_time()), ",",
                        Iso(c.msp_link_time()), "\r\n");
  };
  const std::string expected = absl::StrCat(
      "Company Name,Active services,Customer ID,Management type,"
      "Total devices (excluding Knox Manage devices),Total devices (Knox Manage),Created,"
      "Modified,MSP linked\r\n",
      // In name order (byte order of the lower-cased name).
      line(plus, "\"'+Plus GmbH\"", "Knox Manage", "Fully managed", "0", "0"),
      line(minus, "\"'-Minus Ltd\"", "", "Fully managed", "0", "-"),
      line(formula, "\"'=SUM(A1)\"", "Knox Mobile Enrollment", "Fully managed", "7", "-"),
      line(at, "\"'@home\"", "", "Jointly managed", "0", "-"),
      line(comma, "\"Comma, Inc.\"", "\"Knox Mobile Enrollment, Knox Manage, Knox Guard\"",
           "Fully managed", "1205", "35"),
      line(quote, "\"Quote \"\"Q\"\" GmbH\"", "", "Fully managed", "0", "-"),
      line(zurich, "Zürich AG", "", "Fully managed", "0", "-"));
  EXPECT_EQ(Export("csv1"), expected);
  // "Export what I see": the table's filter.
  const std::string jointly = Export("csv1", "management_type = JOINTLY_MANAGED");
  EXPECT_EQ(jointly, absl::StrCat(expected.substr(0, expected.find("\r\n") + 2),
                                  line(at, "\"'@home\"", "", "Jointly managed", "0", "-")));
  // An MSP with no customers gets the header alone.
  EXPECT_EQ(Export("csv-empty"), expected.substr(0, expected.find("\r\n") + 2));
}

TEST(Reporting, ALargeExportStreamsInChunksFromOneSnapshot) {
  // More rows than one keyset page of the export and one chunk, with writes going on.
  std::vector<std::thread> creators;
  for (int t = 0; t < 4; ++t) {
    creators.emplace_back([t] {
      for (int i = 0; i < 60; ++i) {
        CreateCustomer("csv2", absl::StrCat("Bulk ", t, "-", i, " ", std::string(40, 'x')));
      }
    });
  }
  for (auto& t : creators) t.join();
  ASSERT_TRUE(WaitUntil([&] { return RowsById("csv2").size() == 240; }));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop && i < 20; ++i) CreateCustomer("csv2", absl::StrCat("Late ", i));
  });
  const std::string csv = Export("csv2");
  stop = true;
  writer.join();
  const std::vector<std::string> lines = absl::StrSplit(csv, "\r\n");
  // Header, at least the 240 rows, the empty piece after the last CRLF; no row twice.
  ASSERT_GE(lines.size(), 242u);
  EXPECT_TRUE(lines.back().empty());
  std::set<std::string> unique(lines.begin() + 1, lines.end() - 1);
  EXPECT_EQ(unique.size(), lines.size() - 2);
}

// Two stalled exports (opened, never read) of one MSP made every other MSP's export fail with
// TOO_MANY_EXPORTS until they were closed. Now one MSP has one export at a time, and a stream
// whose client takes nothing is cancelled after the write timeout (freeing its slot, thread and
// database connection).
TEST(Reporting, StalledExportsOfOneMspNeitherBlockOthersNorLastForever) {
  {
    pg::Connection conn(stack->database_url(), 5000, "reporting, public");
    // Far more CSV than HTTP/2's windows hold: a client that does not read stalls the stream.
    conn.Exec(
        "INSERT INTO customer_rows (customer_id, msp_id, company_name, name_key, state, "
        "management_type, service_key, service_mask, active_mask, total_devices, "
        "knox_manage_devices, all_devices, create_us, update_us, link_us, search_text) "
        "SELECT 'st' || lpad(i::text, 8, '0'), 'stall-a', 'Stalled company ' || i || ' "
        "with a long enough name to fill the stream', 'stalled company ' || i, 1, 1, '', 0, 0, "
        "0, NULL, 0, 1700000000000000, 1700000000000000, 0, '' FROM generate_series(1, 60000) i");
  }
  stack->StopService("reporting", SIGTERM);
  stack->StartService("reporting", {"--export_write_timeout_ms=2000"});

  auto stub = Reporting();
  const auto opened = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<rv1::CsvChunk>>> stalled;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    Authorize(*contexts.back(), stack->MspToken("stall-a"));
    rv1::ExportCustomersCsvRequest request;
    request.set_parent("msps/stall-a");
    stalled.push_back(stub->ExportCustomersCsv(contexts.back().get(), request));
    if (i == 0) {
      // Running (its first chunk arrived) before the second starts: which of two calls sent
      // together the server admits first is the machine's to decide (an ASan run admitted
      // the second).
      rv1::CsvChunk first_chunk;
      ASSERT_TRUE(stalled[0]->Read(&first_chunk));
    }
  }
  // The second is refused at once (one export per MSP); its status comes with Finish.
  const grpc::Status second = stalled[1]->Finish();
  EXPECT_EQ(second.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(DetailsOf(second).reason, "TOO_MANY_EXPORTS");
  EXPECT_GT(DetailsOf(second).retry_delay_ms, 0);
  // Other MSPs export as usual meanwhile.
  for (const char* msp : {"stall-b", "stall-c", "stall-d"}) {
    grpc::Status status;
    Export(msp, "", &status);
    EXPECT_TRUE(status.ok()) << msp << ": " << status.error_message();
  }
  // The stalled one is cancelled by the server: the MSP can export again.
  bool exported = false;
  for (int i = 0; i < 100 && !exported; ++i) {
    grpc::Status status;
    const std::string csv = Export("stall-a", "", &status);
    exported = status.ok() && std::count(csv.begin(), csv.end(), '\n') == 60001;
    if (!exported) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(exported) << "the stalled export kept its slot";
  // It did stall, and was cut off by the write timeout (2 s), not by finishing.
  EXPECT_GE(std::chrono::steady_clock::now() - opened, std::chrono::milliseconds(1900));
  contexts[0]->TryCancel();
  EXPECT_FALSE(stalled[0]->Finish().ok());

  {
    pg::Connection conn(stack->database_url(), 5000, "reporting, public");
    conn.Exec("DELETE FROM customer_rows WHERE msp_id = 'stall-a'");
  }
  stack->StopService("reporting", SIGTERM);
  stack->StartService("reporting");
}

TEST(Reporting, DetailsShowServicesConsoleLaunchesAndTheInvitation) {
  const auto managed = CreateCustomer("det1", "Detail GmbH", {av1::KNOX_MANAGE, av1::KNOX_GUARD});
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("det1");
    return rows.size() == 1 && rows[managed.customer_id()].services_size() == 2 &&
           rows[managed.customer_id()].services(1).state() == av1::AssignedService::ACTIVE;
  }));
  ReportDevices(managed, av1::KNOX_GUARD, 40, 3);
  auto stub = Reporting();
  rv1::GetCustomerDetailsRequest request;
  request.set_name(managed.name());
  rv1::CustomerDetails details;
  ASSERT_TRUE(WaitUntil([&] {
    details.Clear();
    return Call(&RS::GetCustomerDetails, *stub, stack->MspToken("det1"), request, &details).ok() &&
           details.services_size() == 2 &&
           details.services(1).service().devices_needing_attention() == 3;
  }));
  EXPECT_EQ(details.customer().name(), managed.name());
  EXPECT_EQ(details.customer().contact().work_email(), managed.contact().work_email());
  EXPECT_EQ(details.services(0).service().service(), av1::KNOX_MANAGE);
  EXPECT_EQ(details.services(0).console_launch().name(), details.services(0).service().name());
  EXPECT_FALSE(details.has_invitation());  // created by the MSP: no invitation

  // An existing Knox customer, invited: the table shows it PENDING, the details the invitation.
  auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateKnoxCustomerRequest knox_request;
  *knox_request.mutable_customer() =
      customer::testdata::ValidCustomer("Invitee AG", "admin@" + FreshDomain());
  cv1::Customer knox;
  ASSERT_TRUE(Call(&cv1::CustomerService::Stub::CreateKnoxCustomer, *customers,
                   stack->ServiceToken(identity::kKnoxAccounts), knox_request, &knox)
                  .ok());
  auto onboarding = ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
  ov1::CreateInvitationRequest invite;
  invite.set_parent("msps/det1");
  invite.set_customer_id(knox.customer_id());
  invite.set_management_type(cv1::JOINTLY_MANAGED);
  invite.add_services(av1::KNOX_CONFIGURE);
  ov1::Invitation invitation;
  ASSERT_TRUE(Call(&ov1::OnboardingService::Stub::CreateInvitation, *onboarding,
                   stack->MspToken("det1"), invite, &invitation)
                  .ok());
  const std::string pending_name = "msps/det1/customers/" + knox.customer_id();
  request.set_name(pending_name);
  ASSERT_TRUE(WaitUntil([&] {
    details.Clear();
    return Call(&RS::GetCustomerDetails, *stub, stack->MspToken("det1"), request, &details).ok() &&
           details.invitation().send_count() == 1;
  }));
  EXPECT_EQ(details.customer().state(), cv1::PENDING);
  EXPECT_EQ(details.invitation().name(), invitation.name());
  EXPECT_EQ(details.invitation().state(), ov1::Invitation::PENDING);
  EXPECT_TRUE(details.invitation().has_last_send_time());
  EXPECT_EQ(RowsById("det1")[knox.customer_id()].state(), cv1::PENDING);

  // Canceled by the MSP: the state and when it was answered.
  ov1::CancelInvitationRequest cancel;
  cancel.set_name(invitation.name());
  ASSERT_TRUE(Call(&ov1::OnboardingService::Stub::CancelInvitation, *onboarding,
                   stack->MspToken("det1"), cancel, &invitation)
                  .ok());
  ASSERT_TRUE(WaitUntil([&] {
    details.Clear();
    return Call(&RS::GetCustomerDetails, *stub, stack->MspToken("det1"), request, &details).ok() &&
           details.customer().state() == cv1::CANCELED;
  }));
  EXPECT_EQ(details.invitation().state(), ov1::Invitation::CANCELED);
  EXPECT_TRUE(details.invitation().has_answer_time());

  // Another MSP: not found, whoever's customer it is.
  EXPECT_EQ(
      Call(&RS::GetCustomerDetails, *stub, stack->MspToken("det2"), request, &details).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST(Reporting, TheTableCatchesUpAfterReportingWasDown) {
  const auto early = CreateCustomer("down1", "Early Bird", {av1::KNOX_MOBILE_ENROLLMENT});
  ASSERT_TRUE(WaitUntil([&] { return RowsById("down1").size() == 1; }));
  stack->StopService("reporting", SIGKILL);
  // While it is down: new customers, a rename, device counts.
  std::vector<cv1::Customer> made;
  for (int i = 0; i < 10; ++i) made.push_back(CreateCustomer("down1", absl::StrCat("Made ", i)));
  Rename("down1", early, "Early Bird Renamed");
  ReportDevices(early, av1::KNOX_MOBILE_ENROLLMENT, 77);
  stack->StartService("reporting");
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("down1");
    return rows.size() == 11 && rows[early.customer_id()].company_name() == "Early Bird Renamed" &&
           rows[early.customer_id()].total_devices() == 77;
  })) << "the read model did not catch up";
  auto rows = RowsById("down1");
  for (const auto& c : made)
    EXPECT_EQ(rows[c.customer_id()].company_name(), c.company().display_name());
}

TEST(Reporting, TheRebuildRestoresTheReadModelFromTheServices) {
  const auto one = CreateCustomer("rb1", "Rebuilt One", {av1::KNOX_GUARD});
  const auto two = CreateCustomer("rb1", "Rebuilt Two");
  ASSERT_TRUE(WaitUntil([&] {
    auto rows = RowsById("rb1");
    return rows.size() == 2 && rows[one.customer_id()].services_size() == 1 &&
           rows[one.customer_id()].services(0).state() == av1::AssignedService::ACTIVE;
  }));
  ReportDevices(one, av1::KNOX_GUARD, 9);
  ASSERT_TRUE(WaitUntil([&] { return RowsById("rb1")[one.customer_id()].total_devices() == 9; }));
  // The read model loses the MSP's rows (a wiped replica) and gains one nobody has.
  {
    pg::Connection conn(stack->database_url(), 5000, "reporting, public");
    conn.Exec("DELETE FROM customer_rows WHERE msp_id = 'rb1'");
    conn.Exec("DELETE FROM customer_sources WHERE msp_id = 'rb1'");
    conn.Exec(
        "INSERT INTO customer_sources (customer_id, customer_version, msp_id, change_us) VALUES "
        "('ghost00000', 1, 'rb1', 0)");
    conn.Exec(
        "INSERT INTO customer_rows VALUES ('ghost00000', 'rb1', 'Ghost', 'ghost', 1, 1, '', 0, 0, "
        "0, NULL, 0, 0, 0, 0, 'ghost')");
  }
  ASSERT_EQ(RowsById("rb1").size(), 1u);
  std::vector<std::string> argv = {testing::BinaryPath("services/reporting/reporting_rebuild"),
                                   "--customer_address=" + stack->address("customer"),
                                   "--assignment_address=" + stack->address("service-assignment"),
                                   "--page_size=7"};
  for (auto& f : stack->CommonFlags()) argv.push_back(f);
  testing::ChildProcess rebuild(argv, {}, stack->log_dir() + "/rebuild.log");
  ASSERT_EQ(rebuild.Wait(std::chrono::seconds(60)), 0) << rebuild.ReadLog();
  auto rows = RowsById("rb1");
  ASSERT_EQ(rows.size(), 2u) << rebuild.ReadLog();
  EXPECT_EQ(rows[one.customer_id()].company_name(), "Rebuilt One");
  EXPECT_EQ(rows[one.customer_id()].total_devices(), 9);
  ASSERT_EQ(rows[one.customer_id()].services_size(), 1);
  EXPECT_EQ(rows[two.customer_id()].services_size(), 0);
  EXPECT_EQ(rows.count("ghost00000"), 0u);
  EXPECT_NE(rebuild.ReadLog().find("\"removed\":1"), std::string::npos) << rebuild.ReadLog();
  // Events after the rebuild still apply on top of it.
  Rename("rb1", two, "Rebuilt Two Renamed");
  ASSERT_TRUE(WaitUntil(
      [&] { return RowsById("rb1")[two.customer_id()].company_name() == "Rebuilt Two Renamed"; }));
}

TEST(Reporting, TenantIsolationMatrix) {
  const auto owned = CreateCustomer("iso-owner", "Isolated Holdings");
  ASSERT_TRUE(WaitUntil([&] { return RowsById("iso-owner").size() == 1; }));
  auto stub = Reporting();
  using Rpc = std::function<grpc::Status(const std::string&)>;
  const std::vector<std::pair<std::string, Rpc>> rpcs = {
      {"QueryCustomerTable",
       [&](const std::string& t) {
         rv1::QueryCustomerTableRequest r;
         r.set_parent("msps/iso-owner");
         rv1::QueryCustomerTableResponse out;
         return Call(&RS::QueryCustomerTable, *stub, t, r, &out);
       }},
      {"GetTablePreferences",
       [&](const std::string& t) {
         rv1::GetTablePreferencesRequest r;
         r.set_name("msps/iso-owner/admins/admin/tablePreferences");
         rv1::TablePreferences out;
         return Call(&RS::GetTablePreferences, *stub, t, r, &out);
       }},
      {"UpdateTablePreferences",
       [&](const std::string& t) {
         rv1::UpdateTablePreferencesRequest r;
         r.mutable_preferences()->set_name("msps/iso-owner/admins/admin/tablePreferences");
         r.mutable_preferences()->add_columns(rv1::NAME);
         rv1::TablePreferences out;
         return Call(&RS::UpdateTablePreferences, *stub, t, r, &out);
       }},
      {"GetCustomerDetails",
       [&](const std::string& t) {
         rv1::GetCustomerDetailsRequest r;
         r.set_name(owned.name());
         rv1::CustomerDetails out;
         return Call(&RS::GetCustomerDetails, *stub, t, r, &out);
       }},
      {"ExportCustomersCsv",
       [&](const std::string& t) {
         grpc::Status status;
         const std::string csv = Export("iso-owner", "", &status, &t);
         if (!status.ok()) {
           EXPECT_EQ(csv, "");  // not even the header
         }
         return status;
       }},
  };
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      "msp.reporting.v1.ReportingService");
  ASSERT_EQ(service->method_count(), static_cast<int>(rpcs.size()));  // a new RPC needs a row

  auth::TokenClaims expired_claims;
  expired_claims.subject = "admin";
  expired_claims.msp_id = "iso-owner";
  expired_claims.ttl = std::chrono::seconds(-600);
  const std::vector<std::pair<std::string, std::pair<std::string, grpc::StatusCode>>> callers = {
      {"another MSP", {stack->MspToken("iso-intruder"), grpc::StatusCode::NOT_FOUND}},
      {"a customer admin",
       {stack->CustomerToken(owned.customer_id()), grpc::StatusCode::PERMISSION_DENIED}},
      {"a service", {stack->ServiceToken("knox-manage"), grpc::StatusCode::PERMISSION_DENIED}},
      {"no token", {"-", grpc::StatusCode::UNAUTHENTICATED}},
      {"expired", {stack->issuer().Mint(expired_claims), grpc::StatusCode::UNAUTHENTICATED}},
      {"garbage", {"not.a.jwt", grpc::StatusCode::UNAUTHENTICATED}},
  };
  for (const auto& [who, token_code] : callers) {
    for (const auto& [method, rpc] : rpcs) {
      const std::string token = token_code.first == "-" ? "" : token_code.first;
      const auto status = rpc(token);
      EXPECT_EQ(status.error_code(), token_code.second) << who << " -> " << method;
      EXPECT_EQ(status.error_message().find("Isolated"), std::string::npos) << who << method;
    }
  }
  for (const auto& [method, rpc] : rpcs) {
    EXPECT_TRUE(rpc(stack->MspToken("iso-owner")).ok()) << method;
  }
  // The intruder's own table and export never show the owner's customer.
  EXPECT_TRUE(RowsById("iso-intruder").empty());
  EXPECT_EQ(Export("iso-intruder").find("Isolated"), std::string::npos);
  // The AIP-159 wildcard is for internal services, never for an MSP admin.
  rv1::QueryCustomerTableRequest wildcard;
  wildcard.set_parent("msps/-");
  rv1::QueryCustomerTableResponse out;
  EXPECT_EQ(Query(stack->MspToken("-"), wildcard, &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(Reporting, BadInputNamesTheFieldAndChangesNothing) {
  auto stub = Reporting();
  const std::string token = stack->MspToken("bad1");
  struct Case {
    std::string label;
    std::function<void(rv1::QueryCustomerTableRequest&)> set;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"parent", [](auto& r) { r.set_parent("customers/bad1"); }, "parent"},
      {"column", [](auto& r) { r.add_columns(static_cast<rv1::Column>(42)); }, "columns[0]"},
      {"unspecified column", [](auto& r) { r.add_columns(rv1::COLUMN_UNSPECIFIED); }, "columns[0]"},
      {"order_by", [](auto& r) { r.set_order_by("colour"); }, "order_by"},
      {"filter field", [](auto& r) { r.set_filter("country = DE"); }, "filter"},
      {"filter value", [](auto& r) { r.set_filter("service = KNOX_TOASTER"); }, "filter"},
      {"filter syntax", [](auto& r) { r.set_filter("state = ACTIVE AND"); }, "filter"},
      {"search", [](auto& r) { r.set_search(std::string(200, 'a')); }, "search"},
      {"page_size", [](auto& r) { r.set_page_size(-5); }, "page_size"},
      {"page_token", [](auto& r) { r.set_page_token("garbage"); }, "page_token"},
  };
  for (const auto& c : cases) {
    rv1::QueryCustomerTableRequest request;
    request.set_parent("msps/bad1");
    c.set(request);
    rv1::QueryCustomerTableResponse out;
    const auto status = Call(&RS::QueryCustomerTable, *stub, token, request, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.label;
    const auto details = DetailsOf(status);
    ASSERT_FALSE(details.fields.empty()) << c.label;
    EXPECT_EQ(details.fields[0], c.field) << c.label;
  }
  // A page token of another query, or another MSP's.
  CreateCustomer("bad1", "Token One");
  CreateCustomer("bad1", "Token Two");
  ASSERT_TRUE(WaitUntil([&] { return RowsById("bad1").size() == 2; }));
  rv1::QueryCustomerTableRequest request;
  request.set_parent("msps/bad1");
  request.set_page_size(1);
  rv1::QueryCustomerTableResponse first;
  ASSERT_TRUE(Call(&RS::QueryCustomerTable, *stub, token, request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  request.set_order_by("created");
  rv1::QueryCustomerTableResponse out;
  EXPECT_EQ(Call(&RS::QueryCustomerTable, *stub, token, request, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_order_by("");
  request.set_parent("msps/bad2");
  EXPECT_EQ(
      Call(&RS::QueryCustomerTable, *stub, stack->MspToken("bad2"), request, &out).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  // Details and export check their names too.
  rv1::GetCustomerDetailsRequest details;
  details.set_name("msps/bad1/customers/NOT-AN-ID");
  rv1::CustomerDetails d;
  EXPECT_EQ(Call(&RS::GetCustomerDetails, *stub, token, details, &d).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  details.set_name("msps/bad1/customers/0000000000");
  EXPECT_EQ(Call(&RS::GetCustomerDetails, *stub, token, details, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::Status status;
  Export("bad1", "management_type = SOMETIMES", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(DetailsOf(status).fields, std::vector<std::string>{"filter"});
  // Preferences unchanged by all of it: still the defaults.
  rv1::GetTablePreferencesRequest get;
  get.set_name("msps/bad1/admins/admin/tablePreferences");
  rv1::TablePreferences prefs;
  ASSERT_TRUE(Call(&RS::GetTablePreferences, *stub, token, get, &prefs).ok());
  EXPECT_EQ(prefs.columns_size(), 6);
}

}  // namespace
}  // namespace msp
