// Adding customers with services while processes die: kill -9 of the customer service right
// after its commit and in the middle of a batch, and of the assignment service in the middle of
// a batch. After restarts every acknowledged customer has exactly the services it asked for,
// none twice, a retry with the same request_id returns the first answer and creates nothing,
// and no customer is half made.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/pg.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "stack.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Authorize;
using testing::Stack;
namespace av1 = assignment::v1;
namespace cv1 = customer::v1;

Stack* stack = nullptr;

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new testing::StackEnvironment(&stack, {"customer", "service-assignment"}));

grpc::Status Create(const std::string& msp, const std::string& request_id,
                    const std::vector<av1::KnoxService>& services, cv1::Customer* out) {
  auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
  cv1::CreateCustomerRequest request;
  request.set_parent("msps/" + msp);
  // Each request its own email domain, so Knox Manage tenant ids never clash.
  *request.mutable_customer() = customer::testdata::ValidCustomer(
      "Crash " + request_id, absl::StrCat("it@", request_id, ".crash.example"));
  for (auto s : services) request.add_services(s);
  request.set_request_id(request_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  Authorize(context, stack->MspToken(msp));
  return stub->CreateCustomer(&context, request, out);
}

// Calls that failed and were retried (the outage was real, not missed).
std::atomic<int> failed_attempts{0};

// Retries one create with its request id until it is answered (the service may be down).
cv1::Customer CreateUntilAnswered(const std::string& msp, const std::string& request_id,
                                  const std::vector<av1::KnoxService>& services) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < until) {
    cv1::Customer out;
    const auto status = Create(msp, request_id, services, &out);
    if (status.ok()) return out;
    ++failed_attempts;
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                status.error_code() == grpc::StatusCode::ABORTED)
        << status.error_code() << " " << status.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "never answered: " << request_id;
  return {};
}

int64_t Scalar(const std::string& sql, const std::vector<pg::Param>& params = {}) {
  pg::Connection conn(stack->database_url(), 5000);
  return conn.Exec(sql, params).Int64(0, 0);
}

// Waits until the customer service's outbox has delivered everything.
bool WaitForOutboxDrained(std::chrono::seconds timeout = std::chrono::seconds(90)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (Scalar("SELECT count(*) FROM customer.outbox WHERE delivered_at IS NULL") == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The services the assignment service holds for a customer, as (service -> rows).
std::map<int, int64_t> AssignedRows(const std::string& customer_id) {
  pg::Connection conn(stack->database_url(), 5000);
  auto r = conn.Exec(
      "SELECT service, count(*) FROM assignment.customer_services WHERE customer_id = $1 AND "
      "state = $2 GROUP BY service",
      {customer_id, std::to_string(av1::AssignedService::ACTIVE)});
  std::map<int, int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out[static_cast<int>(r.Int64(i, 0))] = r.Int64(i, 1);
  return out;
}

std::map<int, int64_t> Expected(const std::vector<av1::KnoxService>& services) {
  std::map<int, int64_t> out;
  for (auto s : services) out[s] = 1;
  return out;
}

std::vector<av1::KnoxService> RandomServices(std::mt19937& rng) {
  std::vector<av1::KnoxService> out;
  for (int s = av1::KNOX_MOBILE_ENROLLMENT; s <= av1::SAMSUNG_CARE_PLUS_FOR_BUSINESS; ++s) {
    if (rng() % 2 == 0) out.push_back(static_cast<av1::KnoxService>(s));
  }
  if (out.empty()) out.push_back(av1::KNOX_MANAGE);
  return out;
}

TEST(CreateCrash, CustomerServiceKilledRightAfterItsCommit) {
  ASSERT_GE(stack->StopService("customer", SIGTERM), 0);
  stack->StartService("customer", {}, {{"MSP_FAILPOINTS", "customer.create.after_commit"}});
  const std::vector<av1::KnoxService> services = {av1::KNOX_MOBILE_ENROLLMENT, av1::KNOX_MANAGE};
  cv1::Customer lost;
  const auto status = Create("crash-commit", "crash-commit-1", services, &lost);
  ASSERT_FALSE(status.ok()) << "the failpoint should have killed the service before answering";
  // It died after committing: the customer and its outbox message are there, unanswered.
  stack->StopService("customer", SIGKILL);
  EXPECT_EQ(Scalar("SELECT count(*) FROM customer.customers WHERE msp_id = 'crash-commit'"), 1);
  stack->StartService("customer");

  // The retry with the same request id gets the committed customer, and creates nothing.
  const auto answered = CreateUntilAnswered("crash-commit", "crash-commit-1", services);
  ASSERT_FALSE(answered.customer_id().empty());
  const auto again = CreateUntilAnswered("crash-commit", "crash-commit-1", services);
  EXPECT_EQ(again.SerializeAsString(), answered.SerializeAsString());
  EXPECT_EQ(Scalar("SELECT count(*) FROM customer.customers WHERE msp_id = 'crash-commit'"), 1);
  // The restarted relay delivers the assignment the dead process committed.
  ASSERT_TRUE(WaitForOutboxDrained());
  EXPECT_EQ(AssignedRows(answered.customer_id()), Expected(services));
}

// Runs `per_thread` creates on each of `threads` threads; `chaos` runs alongside once
// `trigger_after` creates are acknowledged. Returns request id -> (customer, services asked).
struct Outcome {
  cv1::Customer customer;
  std::vector<av1::KnoxService> services;
};
std::map<std::string, Outcome> CreateBatchWhile(const std::string& msp, int threads, int per_thread,
                                                int trigger_after,
                                                const std::function<void()>& chaos) {
  std::mutex mu;
  std::map<std::string, Outcome> outcomes;
  std::atomic<int> acknowledged{0};
  std::thread chaos_thread([&] {
    while (acknowledged.load() < trigger_after) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    chaos();
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      for (int i = 0; i < per_thread; ++i) {
        const std::string request_id = absl::StrCat(msp, "-", t, "-", i);
        const auto services = RandomServices(rng);
        auto customer = CreateUntilAnswered(msp, request_id, services);
        ++acknowledged;
        std::lock_guard lock(mu);
        outcomes[request_id] = {std::move(customer), services};
      }
    });
  }
  for (auto& w : workers) w.join();
  chaos_thread.join();
  return outcomes;
}

void ExpectEveryCustomerWhole(const std::string& msp,
                              const std::map<std::string, Outcome>& outcomes) {
  ASSERT_TRUE(WaitForOutboxDrained());
  // One customer per request id: no retry created a second one, nothing half made.
  EXPECT_EQ(Scalar("SELECT count(*) FROM customer.customers WHERE msp_id = $1", {msp}),
            static_cast<int64_t>(outcomes.size()));
  std::set<std::string> ids;
  for (const auto& [request_id, outcome] : outcomes) {
    ids.insert(outcome.customer.customer_id());
    EXPECT_EQ(AssignedRows(outcome.customer.customer_id()), Expected(outcome.services))
        << request_id;
  }
  EXPECT_EQ(ids.size(), outcomes.size());
  // No service twice anywhere, and none for customers that do not exist.
  EXPECT_EQ(Scalar("SELECT count(*) FROM assignment.customer_services s WHERE msp_id = $1 AND NOT "
                   "EXISTS (SELECT 1 FROM customer.customers c WHERE c.customer_id = "
                   "s.customer_id)",
                   {msp}),
            0);
}

TEST(CreateCrash, AssignmentServiceKilledDuringABatchOfCreates) {
  const auto outcomes = CreateBatchWhile("crash-assign", 4, 25, 20, [] {
    stack->StopService("service-assignment", SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stack->StartService("service-assignment");
  });
  ASSERT_EQ(outcomes.size(), 100u);
  ExpectEveryCustomerWhole("crash-assign", outcomes);
  // The outage was real: some deliveries failed and were retried.
  EXPECT_GT(Scalar("SELECT count(*) FROM customer.outbox WHERE msp_id = 'crash-assign' AND "
                   "attempts > 1"),
            0);
}

TEST(CreateCrash, CustomerServiceKilledDuringABatchOfCreates) {
  const int failed_before = failed_attempts.load();
  const auto outcomes = CreateBatchWhile("crash-customer", 4, 25, 20, [] {
    stack->StopService("customer", SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stack->StartService("customer");
  });
  ASSERT_EQ(outcomes.size(), 100u);
  EXPECT_GT(failed_attempts.load(), failed_before) << "no call saw the outage";
  ExpectEveryCustomerWhole("crash-customer", outcomes);
}

}  // namespace
}  // namespace msp
