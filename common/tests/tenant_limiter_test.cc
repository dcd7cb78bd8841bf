#include "msp/common/tenant_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "msp/common/errors.h"

namespace msp {
namespace {

using Clock = TenantLimiter::Clock;
using std::chrono::milliseconds;

auth::Principal Msp(const std::string& id) {
  auth::Principal p;
  p.kind = auth::PrincipalKind::kMspAdmin;
  p.msp_id = id;
  return p;
}

auth::Principal CustomerAdmin(const std::string& id) {
  auth::Principal p;
  p.kind = auth::PrincipalKind::kCustomerAdmin;
  p.customer_id = id;
  return p;
}

auth::Principal Service() {
  auth::Principal p;
  p.kind = auth::PrincipalKind::kService;
  p.subject = "reporting";
  return p;
}

// The reason of the ApiError Admit throws ("" when it admits).
std::string Refusal(TenantLimiter& limiter, const auth::Principal& principal, Clock::time_point now,
                    std::chrono::milliseconds* retry = nullptr) {
  try {
    limiter.Admit(principal, now);
    return "";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    if (retry != nullptr) {
      // The delay travels as RetryInfo in the status details.
      google::rpc::Status details;
      const grpc::Status status = e.ToStatus("test");
      EXPECT_TRUE(details.ParseFromString(status.error_details()));
      *retry = milliseconds(-1);
      for (const auto& any : details.details()) {
        google::rpc::RetryInfo info;
        if (any.UnpackTo(&info)) {
          *retry = milliseconds(info.retry_delay().seconds() * 1000 +
                                info.retry_delay().nanos() / 1000000);
        }
      }
    }
    return e.reason();
  }
}

TEST(TenantLimiter, ABurstPassesThenTheRateHoldsAndTheRetryDelaySaysWhen) {
  TenantLimiter limiter({/*calls_per_second=*/10, /*burst=*/5, /*max_concurrent_calls=*/0});
  const auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "") << i;
  milliseconds retry{0};
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0, &retry), "TENANT_RATE_LIMITED");
  EXPECT_EQ(retry, milliseconds(100));  // one call's worth of refill at 10/s
  // 100 ms later exactly one more call fits.
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0 + milliseconds(100)), "");
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0 + milliseconds(100)), "TENANT_RATE_LIMITED");
  // Over a long quiet spell the bucket fills to the burst, not beyond.
  const auto later = t0 + std::chrono::seconds(60);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Refusal(limiter, Msp("a"), later), "") << i;
  EXPECT_EQ(Refusal(limiter, Msp("a"), later), "TENANT_RATE_LIMITED");
}

TEST(TenantLimiter, TenantsHaveTheirOwnBudgetsAndServicesAreNotLimited) {
  TenantLimiter limiter({1, 2, 0});
  const auto t0 = Clock::now();
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "");
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "");
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_RATE_LIMITED");
  EXPECT_EQ(Refusal(limiter, Msp("b"), t0), "");
  // A customer admin whose id equals an MSP id is another tenant.
  EXPECT_EQ(Refusal(limiter, CustomerAdmin("a"), t0), "");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Refusal(limiter, Service(), t0), "");
}

TEST(TenantLimiter, ConcurrentCallsAreCappedUntilAPermitIsReleased) {
  TenantLimiter limiter({0, 0, 2});
  const auto t0 = Clock::now();
  std::vector<TenantLimiter::Permit> held;
  held.push_back(limiter.Admit(Msp("a"), t0));
  held.push_back(limiter.Admit(Msp("a"), t0));
  milliseconds retry{0};
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0, &retry), "TENANT_TOO_MANY_CALLS");
  EXPECT_GT(retry.count(), 0);
  EXPECT_EQ(Refusal(limiter, Msp("b"), t0), "");
  held.pop_back();  // one call finished
  held.push_back(limiter.Admit(Msp("a"), t0));
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_TOO_MANY_CALLS");
  // A moved permit is released once, by its last holder.
  TenantLimiter::Permit moved = std::move(held.back());
  held.pop_back();
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_TOO_MANY_CALLS");
  moved = TenantLimiter::Permit();
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "");
}

TEST(TenantLimiter, RefusedCallsTakeNoSlotAndNoTokens) {
  TenantLimiter limiter({1000, 1000, 1});
  const auto t0 = Clock::now();
  auto held = limiter.Admit(Msp("a"), t0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_TOO_MANY_CALLS");
  held = TenantLimiter::Permit();
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "");
}

// A shared store in memory (pure logic: the Redis one is tested against a real redis-server):
// one bucket a tenant that every limiter given it draws from, without refill (the tests say how
// much is there), and a replica count.
class FakeSharedBudget : public SharedTenantBudget {
 public:
  std::optional<Grant> Take(const std::string& tenant, double, double, int want,
                            double reserve) override {
    std::lock_guard<std::mutex> lock(mu);
    ++takes;
    if (!reachable) return std::nullopt;
    int& left = available[tenant];
    Grant grant;
    grant.calls = std::max(0, std::min(want, left - static_cast<int>(reserve)));
    left -= grant.calls;
    if (grant.calls == 0) grant.wait = milliseconds(250);
    return grant;
  }
  int Replicas() const override { return replicas; }

  std::mutex mu;
  std::map<std::string, int> available;
  int takes = 0;
  bool reachable = true;
  std::atomic<int> replicas{1};
};

// Two replicas' limiters draw one tenant's calls from one shared bucket: together they admit
// what it holds, and the refusal says when the bucket has a call again.
TEST(TenantLimiter, ReplicasDrawATenantsRateFromOneSharedBudget) {
  auto shared_a = std::make_unique<FakeSharedBudget>();
  FakeSharedBudget* store = shared_a.get();
  store->available["msp:a"] = 30;
  store->replicas = 2;
  // The second replica's limiter asks the same store (a forwarding budget).
  struct Forward : SharedTenantBudget {
    explicit Forward(FakeSharedBudget* to) : to(to) {}
    std::optional<Grant> Take(const std::string& t, double r, double b, int w,
                              double reserve) override {
      return to->Take(t, r, b, w, reserve);
    }
    int Replicas() const override { return to->Replicas(); }
    FakeSharedBudget* to;
  };
  TenantLimiter a({400, 400, 0}, std::move(shared_a));
  TenantLimiter b({400, 400, 0}, std::make_unique<Forward>(store));
  const auto t0 = Clock::now();
  int admitted = 0;
  std::string last;
  milliseconds retry{0};
  for (int i = 0; i < 100; ++i) {
    last = Refusal(i % 2 == 0 ? a : b, Msp("a"), t0, &retry);
    if (last.empty()) ++admitted;
  }
  EXPECT_EQ(admitted, 30);
  EXPECT_EQ(last, "TENANT_RATE_LIMITED");
  EXPECT_EQ(retry, milliseconds(250));  // the store's
  // Several calls a round trip (25 ms of 400/s = 10): 30 calls in three takes; then one refusal
  // from the store a replica, and the rest refused without asking it again until its wait ends.
  EXPECT_EQ(store->takes, 5);
  // Another tenant has a bucket of its own.
  store->available["msp:b"] = 1;
  EXPECT_EQ(Refusal(a, Msp("b"), t0), "");
}

// A bulk job's rows take from the MSP's budget only above half the burst: the MSP's admins always
// find that half, and while they use the rate the job waits; what they leave, the job gets.
TEST(TenantLimiter, BackgroundWorkLeavesTheAdminsHalfTheBurst) {
  TenantLimiter limiter({10, 10, 0});
  const auto t0 = Clock::now();
  EXPECT_EQ(limiter.TakeBackground("a", 100, t0).calls, 5);
  const auto none = limiter.TakeBackground("a", 100, t0);
  EXPECT_EQ(none.calls, 0);
  EXPECT_EQ(none.wait, milliseconds(100));  // one call more than the reserve, at 10/s
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "") << i;
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_RATE_LIMITED");
  // Admins busy: a second's refill (10) goes to them first; the job gets nothing while they are
  // below the reserve.
  const auto t1 = t0 + std::chrono::seconds(1);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Refusal(limiter, Msp("a"), t1), "") << i;
  EXPECT_EQ(limiter.TakeBackground("a", 100, t1).calls, 0);
  // Another MSP's job has a budget of its own; with the rate unlimited a job takes everything.
  EXPECT_EQ(limiter.TakeBackground("b", 100, t1).calls, 5);
  TenantLimiter unlimited({0, 0, 0});
  EXPECT_EQ(unlimited.TakeBackground("a", 100, t1).calls, 100);
}

TEST(TenantLimiter, BackgroundWorkTakesFromTheSharedBudgetAboveItsReserve) {
  auto shared = std::make_unique<FakeSharedBudget>();
  FakeSharedBudget* store = shared.get();
  store->available["msp:a"] = 30;
  TenantLimiter limiter({400, 40, 0}, std::move(shared));
  EXPECT_EQ(limiter.TakeBackground("a", 100).calls, 10);  // 30 held, 20 kept for the admins
  EXPECT_EQ(limiter.TakeBackground("a", 100).calls, 0);
  EXPECT_EQ(Refusal(limiter, Msp("a"), Clock::now()), "");
}

// A replica admits its share of a tenant's concurrent calls: together they stay within the cap.
TEST(TenantLimiter, EachReplicaAdmitsItsShareOfTheConcurrentCalls) {
  auto shared = std::make_unique<FakeSharedBudget>();
  FakeSharedBudget* store = shared.get();
  store->replicas = 2;
  TenantLimiter limiter({0, 0, 4}, std::move(shared));
  const auto t0 = Clock::now();
  std::vector<TenantLimiter::Permit> held;
  held.push_back(limiter.Admit(Msp("a"), t0));
  held.push_back(limiter.Admit(Msp("a"), t0));
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_TOO_MANY_CALLS");
  // The other replica left: this one may take the whole cap.
  store->replicas = 1;
  held.push_back(limiter.Admit(Msp("a"), t0));
  held.push_back(limiter.Admit(Msp("a"), t0));
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0), "TENANT_TOO_MANY_CALLS");
}

// While the store cannot be reached a replica counts alone, at its share of the rate and burst,
// and asks the store again a second later.
TEST(TenantLimiter, WithoutTheSharedStoreAReplicaCountsItsShareAlone) {
  auto shared = std::make_unique<FakeSharedBudget>();
  FakeSharedBudget* store = shared.get();
  store->reachable = false;
  store->replicas = 2;
  TenantLimiter limiter({10, 10, 0}, std::move(shared));
  const auto t0 = Clock::now();
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += Refusal(limiter, Msp("a"), t0).empty() ? 1 : 0;
  EXPECT_EQ(admitted, 5);      // half the burst
  EXPECT_EQ(store->takes, 1);  // asked once, then a second alone
  // Half the rate: 5 a second.
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0 + milliseconds(200)), "");
  EXPECT_EQ(Refusal(limiter, Msp("a"), t0 + milliseconds(200)), "TENANT_RATE_LIMITED");
  // Reachable again: a second on, the store is asked and decides.
  store->reachable = true;
  store->available["msp:a"] = 3;
  const auto later = t0 + milliseconds(1100);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Refusal(limiter, Msp("a"), later), "") << i;
  EXPECT_EQ(Refusal(limiter, Msp("a"), later), "TENANT_RATE_LIMITED");
  EXPECT_GT(store->takes, 1);
}

TEST(TenantLimiter, OffWhenBothLimitsAreZero) {
  TenantLimiter limiter({0, 0, 0});
  EXPECT_FALSE(limiter.enabled());
  std::vector<TenantLimiter::Permit> held;
  for (int i = 0; i < 1000; ++i) held.push_back(limiter.Admit(Msp("a"), Clock::now()));
  EXPECT_EQ(limiter.tracked_tenants(), 0u);
}

TEST(TenantLimiter, IdleTenantsAreForgottenSoMemoryStaysBounded) {
  TenantLimiter limiter({10, 10, 0});
  const auto t0 = Clock::now();
  for (int i = 0; i < 100000; ++i) limiter.Admit(Msp(std::to_string(i)), t0);
  EXPECT_EQ(limiter.tracked_tenants(), 100000u);  // all active within the minute
  // Two minutes on, new tenants push the idle ones out.
  const auto later = t0 + std::chrono::minutes(2);
  for (int i = 0; i < 100000; ++i) limiter.Admit(Msp("new-" + std::to_string(i)), later);
  EXPECT_LT(limiter.tracked_tenants(), 140000u);
}

}  // namespace
}  // namespace msp

namespace msp {
namespace {

// Many threads admitting and releasing calls of a few tenants at once (the ThreadSanitizer tree
// runs this): no slot is lost or given twice.
TEST(TenantLimiter, ConcurrentAdmitsAndReleasesKeepTheCountsExact) {
  TenantLimiter limiter({0, 0, 4});
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        try {
          auto permit = limiter.Admit(Msp(std::to_string((t + i) % 3)));
          ++admitted;
        } catch (const ApiError&) {
          ++refused;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted + refused, 8 * 5000);
  EXPECT_GT(admitted.load(), 0);
  // Every slot came back: each tenant can hold exactly its 4 again.
  for (const std::string tenant : {"0", "1", "2"}) {
    std::vector<TenantLimiter::Permit> held;
    for (int i = 0; i < 4; ++i) held.push_back(limiter.Admit(Msp(tenant)));
    EXPECT_EQ(Refusal(limiter, Msp(tenant), TenantLimiter::Clock::now()), "TENANT_TOO_MANY_CALLS");
  }
}

}  // namespace
}  // namespace msp
