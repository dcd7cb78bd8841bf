#include "msp/common/tenant_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"

ABSL_FLAG(double, tenant_rate_limit_qps, 200,
          "calls per second one MSP (or one customer admin) may make to one replica, sustained; "
          "0: no rate limit");
ABSL_FLAG(double, tenant_rate_limit_burst, 400,
          "calls one tenant may make at once after a quiet spell (token bucket size)");
ABSL_FLAG(int, tenant_max_concurrent_calls, 32,
          "calls of one tenant in progress at once on one replica; 0: no limit");

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
  Shard& shard = shards_[std::hash<std::string>{}(tenant) % shards_.size()];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(tenant);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() > shard.prune_above) PruneIdle(shard, now);
    auto bucket = std::make_unique<Bucket>();
    bucket->tokens = std::max(limits_.burst, 1.0);
    bucket->refilled = now;
    it = shard.buckets.emplace(std::move(tenant), std::move(bucket)).first;
  }
  Bucket& bucket = *it->second;
  bucket.last_call = now;
  if (limits_.max_concurrent_calls > 0 &&
      bucket.in_flight.load(std::memory_order_acquire) >= limits_.max_concurrent_calls) {
    throw ApiError::ResourceExhausted(
        "TENANT_TOO_MANY_CALLS",
        absl::StrCat("more than ", limits_.max_concurrent_calls,
                     " calls of this tenant are in progress; retry after one has finished"),
        std::chrono::milliseconds(100));
  }
  if (limits_.calls_per_second > 0) {
    const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
    bucket.tokens =
        std::min(std::max(limits_.burst, 1.0), bucket.tokens + elapsed * limits_.calls_per_second);
    bucket.refilled = now;
    if (bucket.tokens < 1.0) {
      const auto wait = std::chrono::milliseconds(static_cast<int64_t>(
          std::ceil((1.0 - bucket.tokens) / limits_.calls_per_second * 1000.0)));
      throw ApiError::ResourceExhausted(
          "TENANT_RATE_LIMITED",
          absl::StrCat("this tenant made more than ", limits_.calls_per_second,
                       " calls per second; retry later"),
          std::max(wait, std::chrono::milliseconds(1)));
    }
    bucket.tokens -= 1.0;
  }
  bucket.in_flight.fetch_add(1, std::memory_order_acq_rel);
  return Permit(&bucket.in_flight);
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
