#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "msp/common/auth.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"
#include "msp/common/metrics.h"

namespace msp {

// What every handler does around its business logic: verify the caller's token, check the
// method's principal allow-list (deny by default), turn ApiError and infrastructure failures
// into google.rpc.Status answers, and record per-method metrics.
class RpcRuntime {
 public:
  RpcRuntime(std::string error_domain, const auth::TokenVerifier* verifier,
             auth::MethodPolicy policy, ServerMetrics* metrics)
      : domain_(std::move(error_domain)),
        verifier_(verifier),
        policy_(std::move(policy)),
        metrics_(metrics) {}

  const auth::MethodPolicy& policy() const { return policy_; }
  const std::string& domain() const { return domain_; }

  // Sync handlers: fn(const auth::Principal&) -> void. Fills nothing in the response on error.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* context, const std::string& full_method, Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status;
    try {
      fn(Admit(*context, full_method));
    } catch (...) {
      status = StatusFromException(std::current_exception(), full_method);
    }
    Record(full_method, status, start);
    return status;
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
    const auto start = std::chrono::steady_clock::now();
    Finisher finish = [this, reactor, start, method = &full_method](grpc::Status status) {
      Record(*method, status, start);
      reactor->Finish(status);
    };
    try {
      auth::Principal principal = Admit(*context, full_method);
      fn(principal, finish);
    } catch (...) {
      finish(StatusFromException(std::current_exception(), full_method));
    }
    return reactor;
  }

  // The answer for an exception escaping business logic: ApiError as it is, database and
  // Redis failures as UNAVAILABLE / DEADLINE_EXCEEDED, anything else INTERNAL (logged).
  grpc::Status StatusFromException(std::exception_ptr error, const std::string& full_method) const;

  // Reads and verifies the bearer token of a call (exposed for streaming handlers and tests).
  auth::Principal Authenticate(const grpc::ServerContextBase& context) const;

 private:
  // Authenticates, authorises and checks the call is still wanted. Throws ApiError.
  auth::Principal Admit(const grpc::ServerContextBase& context,
                        const std::string& full_method) const;
  void Record(const std::string& full_method, const grpc::Status& status,
              std::chrono::steady_clock::time_point start) const;

  std::string domain_;
  const auth::TokenVerifier* verifier_;
  auth::MethodPolicy policy_;
  ServerMetrics* metrics_;
};

}  // namespace msp
