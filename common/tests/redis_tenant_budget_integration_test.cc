// Tenants' shared rate budgets and the replica count in a real redis-server: replicas draw one
// bucket, see each other come and go, and an unreachable Redis answers "unreachable" quickly.
#include "msp/common/redis_tenant_budget.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>

#include "processes.h"

namespace msp {
namespace {

redis::Options At(int port) {
  redis::Options options;
  options.port = port;
  return options;
}

// Until `done` holds (heartbeats every 20 ms here), at most 10 s.
bool Eventually(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(RedisTenantBudget, ReplicasDrawOneBucketAndSeeEachOther) {
  const int port = testing::SharedRedis().port();
  const auto beat = std::chrono::milliseconds(20);
  RedisTenantBudget a(At(port), "budget-test", beat);
  auto b = std::make_unique<RedisTenantBudget>(At(port), "budget-test", beat);
  EXPECT_TRUE(Eventually([&] { return a.Replicas() == 2 && b->Replicas() == 2; }));

  // A burst of 10 at 1 call a second: 10 calls in all, whichever replica takes them.
  int taken = 0;
  for (int i = 0; i < 10; ++i) {
    const auto grant = (i % 2 == 0 ? a : *b).Take("msp:shared", 1, 10, 3);
    ASSERT_TRUE(grant.has_value());
    taken += grant->calls;
  }
  EXPECT_EQ(taken, 10);
  const auto none = b->Take("msp:shared", 1, 10, 3);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->calls, 0);
  EXPECT_GT(none->wait.count(), 0);
  EXPECT_LE(none->wait.count(), 1000);  // one call's refill at 1 a second
  // Another tenant and another service have buckets of their own.
  EXPECT_EQ(a.Take("msp:other", 1, 10, 3)->calls, 3);
  RedisTenantBudget elsewhere(At(port), "budget-test-other", beat);
  EXPECT_EQ(elsewhere.Take("msp:shared", 1, 10, 3)->calls, 3);
  EXPECT_EQ(elsewhere.Replicas(), 1);

  // A replica that stops leaves at once.
  b.reset();
  EXPECT_TRUE(Eventually([&] { return a.Replicas() == 1; }));
}

TEST(RedisTenantBudget, AnUnreachableRedisIsSaidQuicklyAndTheCountStays) {
  const int dead_port = testing::FreePort();
  RedisTenantBudget budget(At(dead_port), "budget-test-dead", std::chrono::milliseconds(20));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(budget.Take("msp:a", 10, 10, 1).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(budget.Replicas(), 1);
}

}  // namespace
}  // namespace msp
