#include "msp/common/tenant_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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
