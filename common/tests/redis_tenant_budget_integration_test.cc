// Tenants' shared rate budgets and the replica count in a real redis-server: replicas draw one
// bucket, see each other come and go, and an unreachable Redis answers "unreachable" quickly.
#include "msp/common/redis_tenant_budget.h"

#include <gtest/gtest.h>
#include <unistd.h>

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
    const auto grant = (i % 2 == 0 ? a : *b).Take("msp:shared", 1, 10, 3, 0);
    ASSERT_TRUE(grant.has_value());
    taken += grant->calls;
  }
  EXPECT_EQ(taken, 10);
  const auto none = b->Take("msp:shared", 1, 10, 3, 0);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->calls, 0);
  EXPECT_GT(none->wait.count(), 0);
  EXPECT_LE(none->wait.count(), 1000);  // one call's refill at 1 a second
  // Another tenant and another service have buckets of their own.
  EXPECT_EQ(a.Take("msp:other", 1, 10, 3, 0)->calls, 3);
  RedisTenantBudget elsewhere(At(port), "budget-test-other", beat);
  EXPECT_EQ(elsewhere.Take("msp:shared", 1, 10, 3, 0)->calls, 3);
  EXPECT_EQ(elsewhere.Replicas(), 1);

  // A replica that stops leaves at once.
  b.reset();
  EXPECT_TRUE(Eventually([&] { return a.Replicas() == 1; }));
}

// Background work takes only what lies above the reserve: the rest is the tenant's own calls'.
TEST(RedisTenantBudget, ABackgroundTakeLeavesTheReserve) {
  const int port = testing::SharedRedis().port();
  RedisTenantBudget budget(At(port), "budget-reserve", std::chrono::milliseconds(20));
  // A burst of 10 at 1 a second, a reserve of 4: 6 for the background, none after.
  EXPECT_EQ(budget.Take("msp:r", 1, 10, 100, 4)->calls, 6);
  const auto none = budget.Take("msp:r", 1, 10, 100, 4);
  EXPECT_EQ(none->calls, 0);
  EXPECT_GT(none->wait.count(), 0);  // until one call lies above the reserve: 1 s
  EXPECT_LE(none->wait.count(), 1000);
  // The tenant's own calls still find the reserve.
  EXPECT_EQ(budget.Take("msp:r", 1, 10, 100, 0)->calls, 4);
}

// A replica killed and started again in its pod comes back under its own name (host and port):
// the heartbeat its earlier process left is its own, so it is not counted twice (which would
// cut every replica's share of the concurrency cap) while that beat ages out.
TEST(RedisTenantBudget, AReplicaRestartedInPlaceIsCountedOnce) {
  const int port = testing::SharedRedis().port();
  // Slow beats: a beat also drops the replicas three beats old, the planted one among them.
  const auto beat = std::chrono::seconds(30);
  const std::string service = "budget-test-restart";
  RedisTenantBudget a(At(port), service, beat, nullptr, "pod-a:50051");
  // The last beat of a replica that was killed -9 (no goodbye), as it stands in Redis.
  redis::Client redis(At(port));
  const redis::Reply time = redis.Command({"TIME"});
  const int64_t now_ms =
      std::stoll(time.Strings().at(0)) * 1000 + std::stoll(time.Strings().at(1)) / 1000;
  redis.Command(
      {"ZADD", "msp:limits:" + service + ":replicas", std::to_string(now_ms), "pod-b:50051"});
  {
    RedisTenantBudget b(At(port), service, beat, nullptr, "pod-b:50051");
    EXPECT_EQ(b.Replicas(), 2);
  }
  // A random name (a replica whose port is not fixed) is a replica of its own.
  redis.Command(
      {"ZADD", "msp:limits:" + service + ":replicas", std::to_string(now_ms), "pod-b:50051"});
  RedisTenantBudget c(At(port), service, beat, nullptr);
  EXPECT_EQ(c.Replicas(), 3);
  EXPECT_NE(c.replica_id(), "pod-b:50051");
}

TEST(RedisTenantBudget, AReplicaIsNamedByItsHostAndPort) {
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(ReplicaIdOf("0.0.0.0:50051"), std::string(host) + ":50051");
  EXPECT_EQ(ReplicaIdOf("[::]:50052"), std::string(host) + ":50052");
  EXPECT_EQ(ReplicaIdOf("127.0.0.1:0"), "");  // an ephemeral port names nothing
  EXPECT_EQ(ReplicaIdOf("unix:/tmp/socket"), "");
}

TEST(RedisTenantBudget, AnUnreachableRedisIsSaidQuicklyAndTheCountStays) {
  const int dead_port = testing::FreePort();
  RedisTenantBudget budget(At(dead_port), "budget-test-dead", std::chrono::milliseconds(20));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(budget.Take("msp:a", 10, 10, 1, 0).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(budget.Replicas(), 1);
}

}  // namespace
}  // namespace msp
