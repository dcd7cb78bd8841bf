#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "msp/common/auth.h"

namespace msp {

// How much one tenant may ask of one replica. 0 turns a limit off.
struct TenantLimits {
  double calls_per_second = 0;   // sustained rate (token bucket refill)
  double burst = 0;              // bucket size: calls allowed at once after a quiet spell
  int max_concurrent_calls = 0;  // calls of one tenant in progress at once
};

// Per-tenant admission: one MSP (or one customer's admin) cannot take a replica's threads and
// database connections from everyone else. A refused call gets RESOURCE_EXHAUSTED with the
// reason TENANT_RATE_LIMITED or TENANT_TOO_MANY_CALLS and a RetryInfo saying when to come back.
// Internal services are not limited: their load follows the tenants' own calls. Thread-safe.
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

  explicit TenantLimiter(TenantLimits limits) : limits_(limits) {}
  bool enabled() const { return limits_.calls_per_second > 0 || limits_.max_concurrent_calls > 0; }
  // Admits a call of `principal` or throws ApiError RESOURCE_EXHAUSTED.
  Permit Admit(const auth::Principal& principal) { return Admit(principal, Clock::now()); }
  Permit Admit(const auth::Principal& principal, Clock::time_point now);
  // Tenants currently tracked (for tests of the idle pruning).
  size_t tracked_tenants() const;

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point refilled;
    Clock::time_point last_call;
    std::atomic<int> in_flight{0};
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<Bucket>> buckets;
    size_t prune_above = 4096;
  };
  void PruneIdle(Shard& shard, Clock::time_point now);

  TenantLimits limits_;
  std::array<Shard, 16> shards_;
};

// The limits from the --tenant_* flags (see tenant_limiter.cc).
TenantLimits TenantLimitsFromFlags();

}  // namespace msp
