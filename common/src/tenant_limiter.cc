#include "msp/common/tenant_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"

ABSL_FLAG(double, tenant_rate_limit_qps, 200,
          "calls per second one MSP (or one customer admin) may make to this service, sustained "
          "(to all its replicas together with --tenant_limits_shared); 0: no rate limit");
ABSL_FLAG(double, tenant_rate_limit_burst, 400,
          "calls one tenant may make at once after a quiet spell (token bucket size)");
ABSL_FLAG(int, tenant_max_concurrent_calls, 32,
          "calls of one tenant in progress at once in this service (in all its replicas together "
          "with --tenant_limits_shared); 0: no limit");

namespace msp {

namespace {
// Tenants quiet this long (and with no call in progress) are forgotten; their bucket would be
// full again anyway.
constexpr auto kIdleAfter = std::chrono::seconds(60);
constexpr size_t kPruneAbove = 4096;  // tenants in a shard before idle ones are looked for
}  // namespace

TenantLimits TenantLimitsFromFlags() {
  return {absl::GetFlag(FLAGS_tenant_rate_limit_qps), absl::GetFlag(FLAGS_tenant_rate_limit_burst),
          absl::GetFlag(FLAGS_tenant_max_concurrent_calls)};
}

TenantLimiter::Permit TenantLimiter::Admit(const auth::Principal& principal,
                                           Clock::time_point now) {
  std::string tenant;
  switch (principal.kind) {
    case auth::PrincipalKind::kService:
      return Permit();
    case auth::PrincipalKind::kMspAdmin:
      tenant = absl::StrCat("msp:", principal.msp_id);
      break;
    case auth::PrincipalKind::kCustomerAdmin:
      tenant = absl::StrCat("customer:", principal.customer_id);
      break;
  }
  if (!enabled()) return Permit();
  const int replicas = shared_ != nullptr ? std::max(1, shared_->Replicas()) : 1;
  Shard& shard = shards_[std::hash<std::string>{}(tenant) % shards_.size()];
  std::unique_lock<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(tenant);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() > shard.prune_above) PruneIdle(shard, now);
    auto bucket = std::make_unique<Bucket>();
    bucket->tokens = std::max(limits_.burst / replicas, 1.0);
    bucket->refilled = now;
    it = shard.buckets.emplace(tenant, std::move(bucket)).first;
  }
  Bucket& bucket = *it->second;
  bucket.last_call = now;  // not idle: kept while the shared budget is asked
  // This replica's share of the cap: together the replicas admit no more than the cap.
  const int max_concurrent =
      limits_.max_concurrent_calls > 0 ? std::max(1, limits_.max_concurrent_calls / replicas) : 0;
  if (max_concurrent > 0 && bucket.in_flight.load(std::memory_order_acquire) >= max_concurrent) {
    throw ApiError::ResourceExhausted(
        "TENANT_TOO_MANY_CALLS",
        absl::StrCat("more than ", limits_.max_concurrent_calls,
                     " calls of this tenant are in progress; retry after one has finished"),
        std::chrono::milliseconds(100));
  }
  if (limits_.calls_per_second > 0) {
    const bool shared_reachable =
        shared_ != nullptr &&
        now.time_since_epoch().count() >= local_until_.load(std::memory_order_relaxed);
    if (!shared_reachable || !TakeShared(lock, bucket, tenant, now)) {
      // Alone: this replica's share of the rate and the burst.
      TakeLocally(bucket, limits_.calls_per_second / replicas, limits_.burst / replicas, now);
    }
  }
  bucket.in_flight.fetch_add(1, std::memory_order_acq_rel);
  return Permit(&bucket.in_flight);
}

ApiError TenantLimiter::RateLimited(std::chrono::milliseconds wait) const {
  return ApiError::ResourceExhausted(
      "TENANT_RATE_LIMITED",
      absl::StrCat("this tenant made more than ", limits_.calls_per_second,
                   " calls per second; retry later"),
      std::max(wait, std::chrono::milliseconds(1)));
}

void TenantLimiter::TakeLocally(Bucket& bucket, double rate, double burst,
                                Clock::time_point now) const {
  const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(std::max(burst, 1.0), bucket.tokens + elapsed * rate);
  bucket.refilled = now;
  if (bucket.tokens < 1.0) {
    throw RateLimited(std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / rate * 1000.0))));
  }
  bucket.tokens -= 1.0;
}

bool TenantLimiter::TakeShared(std::unique_lock<std::mutex>& lock, Bucket& bucket,
                               const std::string& tenant, Clock::time_point now) {
  if (bucket.taken > 0 && now < bucket.taken_until) {
    --bucket.taken;
    return true;
  }
  if (now < bucket.shared_empty_until) {
    throw RateLimited(
        std::chrono::duration_cast<std::chrono::milliseconds>(bucket.shared_empty_until - now));
  }
  // A few calls at a time (about 25 ms of the tenant's rate): one round trip to the store for
  // several calls, and never more than that held here unused. Not under the shard's lock: the
  // other tenants of the shard do not wait for the store. The bucket stays (it was just used,
  // so it is not idle).
  const int want = std::max(1, static_cast<int>(limits_.calls_per_second * 0.025));
  lock.unlock();
  const auto grant =
      shared_->Take(tenant, limits_.calls_per_second, std::max(limits_.burst, 1.0), want, 0);
  lock.lock();
  if (!grant) {
    // Unreachable: count alone for a second before asking again.
    local_until_.store((now + std::chrono::seconds(1)).time_since_epoch().count(),
                       std::memory_order_relaxed);
    if (!shared_down_.exchange(true)) {
      log::Warn(
          "tenant limits counted by each replica alone (its share) until the shared store "
          "answers again",
          {{"replicas", shared_->Replicas()}});
    }
    return false;
  }
  if (shared_down_.exchange(false)) log::Info("tenant limits shared by the replicas again");
  if (grant->calls <= 0) {
    bucket.shared_empty_until = now + grant->wait;
    throw RateLimited(grant->wait);
  }
  // Calls taken and not used within a second go back to nobody: the bucket refills anyway.
  bucket.taken += grant->calls - 1;
  bucket.taken_until = now + std::chrono::seconds(1);
  return true;
}

SharedTenantBudget::Grant TenantLimiter::TakeBackground(const std::string& msp_id, int want,
                                                        Clock::time_point now) {
  SharedTenantBudget::Grant grant;
  if (limits_.calls_per_second <= 0 || want <= 0) {
    grant.calls = std::max(want, 0);
    return grant;
  }
  const std::string tenant = absl::StrCat("msp:", msp_id);
  const double burst = std::max(limits_.burst, 1.0);
  const bool shared_reachable =
      shared_ != nullptr &&
      now.time_since_epoch().count() >= local_until_.load(std::memory_order_relaxed);
  if (shared_reachable) {
    if (auto taken = shared_->Take(tenant, limits_.calls_per_second, burst, want, burst / 2)) {
      return *taken;
    }
    local_until_.store((now + std::chrono::seconds(1)).time_since_epoch().count(),
                       std::memory_order_relaxed);
  }
  // Alone: this replica's share, from the bucket its admins' calls use.
  const int replicas = shared_ != nullptr ? std::max(1, shared_->Replicas()) : 1;
  const double rate = limits_.calls_per_second / replicas;
  const double share = std::max(burst / replicas, 1.0);
  Shard& shard = shards_[std::hash<std::string>{}(tenant) % shards_.size()];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(tenant);
  if (it == shard.buckets.end()) {
    auto bucket = std::make_unique<Bucket>();
    bucket->tokens = share;
    bucket->refilled = now;
    it = shard.buckets.emplace(tenant, std::move(bucket)).first;
  }
  Bucket& bucket = *it->second;
  bucket.last_call = now;
  const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(share, bucket.tokens + elapsed * rate);
  bucket.refilled = now;
  const double reserve = share / 2;
  grant.calls =
      std::min(want, static_cast<int>(std::floor(std::max(0.0, bucket.tokens - reserve))));
  bucket.tokens -= grant.calls;
  if (grant.calls == 0) {
    grant.wait = std::chrono::milliseconds(
        static_cast<int64_t>(std::ceil((reserve + 1.0 - bucket.tokens) / rate * 1000.0)));
  }
  return grant;
}

void TenantLimiter::PruneIdle(Shard& shard, Clock::time_point now) {
  std::erase_if(shard.buckets, [&](const auto& entry) {
    return entry.second->in_flight.load(std::memory_order_acquire) == 0 &&
           now - entry.second->last_call > kIdleAfter;
  });
  // The next look waits until the shard has doubled: a shard of busy tenants is not scanned on
  // every new one.
  shard.prune_above = std::max(kPruneAbove, 2 * shard.buckets.size());
}

size_t TenantLimiter::tracked_tenants() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace msp
