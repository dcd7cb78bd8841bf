#include "msp/common/redis_tenant_budget.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "msp/common/host.h"
#include "msp/common/log.h"
#include "msp/common/metrics.h"

ABSL_FLAG(bool, tenant_limits_shared, true,
          "share each tenant's limits with the other replicas of this service through Redis "
          "(--redis_address); false: each replica counts alone");
ABSL_FLAG(int, tenant_limits_heartbeat_ms, 2000,
          "how often a replica tells the others sharing the tenant limits that it is alive (it "
          "counts as gone after three missed)");

namespace msp {
namespace {

// KEYS[1]: the tenant's bucket. ARGV: rate a second, burst, calls wanted, the bucket's life in
// ms, the reserve (calls are taken only from above it). Returns {calls taken, ms until one is
// there when none}. Redis' clock, so that replicas'
// clocks do not matter.
constexpr char kTakeScript[] = R"lua(
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000000 * rate)
local reserve = tonumber(ARGV[5]) or 0
local taken = math.max(0, math.min(want, math.floor(tokens - reserve)))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local wait = 0
if taken == 0 then wait = math.ceil((reserve + 1 - tokens) / rate * 1000) end
return {taken, wait}
)lua";

// KEYS[1]: the replicas' set. ARGV: this replica, ms after which a replica counts as gone.
// Returns the replicas alive.
constexpr char kBeatScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
)lua";

redis::Options Quick(redis::Options options) {
  options.connect_timeout = std::chrono::milliseconds(100);
  options.command_timeout = std::chrono::milliseconds(100);
  return options;
}

std::string NewReplicaId() {
  std::random_device device;
  return absl::StrCat(absl::Hex(device(), absl::kZeroPad8), absl::Hex(device(), absl::kZeroPad8));
}

}  // namespace

std::string ReplicaIdOf(const std::string& listen_address) {
  const auto colon = listen_address.rfind(':');
  const std::string port = colon == std::string::npos ? "" : listen_address.substr(colon + 1);
  if (port.empty() || port == "0" ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "";
  }
  const std::string host = HostName();
  return host.empty() ? "" : absl::StrCat(host, ":", port);
}

RedisTenantBudget::RedisTenantBudget(const redis::Options& options, std::string service,
                                     std::chrono::milliseconds heartbeat,
                                     prometheus::Gauge* replicas_gauge, std::string replica_id)
    : prefix_(absl::StrCat("msp:limits:", service, ":")),
      replica_id_(replica_id.empty() ? NewReplicaId() : std::move(replica_id)),
      heartbeat_(heartbeat),
      budgets_(Quick(options)),
      heartbeats_(Quick(options)),
      replicas_gauge_(replicas_gauge) {
  Beat();
  beating_ =
      std::make_unique<PeriodicTask>("tenant-limit-heartbeat", heartbeat_, [this] { Beat(); });
}

RedisTenantBudget::~RedisTenantBudget() {
  beating_.reset();
  // Leaving: the others' shares grow at their next heartbeat rather than three later.
  try {
    heartbeats_.Command({"ZREM", prefix_ + "replicas", replica_id_});
  } catch (const redis::RedisError&) {
  }
}

void RedisTenantBudget::Beat() {
  try {
    const redis::Reply alive =
        heartbeats_.Command({"EVAL", kBeatScript, "1", prefix_ + "replicas", replica_id_,
                             std::to_string(3 * heartbeat_.count())});
    const int replicas = std::max<int>(1, static_cast<int>(alive.Integer()));
    replicas_.store(replicas, std::memory_order_relaxed);
    if (replicas_gauge_ != nullptr) replicas_gauge_->Set(replicas);
    beat_failing_ = false;
  } catch (const redis::RedisError& e) {
    // The last count stays: each replica keeps its share while it counts alone.
    if (!beat_failing_) {
      log::Warn("tenant limits: the replica heartbeat failed; keeping the last replica count",
                {{"error", e.what()}, {"replicas", Replicas()}});
    }
    beat_failing_ = true;
  }
}

std::optional<SharedTenantBudget::Grant> RedisTenantBudget::Take(const std::string& tenant,
                                                                 double rate, double burst,
                                                                 int want, double reserve) {
  // The bucket outlives a full refill, and then some: an idle tenant's key goes away by itself.
  const int64_t life_ms = static_cast<int64_t>(std::ceil(burst / rate * 1000)) + 60000;
  try {
    const redis::Reply reply =
        budgets_.Command({"EVAL", kTakeScript, "1", prefix_ + "rate:" + tenant, absl::StrCat(rate),
                          absl::StrCat(burst), std::to_string(want), std::to_string(life_ms),
                          absl::StrCat(reserve)});
    const redis::ReplyView view = reply.View();
    Grant grant;
    grant.calls = static_cast<int>(view.At(0).Integer());
    grant.wait = std::chrono::milliseconds(view.At(1).Integer());
    return grant;
  } catch (const redis::RedisError&) {
    return std::nullopt;
  }
}

std::unique_ptr<TenantLimiter> TenantLimiterFromFlags(const std::string& service,
                                                      const std::string& redis_address,
                                                      const std::string& listen_address,
                                                      ServerMetrics* metrics) {
  const TenantLimits limits = TenantLimitsFromFlags();
  std::unique_ptr<SharedTenantBudget> shared;
  if (absl::GetFlag(FLAGS_tenant_limits_shared) &&
      (limits.calls_per_second > 0 || limits.max_concurrent_calls > 0)) {
    shared = std::make_unique<RedisTenantBudget>(
        redis::OptionsFromAddress(redis_address), service,
        std::chrono::milliseconds(std::max(10, absl::GetFlag(FLAGS_tenant_limits_heartbeat_ms))),
        metrics != nullptr ? &metrics->tenant_limit_replicas() : nullptr,
        ReplicaIdOf(listen_address));
  }
  return std::make_unique<TenantLimiter>(limits, std::move(shared));
}

}  // namespace msp
