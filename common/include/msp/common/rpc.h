#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "msp/common/auth.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"
#include "msp/common/metrics.h"
#include "msp/common/policy.h"
#include "msp/common/tenant_limiter.h"
#include "msp/common/trace.h"

namespace msp {

// What every handler does around its business logic: verify the caller's token, check the
// method's principal allow-list (deny by default), turn ApiError and infrastructure failures
// into google.rpc.Status answers, and record per-method metrics. With a limiter, each tenant's
// calls are admitted against its rate and concurrency limits (after authentication, so that
// calls without a valid token never use up a tenant's budget).
class RpcRuntime {
 public:
  RpcRuntime(std::string error_domain, const auth::TokenVerifier* verifier,
             auth::MethodPolicy policy, ServerMetrics* metrics, TenantLimiter* limiter = nullptr)
      : domain_(std::move(error_domain)),
        verifier_(verifier),
        policy_(std::move(policy)),
        metrics_(metrics),
        limiter_(limiter) {}

  const auth::MethodPolicy& policy() const { return policy_; }
  const std::string& domain() const { return domain_; }
  // The server's metrics, for business counters (null in tests that run without).
  ServerMetrics* metrics() const { return metrics_; }

  // Sync handlers: fn(const auth::Principal&) -> void. Fills nothing in the response on error.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* context, const std::string& full_method, Fn&& fn) {
    Call call = Begin(*context, full_method);
    trace::Scope span(call.span);
    grpc::Status status;
    try {
      const auth::Principal principal = Admit(*context, full_method);
      call.tenant = TenantOf(principal);
      const TenantLimiter::Permit permit = AdmitTenant(principal);
      fn(principal);
    } catch (...) {
      status = StatusFromException(std::current_exception(), full_method);
    }
    return Finish(call, std::move(status));
  }

  // Finishes one callback RPC exactly once: records its metrics, answers the caller.
  using Finisher = std::function<void(grpc::Status)>;

  // Callback handlers: fn(const auth::Principal&, Finisher) starts the work and returns; the
  // work calls the finisher when done, from any thread. An exception thrown by fn finishes
  // the call with the matching error. `full_method` must outlive the call.
  template <typename Fn>
  grpc::ServerUnaryReactor* HandleAsync(grpc::CallbackServerContext* context,
                                        const std::string& full_method, Fn&& fn) {
    auto* reactor = context->DefaultReactor();
    auto call = std::make_shared<Call>(Begin(*context, full_method));
    trace::Scope span(call->span);
    auto permit = std::make_shared<TenantLimiter::Permit>();
    Finisher finish = [this, reactor, call, permit](grpc::Status status) {
      *permit = TenantLimiter::Permit();  // the tenant's slot is free before the answer leaves
      reactor->Finish(Finish(*call, std::move(status)));
    };
    try {
      auth::Principal principal = Admit(*context, full_method);
      call->tenant = TenantOf(principal);
      *permit = AdmitTenant(principal);
      fn(principal, finish);
    } catch (...) {
      finish(StatusFromException(std::current_exception(), full_method));
    }
    return reactor;
  }

  // Callback streaming handlers, whose reactor ends the call: begins it (metrics, trace),
  // admits the caller and its tenant, and gives `end`, which the reactor calls exactly once with
  // the status it finishes with (it records the call's metrics, frees the tenant's slot and
  // returns the status as it goes out). A refused caller has no principal, and `refusal` says
  // why.
  struct StreamStart {
    std::optional<auth::Principal> principal;
    grpc::Status refusal;
    std::function<grpc::Status(grpc::Status)> end;
  };
  StreamStart BeginStream(const grpc::CallbackServerContext& context,
                          const std::string& full_method);

  // The answer for an exception escaping business logic: ApiError as it is, database and
  // Redis failures as UNAVAILABLE / DEADLINE_EXCEEDED, anything else INTERNAL (logged).
  grpc::Status StatusFromException(std::exception_ptr error, const std::string& full_method) const;

  // Reads and verifies the bearer token of a call (exposed for streaming handlers and tests).
  auth::Principal Authenticate(const grpc::ServerContextBase& context) const;

 private:
  // Authenticates, authorises and checks the call is still wanted. Throws ApiError.
  auth::Principal Admit(const grpc::ServerContextBase& context,
                        const std::string& full_method) const;
  // Counts refusals (msp_rate_limit_refusals_total, by reason).
  TenantLimiter::Permit AdmitTenant(const auth::Principal& principal) const;
  // One call from its start to its answer: for its metrics, its access-log line and the
  // RequestInfo of an error.
  struct Call {
    const std::string* method;
    ServerMetrics::MethodSeries* series;  // null without metrics
    std::chrono::steady_clock::time_point start;
    trace::Context span;  // a child of the caller's traceparent, or a new trace
    std::string tenant;   // the MSP or service the call came from, once authenticated
  };
  Call Begin(const grpc::ServerContextBase& context, const std::string& full_method) const;
  // Records the call's metrics, writes its access-log line, and gives an error its
  // RequestInfo (the trace id), so that an answer can be matched with its log lines.
  grpc::Status Finish(const Call& call, grpc::Status status) const;
  static std::string TenantOf(const auth::Principal& principal);

  std::string domain_;
  const auth::TokenVerifier* verifier_;
  auth::MethodPolicy policy_;
  ServerMetrics* metrics_;
  TenantLimiter* limiter_;
};

}  // namespace msp
