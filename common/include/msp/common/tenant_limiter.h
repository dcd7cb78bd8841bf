#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "msp/common/auth.h"
#include "msp/common/errors.h"

namespace msp {

// How much one tenant may ask of a service (of all its replicas, when they share the budgets;
// see SharedTenantBudget). 0 turns a limit off.
struct TenantLimits {
  double calls_per_second = 0;   // sustained rate (token bucket refill)
  double burst = 0;              // bucket size: calls allowed at once after a quiet spell
  int max_concurrent_calls = 0;  // calls of one tenant in progress at once
};

// Where the replicas of a service keep their tenants' rate budgets, so that a tenant's limits
// hold for the service as a whole however many replicas serve it (Redis: RedisTenantBudget).
class SharedTenantBudget {
 public:
  struct Grant {
    int calls = 0;                      // taken from the tenant's bucket: 0 to `want`
    std::chrono::milliseconds wait{0};  // with none taken: until the bucket holds one
  };
  virtual ~SharedTenantBudget() = default;
  // Takes up to `want` calls from `tenant`'s bucket (refilled at `rate` a second, holding at most
  // `burst`), only from what lies above `reserve`; nullopt when the store cannot be reached (the
  // limiter then counts alone).
  virtual std::optional<Grant> Take(const std::string& tenant, double rate, double burst, int want,
                                    double reserve) = 0;
  // The replicas of the service alive now, this one included; the last count known while the
  // store cannot be reached. At least 1.
  virtual int Replicas() const = 0;
};

// Per-tenant admission: one MSP (or one customer's admin) cannot take a service's threads and
// database connections from everyone else. A refused call gets RESOURCE_EXHAUSTED with the
// reason TENANT_RATE_LIMITED or TENANT_TOO_MANY_CALLS and a RetryInfo saying when to come back.
// Internal services are not limited: their load follows the tenants' own calls. Thread-safe.
//
// With a SharedTenantBudget the replicas of a service share each tenant's limits:
// - the rate: calls are taken from the tenant's one bucket in the store, a few at a time (about
//   25 ms of the tenant's rate), so the tenant gets its rate from all replicas together;
// - concurrent calls: each replica admits its share of the cap (the cap over the replicas
//   alive, at least 1), so that together they never admit more than the cap. Callers spread
//   their calls over the replicas (round robin), so a tenant's share of each is what it uses;
// - while the store cannot be reached, each replica counts alone at its share of the rate and
//   burst (the last replica count known), and tries the store again after a second.
class TenantLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // Holds one of a tenant's concurrent-call slots until destroyed.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : in_flight_(std::exchange(other.in_flight_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        Release();
        in_flight_ = std::exchange(other.in_flight_, nullptr);
      }
      return *this;
    }
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }

   private:
    friend class TenantLimiter;
    explicit Permit(std::atomic<int>* in_flight) : in_flight_(in_flight) {}
    void Release() {
      if (in_flight_ != nullptr) in_flight_->fetch_sub(1, std::memory_order_acq_rel);
      in_flight_ = nullptr;
    }
    // The tenant's in-flight count; its bucket is never pruned while the count is above 0.
    std::atomic<int>* in_flight_ = nullptr;
  };

  explicit TenantLimiter(TenantLimits limits, std::unique_ptr<SharedTenantBudget> shared = nullptr)
      : limits_(limits), shared_(std::move(shared)) {}
  bool enabled() const { return limits_.calls_per_second > 0 || limits_.max_concurrent_calls > 0; }
  // Admits a call of `principal` or throws ApiError RESOURCE_EXHAUSTED.
  Permit Admit(const auth::Principal& principal) { return Admit(principal, Clock::now()); }
  Permit Admit(const auth::Principal& principal, Clock::time_point now);
  // An MSP's background work (a bulk job's rows) out of the MSP's own rate budget: up to `want`
  // calls, taken only from what lies above half the burst, so the MSP's admins always find half
  // their burst and, while they use the rate, come first; what they leave, the job gets. With
  // none taken, `wait` says when to ask again. All of `want` when the rate is not limited.
  SharedTenantBudget::Grant TakeBackground(const std::string& msp_id, int want) {
    return TakeBackground(msp_id, want, Clock::now());
  }
  SharedTenantBudget::Grant TakeBackground(const std::string& msp_id, int want,
                                           Clock::time_point now);
  // Tenants currently tracked (for tests of the idle pruning).
  size_t tracked_tenants() const;

 private:
  struct Bucket {
    double tokens = 0;  // counted here: without a shared budget, or while it is unreachable
    Clock::time_point refilled;
    Clock::time_point last_call;
    std::atomic<int> in_flight{0};
    int taken = 0;  // calls taken from the shared budget and not used yet
    Clock::time_point taken_until;
    // The shared budget had none: refused here until then, without asking the store again (a
    // flood of refused calls does not become a flood of round trips).
    Clock::time_point shared_empty_until;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<Bucket>> buckets;
    size_t prune_above = 4096;
  };
  void PruneIdle(Shard& shard, Clock::time_point now);
  // The refusal of a call over the rate, to come back after `wait`.
  ApiError RateLimited(std::chrono::milliseconds wait) const;
  // Takes a call from the local bucket at `rate` and `burst`, or throws TENANT_RATE_LIMITED.
  void TakeLocally(Bucket& bucket, double rate, double burst, Clock::time_point now) const;
  // Takes a call from the shared budget (a few at a time); false when it cannot be reached.
  bool TakeShared(std::unique_lock<std::mutex>& lock, Bucket& bucket, const std::string& tenant,
                  Clock::time_point now);

  TenantLimits limits_;
  std::unique_ptr<SharedTenantBudget> shared_;
  // After the shared store failed, counting alone until then (steady clock, ns since epoch).
  std::atomic<int64_t> local_until_{0};
  std::atomic<bool> shared_down_{false};  // for one log line an outage
  std::array<Shard, 16> shards_;
};

// The limits from the --tenant_* flags (see tenant_limiter.cc).
TenantLimits TenantLimitsFromFlags();
class ServerMetrics;
// The limiter of `service` the --tenant_* flags describe, its budgets shared through the Redis
// at `redis_address` by every replica of the service (unless --tenant_limits_shared=false),
// this one known to the others by its host and the port of `listen_address`; `metrics`
// (optional) shows how many replicas share them.
std::unique_ptr<TenantLimiter> TenantLimiterFromFlags(const std::string& service,
                                                      const std::string& redis_address,
                                                      const std::string& listen_address,
                                                      ServerMetrics* metrics = nullptr);

}  // namespace msp
