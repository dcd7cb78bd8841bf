// The soak and fault driver: a running suite, a mixed workload from several client threads that
// records every acknowledged result, and one fault per scenario. After each scenario the
// services are checked against the record: nothing acknowledged lost, nothing duplicated, every
// saga converged. The suite is the whole suite on loopback, started by the driver (LocalSuite:
// real PostgreSQL with fsync and synchronous commit, redis-server with AOF, an SMTP server, the
// four service binaries), or with --cluster the replicas of tools/cluster (ClusterSuite).
//
//   msp_soak [--seconds 20] [--workers 4] [--scenarios kill-customer,pg-crash,...]
//            [--cluster .local/cluster/cluster.json]
//
// Prints one line per scenario and exits non-zero when any scenario lost, duplicated or did
// not converge.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cluster_suite.h"
#include "ha_suite.h"
#include "local_suite.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/channels.h"
#include "msp/common/identities.h"
#include "msp/common/metrics.h"
#include "msp/common/timestamps.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "stack.h"
#include "suite.h"
#include "testdata/sample_customers.h"

ABSL_FLAG(int, seconds, 20, "workload seconds per scenario (the fault comes at a third)");
ABSL_FLAG(int, workers, 4, "client threads");
ABSL_FLAG(std::string, scenarios, "all", "comma-separated scenario names, or all");
ABSL_FLAG(bool, log_failures, false, "print every failed attempt (time, code, message) to stderr");
ABSL_FLAG(int, converge_seconds, 90, "how long sagas and the read model may take to converge");
ABSL_FLAG(bool, ha, false,
          "run the suite on loopback on highly available backends (a Patroni pair, Redis with "
          "Sentinels) with their failover scenarios instead");
ABSL_FLAG(std::string, cluster, "",
          "the description of a running tools/cluster topology (its cluster.json): soak its "
          "replicas with its scenarios instead of starting the suite on loopback");

namespace msp::soak {
namespace {

namespace av1 = assignment::v1;
namespace cv1 = customer::v1;
namespace ov1 = onboarding::v1;
namespace rv1 = reporting::v1;

// ---------------------------------------------------------------------------------------------
// What the clients saw.

struct Stats {
  std::mutex mu;
  int64_t attempted = 0;                  // logical operations (a retried write counts once)
  int64_t acknowledged = 0;               // writes answered OK (reads answered OK)
  std::map<std::string, int64_t> errors;  // every failed attempt, by code
  std::map<std::string, int64_t> acked_by_kind;
  void Attempt() {
    std::lock_guard<std::mutex> lock(mu);
    ++attempted;
  }
  void Ack(const char* kind) {
    std::lock_guard<std::mutex> lock(mu);
    ++acknowledged;
    ++acked_by_kind[kind];
  }
  // A read: acknowledged or failed (reads are not retried).
  void Read(const grpc::Status& status, const char* kind) {
    if (status.ok()) {
      Ack(kind);
    } else {
      Error(status);
    }
  }
  void Error(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu);
    ++errors[StatusCodeName(status.error_code())];
    if (absl::GetFlag(FLAGS_log_failures)) {
      std::fprintf(stderr, "%lld %s %s\n",
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              Clock::now().time_since_epoch())
                                              .count()),
                   StatusCodeName(status.error_code()).c_str(), status.error_message().c_str());
    }
  }
};

// One customer a worker created: what was acknowledged about it, and what may have happened
// after that without an answer (a write whose outcome the client never learned).
struct CustomerRecord {
  std::string email;  // unique per create: finds duplicates
  std::string request_id;
  bool acked = false;  // false: the create's outcome is unknown (may or may not exist)
  bool jointly_managed = false;
  std::string name;                          // resource name, when acked
  std::string company;                       // the last acknowledged company name
  std::vector<std::string> company_unknown;  // later updates with unknown outcome
  int64_t devices = -1;                      // the last acknowledged KME device count (-1: none)
  std::vector<int64_t> devices_unknown;
  // Onboarded through an invitation (an existing Knox customer) rather than created.
  bool invited = false;
  // A delink was requested (acknowledged or not): no more edits; `delinked` once the
  // customer's acceptance was acknowledged.
  bool delink_requested = false;
  bool delinked = false;
};

// The link of the newest email to `to` whose link names `kind` (invitations or
// delinkRequests): the resource name and the token. Waits up to `timeout`.
std::optional<std::pair<std::string, std::string>> WaitForLink(const Suite& suite,
                                                               const std::string& to,
                                                               const std::string& kind,
                                                               std::chrono::seconds timeout) {
  static const std::regex kLink(
      "(?:invitation|request)=msps%2F([a-z0-9-]+)%2F(invitations|delinkRequests)%2F([a-z2-7]+)"
      "&token=([A-Za-z0-9_-]+)");
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    std::optional<std::pair<std::string, std::string>> found;
    for (const auto& m : suite.Emails()) {
      if (m.find("X-RcptTo: " + to) == std::string::npos) continue;
      const std::string body = testing::EmailBody(m);
      std::smatch match;
      if (std::regex_search(body, match, kLink) && match[2].str() == kind) {
        found = std::make_pair(
            absl::StrCat("msps/", match[1].str(), "/", match[2].str(), "/", match[3].str()),
            match[4].str());
      }
    }
    if (found) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::ABORTED ||
         code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::UNKNOWN;
}

std::shared_ptr<grpc::Channel> ClientChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // Reconnect within a second of a restart: the suite's recovery is measured, not the client's
  // backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  SpreadOverReplicas(args);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// Calls `attempt` (returning a status) until it succeeds, fails for good, or the budget ends.
// Every failed attempt is counted by code.
grpc::Status WithRetries(Stats& stats, const std::function<grpc::Status()>& attempt,
                         std::chrono::seconds budget = std::chrono::seconds(20)) {
  const auto until = Clock::now() + budget;
  auto backoff = std::chrono::milliseconds(50);
  while (true) {
    grpc::Status status = attempt();
    if (status.ok()) return status;
    stats.Error(status);
    if (!Retryable(status.error_code()) || Clock::now() + backoff > until) return status;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

void Authorize(grpc::ClientContext& context, const std::string& token, int deadline_ms = 5000) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  testing::Authorize(context, token);
}

// ---------------------------------------------------------------------------------------------
// The workload.

class Workload {
 public:
  Workload(Suite& suite, std::string msp, int workers)
      : suite_(suite), msp_(std::move(msp)), records_(workers) {
    token_ = suite_.MspToken(msp_);
    device_reports_token_ =
        suite_.ServiceToken(std::string(identity::KnoxBackend(av1::KNOX_MOBILE_ENROLLMENT)));
    knox_accounts_token_ = suite_.ServiceToken(identity::kKnoxAccounts);
    for (int w = 0; w < workers; ++w) {
      threads_.emplace_back([this, w] { Run(w); });
    }
  }
  ~Workload() { Stop(); }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  Stats& stats() { return stats_; }
  // Invitation or delink emails that never came (each is a saga that did not converge).
  int64_t missing_emails() const { return missing_emails_.load(); }
  // Every customer any worker created (after Stop).
  std::vector<CustomerRecord> Records() const {
    std::vector<CustomerRecord> all;
    for (const auto& r : records_) all.insert(all.end(), r.begin(), r.end());
    all.insert(all.end(), probes_.begin(), probes_.end());
    return all;
  }
  // Recovery: from `healed`, a call to `service` every 50 ms on a fresh connection (so that
  // the client's own reconnect backoff is not measured) until the service answers: for the
  // customer service a create (recorded like the workers' own, and acknowledged), for the
  // others a read (any answer but UNAVAILABLE or DEADLINE_EXCEEDED). How long that took.
  std::optional<std::chrono::milliseconds> Probe(const std::string& service,
                                                 Clock::time_point healed,
                                                 std::chrono::seconds limit) {
    int n = 0;
    while (Clock::now() < healed + limit) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      SpreadOverReplicas(args);
      auto channel = grpc::CreateCustomChannel(suite_.target(service),
                                               grpc::InsecureChannelCredentials(), args);
      grpc::ClientContext context;
      Authorize(context, token_, 2000);
      grpc::Status status;
      if (service == "customer") {
        CustomerRecord record = NewRecord("probe", ++n);
        cv1::Customer out;
        stats_.Attempt();
        status = cv1::CustomerService::NewStub(channel)->CreateCustomer(
            &context, CreateRequest(record), &out);
        if (status.ok()) {
          stats_.Ack("create");
          record.acked = true;
          record.name = out.name();
        }
        std::lock_guard<std::mutex> lock(probe_mu_);
        probes_.push_back(std::move(record));
      } else if (service == "service-assignment") {
        av1::BatchGetCustomerServicesRequest request;
        request.set_parent("msps/" + msp_);
        av1::BatchGetCustomerServicesResponse out;
        status = av1::ServiceAssignmentService::NewStub(channel)->BatchGetCustomerServices(
            &context, request, &out);
      } else if (service == "reporting") {
        rv1::QueryCustomerTableRequest request;
        request.set_parent("msps/" + msp_);
        rv1::QueryCustomerTableResponse out;
        status =
            rv1::ReportingService::NewStub(channel)->QueryCustomerTable(&context, request, &out);
      } else {
        ov1::GetInvitationRequest request;
        request.set_name(absl::StrCat("msps/", msp_, "/invitations/aaaaaaaaaaaaaaaa"));
        ov1::Invitation out;
        status = ov1::OnboardingService::NewStub(channel)->GetInvitation(&context, request, &out);
      }
      const auto code = status.error_code();
      if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::DEADLINE_EXCEEDED &&
          code != grpc::StatusCode::UNKNOWN && code != grpc::StatusCode::CANCELLED &&
          (service != "customer" || status.ok())) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - healed);
      }
      if (!status.ok()) stats_.Error(status);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

 private:
  void Run(int worker) {
    auto customers = cv1::CustomerService::NewStub(ClientChannel(suite_.target("customer")));
    auto assignment =
        av1::ServiceAssignmentService::NewStub(ClientChannel(suite_.target("service-assignment")));
    auto reporting = rv1::ReportingService::NewStub(ClientChannel(suite_.target("reporting")));
    auto onboarding =
        ov1::OnboardingService::NewStub(ClientChannel(suite_.target("onboarding-invitation")));
    std::mt19937 random(static_cast<uint32_t>(worker * 7919 + 17));
    auto& mine = records_[worker];
    int n = 0;
    while (!stop_) {
      ++n;
      const int dice = static_cast<int>(random() % 100);
      std::vector<size_t> editable;    // acknowledged, and no delink asked for
      std::vector<size_t> delinkable;  // jointly managed ones among them
      for (size_t i = 0; i < mine.size(); ++i) {
        if (!mine[i].acked || mine[i].delink_requested) continue;
        editable.push_back(i);
        if (mine[i].jointly_managed) delinkable.push_back(i);
      }
      if (dice < 30 || editable.empty()) {
        Create(*customers, worker, n, mine);
      } else if (dice < 52) {
        Update(*customers, mine[editable[random() % editable.size()]], n);
      } else if (dice < 65) {
        ReportDevices(*assignment, mine[editable[random() % editable.size()]], n);
      } else if (dice < 70) {
        Invite(*customers, *onboarding, worker, n, mine);
      } else if (dice < 73 && !delinkable.empty()) {
        Delink(*onboarding, mine[delinkable[random() % delinkable.size()]], n);
      } else if (dice < 90) {
        QueryTable(*reporting);
      } else if (dice < 98) {
        ListCustomers(*customers);
      } else {
        Export(*reporting);
      }
      // About 20 operations a second per worker: a steady load the checks can follow.
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  }

  CustomerRecord NewRecord(const std::string& who, int n) const {
    CustomerRecord record;
    record.request_id = absl::StrCat(msp_, "-", who, "-", n);
    record.email = absl::StrCat("c", who, "-", n, "@", msp_, ".example");
    record.jointly_managed = n % 3 == 0;
    record.company = absl::StrCat("Soak ", who, "-", n, " GmbH");
    return record;
  }

  cv1::CreateCustomerRequest CreateRequest(const CustomerRecord& record) const {
    cv1::CreateCustomerRequest request;
    request.set_parent("msps/" + msp_);
    request.set_request_id(record.request_id);
    *request.mutable_customer() = customer::testdata::ValidCustomer(
        record.company, record.email,
        record.jointly_managed ? cv1::JOINTLY_MANAGED : cv1::FULLY_MANAGED);
    request.add_services(av1::KNOX_MOBILE_ENROLLMENT);
    request.add_services(av1::KNOX_CONFIGURE);
    return request;
  }

  void Create(cv1::CustomerService::Stub& stub, int worker, int n,
              std::vector<CustomerRecord>& mine) {
    CustomerRecord record = NewRecord(std::to_string(worker), n);
    const auto request = CreateRequest(record);
    stats_.Attempt();
    cv1::Customer out;
    const auto status = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, token_);
      return stub.CreateCustomer(&context, request, &out);
    });
    if (status.ok()) {
      stats_.Ack("create");
      record.acked = true;
      record.name = out.name();
    }
    mine.push_back(std::move(record));
  }

  void Update(cv1::CustomerService::Stub& stub, CustomerRecord& record, int n) {
    const std::string company =
        absl::StrCat(record.company.substr(0, record.company.find(" r")), " r", n);
    cv1::UpdateCustomerRequest request;
    request.mutable_customer()->set_name(record.name);
    request.mutable_customer()->mutable_company()->set_display_name(company);
    request.mutable_update_mask()->add_paths("company.display_name");
    request.set_request_id(absl::StrCat(record.request_id, "-u", n));
    stats_.Attempt();
    cv1::Customer out;
    const auto status = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, token_);
      return stub.UpdateCustomer(&context, request, &out);
    });
    if (status.ok()) {
      stats_.Ack("update");
      record.company = company;
      record.company_unknown.clear();
    } else if (Retryable(status.error_code())) {
      record.company_unknown.push_back(company);
    }
  }

  void ReportDevices(av1::ServiceAssignmentService::Stub& stub, CustomerRecord& record, int n) {
    av1::ReportDeviceCountsRequest request;
    auto* report = request.add_reports();
    report->set_customer_id(record.name.substr(record.name.rfind('/') + 1));
    report->set_service(av1::KNOX_MOBILE_ENROLLMENT);
    report->set_device_count(n);
    SetTimestamp(report->mutable_observe_time(), std::chrono::system_clock::now());
    stats_.Attempt();
    av1::ReportDeviceCountsResponse out;
    const auto status = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, device_reports_token_);
      return stub.ReportDeviceCounts(&context, request, &out);
    });
    if (status.ok()) {
      stats_.Ack("devices");
      if (out.results_size() == 1 && out.results(0) == av1::ReportDeviceCountsResponse::APPLIED) {
        record.devices = n;
        record.devices_unknown.clear();
      }
    } else if (Retryable(status.error_code())) {
      record.devices_unknown.push_back(n);
    }
  }

  // An existing Knox customer invited by the MSP, the email read, the invitation accepted.
  void Invite(cv1::CustomerService::Stub& customers, ov1::OnboardingService::Stub& onboarding,
              int worker, int n, std::vector<CustomerRecord>& mine) {
    CustomerRecord record = NewRecord(absl::StrCat("knox", worker), n);
    record.invited = true;
    record.jointly_managed = false;
    stats_.Attempt();
    cv1::CreateKnoxCustomerRequest knox_request;
    *knox_request.mutable_customer() =
        customer::testdata::ValidCustomer(record.company, record.email);
    knox_request.add_services(av1::KNOX_MOBILE_ENROLLMENT);
    knox_request.set_request_id(record.request_id + "-knox");
    cv1::Customer knox;
    if (!WithRetries(stats_, [&] {
           grpc::ClientContext context;
           Authorize(context, knox_accounts_token_);
           return customers.CreateKnoxCustomer(&context, knox_request, &knox);
         }).ok()) {
      return;  // no invitation without the customer; nothing of the MSP's to check
    }
    ov1::CreateInvitationRequest invite;
    invite.set_parent("msps/" + msp_);
    invite.set_customer_id(knox.customer_id());
    invite.set_management_type(cv1::FULLY_MANAGED);
    invite.add_services(av1::KNOX_MOBILE_ENROLLMENT);
    invite.add_services(av1::KNOX_CONFIGURE);
    invite.set_request_id(record.request_id + "-invite");
    ov1::Invitation invitation;
    const auto invited = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, token_);
      return onboarding.CreateInvitation(&context, invite, &invitation);
    });
    if (!invited.ok()) return;  // an unanswered invitation stays PENDING: not checked
    const auto link = WaitForLink(suite_, record.email, "invitations", std::chrono::seconds(30));
    if (!link) {
      missing_emails_.fetch_add(1);
      return;
    }
    ov1::AcceptInvitationRequest accept;
    accept.set_name(link->first);
    accept.set_token(link->second);
    ov1::Invitation accepted;
    const std::string customer_token = suite_.CustomerToken(knox.customer_id());
    const auto status = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, customer_token);
      return onboarding.AcceptInvitation(&context, accept, &accepted);
    });
    record.name = absl::StrCat("msps/", msp_, "/customers/", knox.customer_id());
    // The customer exists either way: acknowledged means it must be the MSP's, ACTIVE, with
    // the invitation's services.
    record.acked = status.ok();
    if (status.ok()) stats_.Ack("invite+accept");
    mine.push_back(std::move(record));
  }

  // A delink of a jointly managed customer, accepted by the customer through the email's link.
  void Delink(ov1::OnboardingService::Stub& onboarding, CustomerRecord& record, int n) {
    record.delink_requested = true;
    stats_.Attempt();
    ov1::RequestDelinkRequest request;
    request.set_customer(record.name);
    request.set_request_id(absl::StrCat(record.request_id, "-delink", n));
    ov1::DelinkRequest delink;
    const auto requested = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, token_);
      return onboarding.RequestDelink(&context, request, &delink);
    });
    if (!requested.ok()) return;
    const auto link = WaitForLink(suite_, record.email, "delinkRequests", std::chrono::seconds(30));
    if (!link) {
      missing_emails_.fetch_add(1);
      return;
    }
    ov1::AcceptDelinkRequest accept;
    accept.set_name(link->first);
    accept.set_token(link->second);
    ov1::DelinkRequest accepted;
    const std::string customer_token =
        suite_.CustomerToken(record.name.substr(record.name.rfind('/') + 1));
    const auto status = WithRetries(stats_, [&] {
      grpc::ClientContext context;
      Authorize(context, customer_token);
      return onboarding.AcceptDelink(&context, accept, &accepted);
    });
    if (status.ok()) {
      stats_.Ack("delink+accept");
      record.delinked = true;
    }
  }

  void QueryTable(rv1::ReportingService::Stub& stub) {
    rv1::QueryCustomerTableRequest request;
    request.set_parent("msps/" + msp_);
    request.set_page_size(50);
    stats_.Attempt();
    rv1::QueryCustomerTableResponse out;
    grpc::ClientContext context;
    Authorize(context, token_);
    const auto status = stub.QueryCustomerTable(&context, request, &out);
    stats_.Read(status, "table");
  }

  void ListCustomers(cv1::CustomerService::Stub& stub) {
    cv1::ListCustomersRequest request;
    request.set_parent("msps/" + msp_);
    request.set_page_size(50);
    request.set_order_by("update_time desc");
    stats_.Attempt();
    cv1::ListCustomersResponse out;
    grpc::ClientContext context;
    Authorize(context, token_);
    const auto status = stub.ListCustomers(&context, request, &out);
    stats_.Read(status, "list");
  }

  void Export(rv1::ReportingService::Stub& stub) {
    rv1::ExportCustomersCsvRequest request;
    request.set_parent("msps/" + msp_);
    stats_.Attempt();
    grpc::ClientContext context;
    Authorize(context, token_, 30000);
    auto reader = stub.ExportCustomersCsv(&context, request);
    rv1::CsvChunk chunk;
    while (reader->Read(&chunk)) {
    }
    stats_.Read(reader->Finish(), "export");
  }

  Suite& suite_;
  std::string msp_;
  std::string token_;
  std::string device_reports_token_;
  std::string knox_accounts_token_;
  std::vector<std::vector<CustomerRecord>> records_;  // one per worker
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  Stats stats_;
  std::mutex probe_mu_;
  std::vector<CustomerRecord> probes_;
  std::atomic<int64_t> missing_emails_{0};
};

// ---------------------------------------------------------------------------------------------
// The checks after a scenario.

struct Verdict {
  int64_t customers = 0;      // acknowledged creates
  int64_t lost = 0;           // acknowledged writes not in the database
  int64_t duplicated = 0;     // customers (or emails) there more than once
  int64_t not_converged = 0;  // sagas or read-model rows that did not arrive in time
  std::vector<std::string> problems;
  double converge_seconds = 0;
};

void Problem(Verdict& v, std::string what) {
  if (v.problems.size() < 8) v.problems.push_back(std::move(what));
}

std::map<std::string, std::vector<cv1::Customer>> CustomersByEmail(Suite& suite,
                                                                   const std::string& msp) {
  auto stub = cv1::CustomerService::NewStub(ClientChannel(suite.target("customer")));
  std::map<std::string, std::vector<cv1::Customer>> by_email;
  std::string token;
  do {
    cv1::ListCustomersRequest request;
    request.set_parent("msps/" + msp);
    request.set_page_size(500);
    request.set_order_by("customer_id");
    request.set_page_token(token);
    cv1::ListCustomersResponse out;
    grpc::ClientContext context;
    Authorize(context, suite.MspToken(msp), 20000);
    const auto status = stub->ListCustomers(&context, request, &out);
    if (!status.ok()) throw std::runtime_error("list: " + status.error_message());
    for (const auto& c : out.customers()) by_email[c.contact().work_email()].push_back(c);
    token = out.next_page_token();
  } while (!token.empty());
  return by_email;
}

Verdict Verify(Suite& suite, const std::string& msp, const std::vector<CustomerRecord>& records,
               std::chrono::seconds converge) {
  Verdict v;
  const auto start = Clock::now();
  const auto until = start + converge;
  auto by_email = CustomersByEmail(suite, msp);

  // Creates: each acknowledged one there exactly once; an unknown one at most once; nothing
  // else there.
  std::set<std::string> emails;
  for (const auto& r : records) {
    emails.insert(r.email);
    const auto it = by_email.find(r.email);
    const size_t count = it == by_email.end() ? 0 : it->second.size();
    if (r.acked) ++v.customers;
    if (r.acked && count == 0) {
      ++v.lost;
      Problem(v, "acknowledged create missing: " + r.name);
    }
    if (count > 1) {
      v.duplicated += static_cast<int64_t>(count - 1);
      Problem(v, absl::StrCat("customer created ", count, " times: ", r.request_id));
    }
    if (r.acked && count >= 1) {
      const auto& stored = it->second.front();
      if (stored.name() != r.name) {
        ++v.lost;
        Problem(v, "acknowledged create answered " + r.name + " but stored " + stored.name());
      }
      const auto expected_state = r.delinked ? cv1::DELINKED : cv1::ACTIVE;
      if ((r.delinked || !r.delink_requested) && stored.state() != expected_state) {
        ++v.lost;
        Problem(v, absl::StrCat(r.name, " is ", cv1::State_Name(stored.state()), ", expected ",
                                cv1::State_Name(expected_state)));
      }
      const std::string company = stored.company().display_name();
      if (company != r.company && std::find(r.company_unknown.begin(), r.company_unknown.end(),
                                            company) == r.company_unknown.end()) {
        ++v.lost;
        Problem(v, "acknowledged update lost: " + r.name + " has '" + company +
                       "', acknowledged '" + r.company + "'");
      }
    }
  }
  for (const auto& [email, customers] : by_email) {
    if (!emails.count(email)) {
      v.duplicated += static_cast<int64_t>(customers.size());
      Problem(v, "a customer nobody created: " + email);
    }
  }

  // Sagas: every acknowledged customer's services ACTIVE; device counts as acknowledged.
  auto assignment =
      av1::ServiceAssignmentService::NewStub(ClientChannel(suite.target("service-assignment")));
  std::vector<const CustomerRecord*> pending;
  for (const auto& r : records) {
    if (r.acked) pending.push_back(&r);
  }
  while (!pending.empty()) {
    std::vector<const CustomerRecord*> still;
    for (const auto* r : pending) {
      av1::ListCustomerServicesRequest request;
      request.set_parent(r->name);
      av1::ListCustomerServicesResponse out;
      grpc::ClientContext context;
      Authorize(context, suite.MspToken(msp));
      const auto status = assignment->ListCustomerServices(&context, request, &out);
      int active = 0;
      int64_t devices = -1;
      for (const auto& s : out.services()) {
        if (s.state() == av1::AssignedService::ACTIVE) ++active;
        if (s.service() == av1::KNOX_MOBILE_ENROLLMENT) devices = s.device_count();
      }
      // A delinked customer has no ACTIVE service left (none at all if the delink came before
      // they were provisioned); everyone else's two are ACTIVE.
      const bool services_done = r->delinked ? active == 0 : active == 2;
      const bool devices_ok = r->devices < 0 || devices == r->devices ||
                              std::find(r->devices_unknown.begin(), r->devices_unknown.end(),
                                        devices) != r->devices_unknown.end();
      if (!status.ok() || !services_done) {
        still.push_back(r);
      } else if (!devices_ok) {
        ++v.lost;
        Problem(v, absl::StrCat("acknowledged device count lost: ", r->name, " shows ", devices,
                                ", acknowledged ", r->devices));
      }
    }
    pending.swap(still);
    if (pending.empty() || Clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (const auto* r : pending) {
    ++v.not_converged;
    Problem(v, (r->delinked ? "services still ACTIVE after the delink: "
                            : "services never became ACTIVE: ") +
                   r->name);
  }

  // Account-setup emails of jointly managed customers: one message each (a resend after a
  // crash keeps its Message-ID).
  std::map<std::string, std::set<std::string>> setup_mails;  // email -> Message-IDs
  std::set<std::string> jointly;
  for (const auto& r : records) {
    if (r.acked && r.jointly_managed) jointly.insert(r.email);
  }
  const std::regex rcpt("X-RcptTo: ([^\r\n]+)");
  const std::regex message_id("Message-ID: <(account-setup-[^>]+)>");
  while (true) {
    setup_mails.clear();
    for (const auto& m : suite.Emails()) {
      std::smatch to;
      std::smatch id;
      if (std::regex_search(m, to, rcpt) && std::regex_search(m, id, message_id) &&
          jointly.count(to[1].str())) {
        setup_mails[to[1].str()].insert(id[1].str());
      }
    }
    if (setup_mails.size() >= jointly.size() || Clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (const auto& email : jointly) {
    const auto it = setup_mails.find(email);
    if (it == setup_mails.end()) {
      ++v.not_converged;
      Problem(v, "no account-setup email for a jointly managed customer");
    } else if (it->second.size() > 1) {
      v.duplicated += static_cast<int64_t>(it->second.size() - 1);
      Problem(v, "account-setup email sent as different messages");
    }
  }

  // The read model: the table holds exactly the customers there are, with their names.
  by_email = CustomersByEmail(suite, msp);
  std::map<std::string, std::string> truth;  // name -> company
  for (const auto& [email, customers] : by_email) {
    for (const auto& c : customers) truth[c.name()] = c.company().display_name();
  }
  auto reporting = rv1::ReportingService::NewStub(ClientChannel(suite.target("reporting")));
  int64_t mismatched = 0;
  while (true) {
    std::map<std::string, std::string> table;
    std::string token;
    bool ok = true;
    do {
      rv1::QueryCustomerTableRequest request;
      request.set_parent("msps/" + msp);
      request.set_page_size(500);
      request.set_page_token(token);
      request.add_columns(rv1::NAME);
      rv1::QueryCustomerTableResponse out;
      grpc::ClientContext context;
      Authorize(context, suite.MspToken(msp), 20000);
      const auto status = reporting->QueryCustomerTable(&context, request, &out);
      if (!status.ok()) {
        ok = false;
        break;
      }
      for (const auto& row : out.rows()) table[row.customer()] = row.company_name();
      token = out.next_page_token();
    } while (!token.empty());
    mismatched = 0;
    for (const auto& [name, company] : truth) {
      const auto it = table.find(name);
      if (it == table.end() || it->second != company) ++mismatched;
    }
    for (const auto& [name, company] : table) {
      if (!truth.count(name)) ++mismatched;
    }
    if ((ok && mismatched == 0) || Clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (mismatched > 0) {
    v.not_converged += mismatched;
    Problem(v, absl::StrCat(mismatched, " table rows differ from the customer service"));
  }
  v.converge_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return v;
}

int Main() {
  const auto seconds = std::chrono::seconds(absl::GetFlag(FLAGS_seconds));
  const int workers = absl::GetFlag(FLAGS_workers);
  const std::string wanted = absl::GetFlag(FLAGS_scenarios);
  std::set<std::string> names;
  if (wanted != "all") {
    for (auto n : absl::StrSplit(wanted, ',', absl::SkipEmpty())) names.insert(std::string(n));
  }
  std::unique_ptr<Suite> suite_holder;
  if (!absl::GetFlag(FLAGS_cluster).empty()) {
    suite_holder = std::make_unique<ClusterSuite>(absl::GetFlag(FLAGS_cluster));
  } else if (absl::GetFlag(FLAGS_ha)) {
    suite_holder = std::make_unique<HaSuite>();
  } else {
    suite_holder = std::make_unique<LocalSuite>();
  }
  Suite& suite = *suite_holder;
  std::printf("%-26s %9s %9s %5s %5s %6s %8s %10s %9s  %s\n", "scenario", "attempted", "acked",
              "lost", "dup", "unconv", "recovery", "no-primary", "converge",
              "errors by code (failed attempts)");
  bool failed = false;
  int ran = 0;
  for (const auto& scenario : suite.Scenarios()) {
    if (!names.empty() && !names.count(scenario.name)) continue;
    ++ran;
    const std::string msp = "soak-" + scenario.name;
    Workload workload(suite, msp, workers);
    std::this_thread::sleep_for(seconds / 3);
    const auto fault_start = Clock::now();
    const FaultResult fault = scenario.inject();
    // Recovery: from the repair to the first create acknowledged after it.
    const auto recovered = workload.Probe(scenario.probe, fault.healed, std::chrono::seconds(30));
    const auto rest = seconds - seconds / 3 -
                      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - fault_start);
    if (rest.count() > 0) std::this_thread::sleep_for(rest);
    workload.Stop();
    Verdict verdict;
    try {
      verdict = Verify(suite, msp, workload.Records(),
                       std::chrono::seconds(absl::GetFlag(FLAGS_converge_seconds)));
    } catch (const std::exception& e) {
      verdict.not_converged = 1;
      verdict.problems.push_back(std::string("verification failed: ") + e.what());
    }
    if (workload.missing_emails() > 0) {
      verdict.not_converged += workload.missing_emails();
      verdict.problems.push_back(
          absl::StrCat(workload.missing_emails(), " invitation/delink emails never came"));
    }
    std::vector<std::string> errors;
    for (const auto& [code, count] : workload.stats().errors) {
      errors.push_back(absl::StrCat(code, "=", count));
    }
    const std::string recovery = recovered ? absl::StrCat(recovered->count(), " ms") : "never";
    const std::string no_primary =
        fault.no_primary ? absl::StrCat(fault.no_primary->count(), " ms") : "-";
    std::printf("%-26s %9lld %9lld %5lld %5lld %6lld %8s %10s %8.1fs  %s%s%s\n",
                scenario.name.c_str(), static_cast<long long>(workload.stats().attempted),
                static_cast<long long>(workload.stats().acknowledged),
                static_cast<long long>(verdict.lost), static_cast<long long>(verdict.duplicated),
                static_cast<long long>(verdict.not_converged), recovery.c_str(), no_primary.c_str(),
                verdict.converge_seconds,
                errors.empty() ? "none" : absl::StrJoin(errors, " ").c_str(),
                fault.note.empty() ? "" : "; ", fault.note.c_str());
    std::vector<std::string> kinds;
    for (const auto& [kind, count] : workload.stats().acked_by_kind) {
      kinds.push_back(absl::StrCat(kind, "=", count));
    }
    std::printf("    acknowledged: %s\n", absl::StrJoin(kinds, " ").c_str());
    for (const auto& p : verdict.problems) std::printf("    %s\n", p.c_str());
    std::fflush(stdout);
    if (verdict.lost > 0 || verdict.duplicated > 0 || verdict.not_converged > 0 || !recovered ||
        fault.note.find(": NO") != std::string::npos) {
      failed = true;
    }
  }
  if (ran == 0) {
    std::fprintf(stderr, "no scenario matches --scenarios=%s\n", wanted.c_str());
    return 2;
  }
  for (const auto& leak : suite.LogLeaks()) {
    std::printf("log line leaks: %s\n", leak.c_str());
    failed = true;
  }
  std::printf("soak: %s\n", failed ? "FAILED"
                                   : "every acknowledged write kept, none duplicated, "
                                     "every saga converged");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace msp::soak

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  return msp::soak::Main();
}
