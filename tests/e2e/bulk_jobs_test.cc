// Bulk onboarding through the real customer, assignment and onboarding services (and the SMTP
// server the invitations go to): a dry run of a mixed file (every problem it looks for, a Knox
// Manage tenant another customer has included), the same file imported (progress, the
// customers, their trail naming the job, the result CSV byte for byte), the same for a file of
// invitations, kill -9 of the service between a batch's commit and its record and the resume
// after it, a cancel, the cap on running jobs, and a job's share of its MSP's rate budget.
#include <signal.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "msp/common/identities.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/bulk_jobs.grpc.pb.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "stack.h"
#include "status_details.h"
#include "testdata/bulk_import_files.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using customer::testdata::BulkCsvRow;
using customer::testdata::kBulkCsvHeader;
using customer::testdata::ValidBulkCsv;
using testing::Authorize;
using testing::Call;
using testing::DetailsOf;
using testing::Stack;
namespace av1 = assignment::v1;
namespace cv1 = customer::v1;
namespace ov1 = onboarding::v1;
using Job = cv1::BulkJob;

Stack* stack = nullptr;

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(
    &stack, {"customer", "service-assignment", "onboarding-invitation"}));

std::unique_ptr<cv1::BulkJobService::Stub> Jobs() {
  return cv1::BulkJobService::NewStub(stack->Channel("customer"));
}

void Prepare(grpc::ClientContext& context, const std::string& msp) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  Authorize(context, stack->MspToken(msp));
}

// Uploads `file` in pieces of `chunk_bytes` (the first message carries the settings).
grpc::Status Upload(const std::string& msp, const std::string& file, bool validate_only, Job* out,
                    const std::string& request_id = "", size_t chunk_bytes = 1000,
                    Job::Kind kind = Job::CREATE_CUSTOMERS) {
  grpc::ClientContext context;
  Prepare(context, msp);
  auto stub = Jobs();
  auto writer = stub->UploadBulkJob(&context, out);
  cv1::UploadBulkJobRequest request;
  request.set_parent("msps/" + msp);
  request.set_kind(kind);
  request.set_file_name(kind == Job::INVITE_CUSTOMERS ? "invitations.csv" : "customers.csv");
  request.set_validate_only(validate_only);
  request.set_request_id(request_id);
  size_t at = 0;
  do {
    request.set_chunk(file.substr(at, chunk_bytes));
    at += chunk_bytes;
    if (!writer->Write(request)) break;
    request = cv1::UploadBulkJobRequest();
  } while (at < file.size());
  writer->WritesDone();
  return writer->Finish();
}

template <typename Request, typename Response>
grpc::Status CallJobs(grpc::Status (cv1::BulkJobService::Stub::*method)(grpc::ClientContext*,
                                                                        const Request&, Response*),
                      const std::string& msp, const std::string& name, Response* out) {
  grpc::ClientContext context;
  Prepare(context, msp);
  Request request;
  request.set_name(name);
  auto stub = Jobs();
  return (stub.get()->*method)(&context, request, out);
}

Job Get(const std::string& msp, const std::string& name) {
  Job job;
  const auto status = CallJobs(&cv1::BulkJobService::Stub::GetBulkJob, msp, name, &job);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return job;
}

// Polls the job until it ends (the service may be restarting meanwhile).
Job WaitUntilEnded(const std::string& msp, const std::string& name,
                   std::chrono::seconds timeout = std::chrono::seconds(120)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  Job job;
  while (std::chrono::steady_clock::now() < until) {
    const auto status = CallJobs(&cv1::BulkJobService::Stub::GetBulkJob, msp, name, &job);
    if (status.ok() && (job.state() == Job::SUCCEEDED || job.state() == Job::CANCELLED)) {
      return job;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "the job did not end: " << job.ShortDebugString();
  return job;
}

std::string Download(const std::string& msp, const std::string& name) {
  grpc::ClientContext context;
  Prepare(context, msp);
  cv1::DownloadBulkJobResultRequest request;
  request.set_name(name);
  auto stub = Jobs();
  auto reader = stub->DownloadBulkJobResult(&context, request);
  std::string out;
  cv1::BulkJobResultChunk chunk;
  while (reader->Read(&chunk)) out += chunk.data();
  const auto status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

// company name -> customer id, of every customer the MSP has.
std::map<std::string, std::string> CustomersByCompany(const std::string& msp) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  std::map<std::string, std::string> out;
  cv1::ListCustomersRequest request;
  request.set_parent("msps/" + msp);
  request.set_page_size(500);
  for (;;) {
    grpc::ClientContext context;
    Prepare(context, msp);
    cv1::ListCustomersResponse page;
    const auto status = stub->ListCustomers(&context, request, &page);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const auto& c : page.customers()) {
      EXPECT_TRUE(out.emplace(c.company().display_name(), c.customer_id()).second)
          << "twice: " << c.company().display_name();
    }
    if (page.next_page_token().empty() || !status.ok()) return out;
    request.set_page_token(page.next_page_token());
  }
}

// "row:field" of each finding.
std::vector<std::string> Findings(const Job& job) {
  std::vector<std::string> out;
  for (const auto& p : job.problems()) out.push_back(absl::StrCat(p.row(), ":", p.field()));
  return out;
}

// Every problem a dry run looks for, with two good rows.
std::string MixedFile() {
  return absl::StrCat(
      kBulkCsvHeader, BulkCsvRow("Good One GmbH", "it@good-one.example"),  // 1
      BulkCsvRow("Bad Size GmbH", "it@bad-size.example", "FULLY_MANAGED",  // 2
                 "KNOX_MOBILE_ENROLLMENT", "", "huge"),
      BulkCsvRow("Good One GmbH", "it@good-one.example"),                              // 3: 1 again
      BulkCsvRow("Tenant A GmbH", "a@clash.example", "FULLY_MANAGED", "KNOX_MANAGE"),  // 4
      BulkCsvRow("Tenant B GmbH", "b@clash.example", "FULLY_MANAGED", "KNOX_MANAGE"),  // 5: 4's
      BulkCsvRow("Free Mail GmbH", "boss@gmail.com", "JOINTLY_MANAGED"),               // 6
      BulkCsvRow("Good Two GmbH", "it@good-two.example", "JOINTLY_MANAGED",            // 7
                 "KNOX_MANAGE|KNOX_CONFIGURE", "two"),
      BulkCsvRow("Late Tenant GmbH", "it@taken-tenant.example", "FULLY_MANAGED",  // 8: taken
                 "KNOX_MANAGE"));
}

// A customer (of another MSP) that has the Knox Manage tenant taken-tenant.example, once its
// services are assigned.
void TakeTheTenantOfRowEight() {
  static const bool done = [] {
    auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
    grpc::ClientContext context;
    Prepare(context, "bulk-tenant-owner");
    cv1::CreateCustomerRequest request;
    request.set_parent("msps/bulk-tenant-owner");
    *request.mutable_customer() =
        customer::testdata::ValidCustomer("Tenant Owner GmbH", "it@taken-tenant.example");
    request.add_services(assignment::v1::KNOX_MANAGE);
    cv1::Customer created;
    EXPECT_TRUE(stub->CreateCustomer(&context, request, &created).ok());
    pg::Connection conn(stack->database_url(), 5000);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      if (conn.Exec("SELECT count(*) FROM assignment.knox_manage_tenants WHERE tenant_id = "
                    "'taken-tenant.example'")
              .Int64(0, 0) == 1) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }();
  ASSERT_TRUE(done) << "the tenant was never made";
}

const std::vector<std::string> kMixedFindings = {"2:company_size", "3:work_email",
                                                 "5:knox_manage_tenant_prefix", "6:work_email",
                                                 "8:knox_manage_tenant_prefix"};

TEST(BulkJobs, ADryRunOfAMixedFileFindsEveryProblemAndWritesNothing) {
  TakeTheTenantOfRowEight();
  Job job;
  const auto status = Upload("bulk-dry", MixedFile(), /*validate_only=*/true, &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.name(), "");  // nothing stored
  EXPECT_EQ(job.state(), Job::VALIDATED);
  EXPECT_EQ(job.row_count(), 8);
  EXPECT_EQ(job.invalid_row_count(), 5);
  EXPECT_EQ(Findings(job), kMixedFindings);
  for (const auto& p : job.problems()) {
    EXPECT_EQ(p.line(), p.row() + 1);
    EXPECT_FALSE(p.reason().empty());
  }
  EXPECT_TRUE(CustomersByCompany("bulk-dry").empty());
  pg::Connection conn(stack->database_url(), 5000);
  EXPECT_EQ(
      conn.Exec("SELECT count(*) FROM customer.bulk_jobs WHERE msp_id = 'bulk-dry'").Int64(0, 0),
      0);
}

TEST(BulkJobs, AFileThatCannotBeReadIsRefusedNamingTheLineOrColumn) {
  Job job;
  auto status = Upload("bulk-bad", "company_name,colour\r\nAcme,blue\r\n", false, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("colour"), std::string::npos) << status.error_message();
  const auto details = testing::DetailsOf(status);
  EXPECT_EQ(details.reason, "UNREADABLE_FILE");
  ASSERT_GE(details.fields.size(), 2u);  // colour, and each required column missing
  for (const auto& field : details.fields) EXPECT_EQ(field, "chunk");
  status = Upload("bulk-bad", absl::StrCat(kBulkCsvHeader, "\"open quote,\r\n"), false, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("line 2"), std::string::npos) << status.error_message();
  pg::Connection conn(stack->database_url(), 5000);
  EXPECT_EQ(
      conn.Exec("SELECT count(*) FROM customer.bulk_jobs WHERE msp_id = 'bulk-bad'").Int64(0, 0),
      0);
}

TEST(BulkJobs, TheSameFileImported) {
  TakeTheTenantOfRowEight();
  const std::string msp = "bulk-run";
  Job uploaded;
  ASSERT_TRUE(Upload(msp, MixedFile(), false, &uploaded, "bulk-run-upload").ok());
  ASSERT_FALSE(uploaded.name().empty());
  EXPECT_EQ(uploaded.state(), Job::VALIDATED);
  EXPECT_EQ(Findings(uploaded), kMixedFindings);
  EXPECT_EQ(uploaded.creator(), "msp-admin:admin");
  // A retried upload answers the same job.
  Job again;
  ASSERT_TRUE(Upload(msp, MixedFile(), false, &again, "bulk-run-upload", 7).ok());
  EXPECT_EQ(again.name(), uploaded.name());

  cv1::Operation op;
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, uploaded.name(), &op).ok());
  EXPECT_EQ(op.name(), uploaded.name() + "/operation");

  // Followed as a stream: progress only grows, and the last message is the ended job.
  grpc::ClientContext context;
  Prepare(context, msp);
  cv1::WatchBulkJobRequest watch;
  watch.set_name(uploaded.name());
  auto stub = Jobs();
  auto reader = stub->WatchBulkJob(&context, watch);
  Job seen;
  int messages = 0;
  int last_done = -1;
  while (reader->Read(&seen)) {
    ++messages;
    EXPECT_GE(seen.rows_done(), last_done);
    last_done = seen.rows_done();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_GE(messages, 1);
  EXPECT_EQ(seen.state(), Job::SUCCEEDED);
  EXPECT_EQ(seen.rows_done(), 8);
  EXPECT_EQ(seen.rows_created(), 3);
  EXPECT_EQ(seen.rows_failed(), 5);
  EXPECT_TRUE(seen.has_end_time());

  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::GetOperation, msp, op.name(), &op).ok());
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.response().state(), Job::SUCCEEDED);
  // Running it again changes nothing.
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, uploaded.name(), &op).ok());
  EXPECT_TRUE(op.done());

  const auto customers = CustomersByCompany(msp);
  ASSERT_EQ(customers.size(), 3u);
  const std::string one = customers.at("Good One GmbH");
  const std::string tenant_a = customers.at("Tenant A GmbH");
  const std::string two = customers.at("Good Two GmbH");

  // The trail names the job's row.
  auto customer_stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  grpc::ClientContext events_context;
  Prepare(events_context, msp);
  cv1::ListCustomerEventsRequest events_request;
  events_request.set_parent(absl::StrCat("msps/", msp, "/customers/", two));
  cv1::ListCustomerEventsResponse events;
  ASSERT_TRUE(customer_stub->ListCustomerEvents(&events_context, events_request, &events).ok());
  ASSERT_GE(events.events_size(), 1);
  const auto& created = events.events(events.events_size() - 1);
  EXPECT_EQ(created.action(), "CUSTOMER_CREATED");
  EXPECT_EQ(created.actor(), "msp-admin:admin");
  const std::string job_id = uploaded.name().substr(uploaded.name().rfind('/') + 1);
  EXPECT_EQ(created.request_id(), absl::StrCat("bulkJobs/", job_id, "/rows/7"));

  // The result, byte for byte.
  const std::string expected = absl::StrCat(
      "row,line,outcome,customer_id,field,reason\r\n", "1,2,CREATED,", one, ",,\r\n",
      "2,3,INVALID,,company_size,\"one of 0-19, 20-99, 100-249, 250-499, 500-999, 1000+\"\r\n",
      "3,4,INVALID,,work_email,the same company and contact as row 1\r\n", "4,5,CREATED,", tenant_a,
      ",,\r\n",
      "5,6,INVALID,,knox_manage_tenant_prefix,Knox Manage tenant id clash.example is row 4's: "
      "give this row a prefix of its own\r\n",
      "6,7,INVALID,,work_email,\"a jointly managed customer needs a work email, not a free-mail "
      "address\"\r\n",
      "7,8,CREATED,", two, ",,\r\n",
      "8,9,INVALID,,knox_manage_tenant_prefix,Knox Manage tenant id taken-tenant.example exists "
      "already: give this row a prefix of its own\r\n");
  EXPECT_EQ(Download(msp, uploaded.name()), expected);
}

// An existing Knox customer nobody manages, with a service of its own (no Knox Manage tenant).
cv1::Customer KnoxCustomer(const std::string& company, const std::string& email) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateKnoxCustomerRequest request;
  *request.mutable_customer() = customer::testdata::ValidCustomer(company, email);
  request.add_services(av1::KNOX_MOBILE_ENROLLMENT);
  cv1::Customer out;
  const auto status = Call(&cv1::CustomerService::Stub::CreateKnoxCustomer, *stub,
                           stack->ServiceToken(identity::kKnoxAccounts), request, &out);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return out;
}

grpc::Status InviteOne(const std::string& msp, const std::string& customer_id,
                       cv1::ManagementType type) {
  auto stub = ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
  ov1::CreateInvitationRequest request;
  request.set_parent("msps/" + msp);
  request.set_customer_id(customer_id);
  request.set_management_type(type);
  request.add_services(av1::KNOX_MOBILE_ENROLLMENT);
  ov1::Invitation out;
  return Call(&ov1::OnboardingService::Stub::CreateInvitation, *stub, stack->MspToken(msp), request,
              &out);
}

// The emails to `to` the SMTP server has, waiting up to 20 s for `count` of them.
size_t EmailsTo(const std::string& to, size_t count) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  size_t seen = 0;
  do {
    seen = 0;
    for (const auto& m : stack->smtp().Messages()) {
      if (absl::StrContains(m, "X-RcptTo: " + to)) ++seen;
    }
    if (seen >= count) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < until);
  return seen;
}

constexpr char kInviteCsvHeader[] =
    "customer_id,management_type,services,knox_manage_tenant_prefix\r\n";

std::string InviteCsvRow(const std::string& customer_id, const std::string& type,
                         const std::string& services, const std::string& prefix = "") {
  return absl::StrCat(customer_id, ",", type, ",", services, ",", prefix, "\r\n");
}

// A single invitation keeps the free-mail rule too: jointly managed never for a super admin on a
// free-mail domain (the bulk dry run applies the same rule).
TEST(BulkJobs, AFreeMailCustomerIsNotInvitedAsJointlyManaged) {
  const auto free_mail =
      KnoxCustomer("Invite Free Single BV", absl::StrCat("boss", ::getpid(), "@gmail.com"));
  const auto status =
      InviteOne("bulk-invite-single", free_mail.customer_id(), cv1::JOINTLY_MANAGED);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_EQ(DetailsOf(status).reason, "FREE_MAIL_DOMAIN_NOT_ALLOWED");
  EXPECT_TRUE(InviteOne("bulk-invite-single", free_mail.customer_id(), cv1::FULLY_MANAGED).ok());
}

// The customer service may send an invitation only as the MSP admin it relays for names it: in
// that admin's MSP, never for a customer admin, never with an id an MSP chose as its own.
TEST(BulkJobs, TheCustomerServiceInvitesOnlyForTheAdminItRelays) {
  const auto knox =
      KnoxCustomer("Invite Relay BV", absl::StrCat("it@relay-", ::getpid(), ".example"));
  auto stub = ov1::OnboardingService::NewStub(stack->Channel("onboarding-invitation"));
  auto invite = [&](const std::string& token, const std::string& msp, const std::string& request_id,
                    ov1::Invitation* out) {
    ov1::CreateInvitationRequest request;
    request.set_parent("msps/" + msp);
    request.set_customer_id(knox.customer_id());
    request.set_management_type(cv1::FULLY_MANAGED);
    request.add_services(av1::KNOX_CONFIGURE);
    request.set_request_id(request_id);
    return Call(&ov1::OnboardingService::Stub::CreateInvitation, *stub, token, request, out);
  };
  const std::string for_admin_a = stack->ServiceToken(
      identity::kCustomer,
      auth::OnBehalfOf{auth::PrincipalKind::kMspAdmin, "admin", "bulk-relay-a", ""});
  const std::string for_customer_admin = stack->ServiceToken(
      identity::kCustomer,
      auth::OnBehalfOf{auth::PrincipalKind::kCustomerAdmin, "boss", "", knox.customer_id()});
  const std::string row_id = "bulkJobs/relay/rows/1";
  ov1::Invitation first, again, refused;
  EXPECT_EQ(invite(for_admin_a, "bulk-relay-b", row_id, &refused).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(invite(for_customer_admin, "bulk-relay-a", row_id, &refused).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // An admin's own call may not use a service's form of request id.
  const auto own = invite(stack->MspToken("bulk-relay-a"), "bulk-relay-a", row_id, &refused);
  EXPECT_EQ(own.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // For the admin of the MSP it names: sent once, and a retry answers the same invitation.
  ASSERT_TRUE(invite(for_admin_a, "bulk-relay-a", row_id, &first).ok());
  ASSERT_TRUE(invite(for_admin_a, "bulk-relay-a", row_id, &again).ok());
  EXPECT_EQ(first.name(), again.name());
  EXPECT_EQ(EmailsTo(knox.contact().work_email(), 1), 1u);
}

TEST(BulkJobs, InvitationsInBulkAreCheckedThenSentOnceEach) {
  const std::string msp = "bulk-invite";
  const std::string tag = std::to_string(::getpid());
  const auto one = KnoxCustomer("Invite One BV", absl::StrCat("it@invite-one-", tag, ".example"));
  const auto free_mail = KnoxCustomer("Invite Free BV", absl::StrCat("boss", tag, "@gmail.com"));
  const auto elsewhere =
      KnoxCustomer("Invite Elsewhere BV", absl::StrCat("it@invite-elsewhere-", tag, ".example"));
  const auto clash_a =
      KnoxCustomer("Invite Clash A BV", absl::StrCat("a@invite-clash-", tag, ".example"));
  const auto clash_b =
      KnoxCustomer("Invite Clash B BV", absl::StrCat("b@invite-clash-", tag, ".example"));
  const auto guarded = KnoxCustomer("Invite Guard BV", absl::StrCat("it@guard-", tag, ".example"));
  // Another MSP has invited this one already.
  ASSERT_TRUE(InviteOne("bulk-invite-other", elsewhere.customer_id(), cv1::FULLY_MANAGED).ok());
  ASSERT_EQ(EmailsTo(elsewhere.contact().work_email(), 1), 1u);

  const std::string file = absl::StrCat(
      kInviteCsvHeader,
      InviteCsvRow(one.customer_id(), "FULLY_MANAGED",
                   "knox-configure|Knox Mobile Enrollment"),                              // 1
      InviteCsvRow("0000000000", "JOINTLY_MANAGED", "KNOX_MOBILE_ENROLLMENT"),            // 2
      InviteCsvRow(one.customer_id(), "jointly", "KNOX_CONFIGURE"),                       // 3: 1's
      InviteCsvRow(free_mail.customer_id(), "JOINTLY_MANAGED", "KNOX_CONFIGURE"),         // 4
      InviteCsvRow(elsewhere.customer_id(), "FULLY_MANAGED", "KNOX_CONFIGURE"),           // 5
      InviteCsvRow(clash_a.customer_id(), "FULLY_MANAGED", "KNOX_MANAGE", "hq"),          // 6
      InviteCsvRow(clash_b.customer_id(), "FULLY_MANAGED", "KNOX_MANAGE", "hq"),          // 7: 6's
      InviteCsvRow(guarded.customer_id(), "JOINTLY_MANAGED", "KNOX_MANAGE|KNOX_GUARD"));  // 8
  const std::vector<std::string> findings = {"2:customer_id",
                                             "3:customer_id",
                                             "4:management_type",
                                             "5:customer_id",
                                             "7:knox_manage_tenant_prefix",
                                             "8:services"};

  // The dry run: every problem, and nothing sent.
  Job dry;
  const auto dry_status = Upload(msp, file, true, &dry, "", 1000, Job::INVITE_CUSTOMERS);
  ASSERT_TRUE(dry_status.ok()) << dry_status.error_message();
  EXPECT_EQ(dry.kind(), Job::INVITE_CUSTOMERS);
  EXPECT_EQ(dry.row_count(), 8);
  EXPECT_EQ(dry.invalid_row_count(), 6);
  EXPECT_EQ(Findings(dry), findings);
  EXPECT_TRUE(dry.name().empty());

  Job uploaded;
  ASSERT_TRUE(
      Upload(msp, file, false, &uploaded, "bulk-invite-upload", 1000, Job::INVITE_CUSTOMERS).ok());
  EXPECT_EQ(Findings(uploaded), findings);
  EXPECT_EQ(EmailsTo(one.contact().work_email(), 0), 0u) << "an upload sends nothing";
  cv1::Operation op;
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, uploaded.name(), &op).ok());
  const Job ended = WaitUntilEnded(msp, uploaded.name());
  EXPECT_EQ(ended.state(), Job::SUCCEEDED);
  EXPECT_EQ(ended.rows_done(), 8);
  EXPECT_EQ(ended.rows_created(), 2);
  EXPECT_EQ(ended.rows_failed(), 6);

  // Each invited customer's super admin gets one email; the others none from this MSP.
  EXPECT_EQ(EmailsTo(one.contact().work_email(), 1), 1u);
  EXPECT_EQ(EmailsTo(clash_a.contact().work_email(), 1), 1u);
  EXPECT_EQ(EmailsTo(clash_b.contact().work_email(), 0), 0u);
  EXPECT_EQ(EmailsTo(elsewhere.contact().work_email(), 1), 1u);

  // The invited customer's trail names the job's row and the admin who ran it.
  auto customer_stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  grpc::ClientContext events_context;
  Prepare(events_context, msp);
  cv1::ListCustomerEventsRequest events_request;
  events_request.set_parent(absl::StrCat("msps/", msp, "/customers/", one.customer_id()));
  cv1::ListCustomerEventsResponse events;
  const auto events_status =
      customer_stub->ListCustomerEvents(&events_context, events_request, &events);
  ASSERT_TRUE(events_status.ok()) << events_status.error_message();
  const std::string job_id = uploaded.name().substr(uploaded.name().rfind('/') + 1);
  bool invited = false;
  for (const auto& e : events.events()) {
    if (e.action() != "INVITED") continue;
    invited = true;
    EXPECT_EQ(e.request_id(), absl::StrCat("bulkJobs/", job_id, "/rows/1"));
    EXPECT_EQ(e.actor(), "msp-admin:admin via service:customer via service:onboarding-invitation");
  }
  EXPECT_TRUE(invited);

  // The result, byte for byte.
  const std::string expected = absl::StrCat(
      "row,line,outcome,customer_id,field,reason\r\n", "1,2,INVITED,", one.customer_id(), ",,\r\n",
      "2,3,INVALID,,customer_id,no Samsung Knox customer has this id\r\n",
      "3,4,INVALID,,customer_id,the same customer as row 1\r\n",
      "4,5,INVALID,,management_type,\"the customer's super admin has a free-mail address: it "
      "can't be jointly managed; invite it as fully managed\"\r\n",
      "5,6,INVALID,,customer_id,the customer has an open invitation from an MSP\r\n",
      "6,7,INVITED,", clash_a.customer_id(), ",,\r\n",
      "7,8,INVALID,,knox_manage_tenant_prefix,Knox Manage tenant id hq.invite-clash-", tag,
      ".example is row 6's: give this row a prefix of its own\r\n",
      "8,9,INVALID,,services,Knox Guard is not offered to existing customers\r\n");
  EXPECT_EQ(Download(msp, uploaded.name()), expected);
}

TEST(BulkJobs, AnotherMspSeesNoJob) {
  Job uploaded;
  ASSERT_TRUE(Upload("bulk-owner", ValidBulkCsv("owner", 2), false, &uploaded).ok());
  Job job;
  auto status =
      CallJobs(&cv1::BulkJobService::Stub::GetBulkJob, "bulk-other", uploaded.name(), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  cv1::Operation op;
  status = CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, "bulk-other", uploaded.name(), &op);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  status = CallJobs(&cv1::BulkJobService::Stub::CancelBulkJob, "bulk-other", uploaded.name(), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get("bulk-owner", uploaded.name()).state(), Job::VALIDATED);
}

// Waits for a process to end by itself (a failpoint killed it).
bool WaitForExit(const std::string& service, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (!stack->service(service).process->Running()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Uploads and runs `file` on a customer service that dies (failpoint
// customer.bulk.before_record) between a batch's writes and their record, recording no progress
// before; returns the job once the process is reaped (no name: it failed).
Job RunUntilKilledBeforeTheRecord(const std::string& msp, const std::string& file, Job::Kind kind) {
  Job uploaded;
  EXPECT_GE(stack->StopService("customer", SIGTERM), 0);
  // Progress recorded only at the batch's end: the failpoint then leaves the batch's rows
  // written and unrecorded, whatever the machine's speed.
  stack->StartService("customer",
                      {"--bulk_job_lease_ms=1500", "--bulk_progress_interval_ms=600000"},
                      {{"MSP_FAILPOINTS", "customer.bulk.before_record"}});
  if (!Upload(msp, file, false, &uploaded, "", 1000, kind).ok()) return Job();
  EXPECT_EQ(uploaded.invalid_row_count(), 0);
  cv1::Operation op;
  if (!CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, uploaded.name(), &op).ok()) {
    return Job();
  }
  if (!WaitForExit("customer", std::chrono::seconds(60))) return Job();
  stack->StopService("customer", SIGKILL);  // reaps it
  return uploaded;
}

// Rows the MSP's job recorded as created (or invited).
int64_t RowsRecorded(pg::Connection& conn, const std::string& msp) {
  return conn.Exec("SELECT rows_created FROM customer.bulk_jobs WHERE msp_id = $1", {msp})
      .Int64(0, 0);
}

TEST(BulkJobs, KilledBetweenABatchsCommitAndItsRecordTheJobResumesWithoutDuplicates) {
  const std::string msp = "bulk-kill";
  const int rows = 300;
  // The first batch commits its customers, then the process dies before recording them.
  const Job uploaded =
      RunUntilKilledBeforeTheRecord(msp, ValidBulkCsv("kill", rows), Job::CREATE_CUSTOMERS);
  ASSERT_FALSE(uploaded.name().empty());
  pg::Connection conn(stack->database_url(), 5000);
  // Customers committed and not recorded: what the resumed job must answer, not make again.
  const int64_t committed =
      conn.Exec("SELECT count(*) FROM customer.customers WHERE msp_id = $1", {msp}).Int64(0, 0);
  EXPECT_GT(committed, RowsRecorded(conn, msp));

  // Restarted, it takes the job back once the dead runner's lease runs out, and goes on.
  stack->StartService("customer", {"--bulk_job_lease_ms=1500"});
  const Job ended = WaitUntilEnded(msp, uploaded.name());
  EXPECT_EQ(ended.state(), Job::SUCCEEDED);
  EXPECT_EQ(ended.rows_created(), rows);
  EXPECT_EQ(ended.rows_failed(), 0);
  const auto customers = CustomersByCompany(msp);  // fails on a company listed twice
  EXPECT_EQ(customers.size(), static_cast<size_t>(rows));
  // Every row's customer is the one listed under its company.
  const std::string result = Download(msp, uploaded.name());
  std::set<std::string> ids;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(result, "\r\n", absl::SkipEmpty())) {
    if (line_number++ == 0) continue;
    const std::vector<std::string> cells = absl::StrSplit(line, ',');
    ASSERT_EQ(cells.size(), 6u) << line;
    EXPECT_EQ(cells[2], "CREATED");
    EXPECT_EQ(customers.at(absl::StrCat("kill ", cells[0], " GmbH")), cells[3]);
    ids.insert(cells[3]);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(rows));
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer");
}

// The same crash in an invitation job: the invitations the first run sent are answered again by
// the onboarding service under each row's request id, never sent twice.
TEST(BulkJobs, KilledMidInvitationsTheResumedJobSendsNoSecondInvitation) {
  const std::string msp = "bulk-invite-kill";
  const int rows = 20;
  std::string file = kInviteCsvHeader;
  std::vector<std::string> emails;
  for (int i = 0; i < rows; ++i) {
    emails.push_back(absl::StrCat("it@invite-kill-", ::getpid(), "-", i, ".example"));
    const auto knox = KnoxCustomer(absl::StrCat("Invite Kill ", i, " BV"), emails.back());
    file += InviteCsvRow(knox.customer_id(), "FULLY_MANAGED", "KNOX_CONFIGURE");
  }
  const Job uploaded = RunUntilKilledBeforeTheRecord(msp, file, Job::INVITE_CUSTOMERS);
  ASSERT_FALSE(uploaded.name().empty());
  pg::Connection conn(stack->database_url(), 5000);
  auto invitations = [&] {
    return conn.Exec("SELECT count(*) FROM onboarding.link_requests WHERE msp_id = $1", {msp})
        .Int64(0, 0);
  };
  // Rows sent and not recorded: what the resumed job must answer without sending again. (Not
  // necessarily every row: a call the onboarding service could not answer at once, its channel
  // back to the restarted customer service still reconnecting, leaves its row for a later turn.)
  EXPECT_GT(invitations(), RowsRecorded(conn, msp));

  stack->StartService("customer", {"--bulk_job_lease_ms=1500"});
  const Job ended = WaitUntilEnded(msp, uploaded.name());
  EXPECT_EQ(ended.state(), Job::SUCCEEDED);
  EXPECT_EQ(ended.rows_created(), rows);
  EXPECT_EQ(ended.rows_failed(), 0);
  EXPECT_EQ(invitations(), rows);
  for (const auto& email : emails) EXPECT_EQ(EmailsTo(email, 1), 1u) << email;
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer");
}

TEST(BulkJobs, ACancelledJobStopsAndItsRowsSayCancelled) {
  const std::string msp = "bulk-cancel";
  // One row at a time and at most one job: slow enough to cancel, and a second job waits.
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer", {"--bulk_rows_in_flight=1", "--bulk_max_running_jobs=1"});
  const int rows = 3000;
  Job big;
  ASSERT_TRUE(Upload(msp, ValidBulkCsv("cancel", rows), false, &big, "", 64 * 1024).ok());
  Job second;
  ASSERT_TRUE(Upload(msp, ValidBulkCsv("second", 2), false, &second).ok());
  cv1::Operation op;
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, big.name(), &op).ok());
  auto status = CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, second.name(), &op);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(testing::DetailsOf(status).reason, "TOO_MANY_RUNNING_JOBS");

  Job cancelled;
  ASSERT_TRUE(
      CallJobs(&cv1::BulkJobService::Stub::CancelBulkJob, msp, big.name(), &cancelled).ok());
  EXPECT_TRUE(cancelled.state() == Job::CANCELLING || cancelled.state() == Job::CANCELLED)
      << cancelled.ShortDebugString();
  const Job ended = WaitUntilEnded(msp, big.name());
  ASSERT_EQ(ended.state(), Job::CANCELLED);
  EXPECT_LT(ended.rows_created(), rows);
  EXPECT_EQ(ended.rows_created() + ended.rows_failed(), rows);
  EXPECT_EQ(CustomersByCompany(msp).size(), static_cast<size_t>(ended.rows_created()));
  // The result: CREATED rows, then CANCELLED ones.
  const std::string result = Download(msp, big.name());
  int created = 0, left_out = 0;
  for (absl::string_view line : absl::StrSplit(result, "\r\n", absl::SkipEmpty())) {
    if (absl::StrContains(line, ",CREATED,")) ++created;
    if (absl::StrContains(line, ",CANCELLED,")) ++left_out;
  }
  EXPECT_EQ(created, ended.rows_created());
  EXPECT_EQ(left_out, rows - ended.rows_created());

  // The MSP's slot is free again; a VALIDATED job cancelled ends at once, and never runs.
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, second.name(), &op).ok());
  EXPECT_EQ(WaitUntilEnded(msp, second.name()).state(), Job::SUCCEEDED);
  Job never;
  ASSERT_TRUE(Upload(msp, ValidBulkCsv("never", 2), false, &never).ok());
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::CancelBulkJob, msp, never.name(), &never).ok());
  EXPECT_EQ(never.state(), Job::CANCELLED);
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, never.name(), &op).ok());
  EXPECT_TRUE(op.done());
  EXPECT_EQ(op.response().state(), Job::CANCELLED);
  EXPECT_EQ(CustomersByCompany(msp).count("never 1 GmbH"), 0u);
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer");
}

// Jobs take turns a batch at a time: a small import does not wait for another MSP's long one.
TEST(BulkJobs, AnotherMspsLongImportDoesNotHoldBackAShortOne) {
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer", {"--bulk_rows_in_flight=1"});
  Job long_job, short_job;
  ASSERT_TRUE(
      Upload("bulk-long", ValidBulkCsv("long", 5000), false, &long_job, "", 64 * 1024).ok());
  ASSERT_TRUE(Upload("bulk-short", ValidBulkCsv("short", 600), false, &short_job).ok());
  cv1::Operation op;
  ASSERT_TRUE(
      CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, "bulk-long", long_job.name(), &op).ok());
  ASSERT_TRUE(
      CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, "bulk-short", short_job.name(), &op).ok());
  EXPECT_EQ(WaitUntilEnded("bulk-short", short_job.name()).rows_created(), 600);
  // Two turns of the short job came between the long one's: it is far from its end.
  const Job meanwhile = Get("bulk-long", long_job.name());
  EXPECT_EQ(meanwhile.state(), Job::RUNNING);
  EXPECT_LT(meanwhile.rows_done(), 5000);
  Job cancelled;
  ASSERT_TRUE(
      CallJobs(&cv1::BulkJobService::Stub::CancelBulkJob, "bulk-long", long_job.name(), &cancelled)
          .ok());
  EXPECT_EQ(WaitUntilEnded("bulk-long", long_job.name()).state(), Job::CANCELLED);
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer");
}

// Watches hold no server thread while they wait: 20 watchers of a job held to a small budget,
// on a server of 8 handler threads, each get the job to its end, a caller that stops watching
// leaves cleanly, and other calls are answered meanwhile.
TEST(BulkJobs, WatchersOfARunningJobHoldNoServerThread) {
  const std::string msp = "bulk-watchers";
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  // The job is held to 40 rows a second beyond what lies above half the burst (100 rows), so
  // it runs for seconds; the watchers' calls come out of the admins' half.
  stack->StartService("customer", {"--max_threads=8", "--tenant_rate_limit_qps=40",
                                   "--tenant_rate_limit_burst=200"});
  const int rows = 400;
  Job uploaded;
  ASSERT_TRUE(Upload(msp, ValidBulkCsv("watchers", rows), false, &uploaded, "", 64 * 1024).ok());
  cv1::Operation op;
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, uploaded.name(), &op).ok());

  constexpr int kWatchers = 20;
  constexpr int kLeaving = 4;  // stop watching after the first message
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  std::vector<Job> last(kWatchers + kLeaving);
  std::vector<grpc::StatusCode> ends(kWatchers + kLeaving, grpc::StatusCode::UNKNOWN);
  std::vector<std::thread> watchers;
  for (int i = 0; i < kWatchers + kLeaving; ++i) {
    watchers.emplace_back([&, i] {
      grpc::ClientContext context;
      Prepare(context, msp);
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      cv1::WatchBulkJobRequest request;
      request.set_name(uploaded.name());
      auto stub = Jobs();
      auto reader = stub->WatchBulkJob(&context, request);
      Job job;
      bool first = true;
      while (reader->Read(&job)) {
        last[static_cast<size_t>(i)] = job;
        if (first) {
          first = false;
          std::lock_guard lock(mu);
          ++started;
          cv.notify_all();
        }
        if (i >= kWatchers) context.TryCancel();
      }
      ends[static_cast<size_t>(i)] = reader->Finish().error_code();
    });
  }
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return started == kWatchers + kLeaving; }))
        << started << " watchers had their first message";
  }
  // More streams open than the server has threads, and a read still gets its answer.
  const Job read = Get(msp, uploaded.name());
  EXPECT_EQ(read.state(), Job::RUNNING)
      << "the job ended before the reads: the test proves nothing";
  for (auto& t : watchers) t.join();
  for (int i = 0; i < kWatchers; ++i) {
    EXPECT_EQ(ends[static_cast<size_t>(i)], grpc::StatusCode::OK) << "watcher " << i;
    EXPECT_EQ(last[static_cast<size_t>(i)].state(), Job::SUCCEEDED) << "watcher " << i;
    EXPECT_EQ(last[static_cast<size_t>(i)].rows_created(), rows) << "watcher " << i;
  }
  for (int i = kWatchers; i < kWatchers + kLeaving; ++i) {
    EXPECT_EQ(ends[static_cast<size_t>(i)], grpc::StatusCode::CANCELLED) << "watcher " << i;
  }
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer");
}

TEST(BulkJobs, AJobSharesItsMspsRateBudgetAndTheAdminsComeFirst) {
  const std::string msp = "bulk-budget";
  // 50 calls a second for the MSP, the same on every replica (one here).
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer", {"--tenant_rate_limit_qps=50", "--tenant_rate_limit_burst=50"});
  const int rows = 250;
  Job uploaded;
  ASSERT_TRUE(Upload(msp, ValidBulkCsv("budget", rows), false, &uploaded, "", 64 * 1024).ok());
  cv1::Operation op;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(CallJobs(&cv1::BulkJobService::Stub::RunBulkJob, msp, uploaded.name(), &op).ok());
  // An admin at work meanwhile: 20 reads a second for 3 s, none refused. What they read is the
  // job's progress as it goes (not a batch at a time): rows done, the rate and the time left.
  int refused = 0, answered = 0;
  bool progress_seen = false;
  for (int i = 0; i < 60; ++i) {
    Job job;
    const auto status =
        CallJobs(&cv1::BulkJobService::Stub::GetBulkJob, msp, uploaded.name(), &job);
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++refused;
    if (status.ok()) ++answered;
    if (status.ok() && job.state() == Job::RUNNING && job.rows_done() > 0 &&
        job.rows_done() < rows && job.rows_per_second() > 0 && job.has_estimated_time_left() &&
        job.estimated_time_left().seconds() > 0) {
      progress_seen = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(answered, 60);
  EXPECT_TRUE(progress_seen) << "no progress while the job ran";
  const Job ended = WaitUntilEnded(msp, uploaded.name());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ended.rows_created(), rows);
  // The job kept within the budget: what lay above half the burst at the start (25), then what
  // the refill gave beyond the admin's reads. Unlimited, it takes well under a second.
  EXPECT_GT(seconds, 3.5) << "the job did not take its rows from the MSP's budget";
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer");
}

}  // namespace
}  // namespace msp
