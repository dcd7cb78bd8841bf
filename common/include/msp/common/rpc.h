#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include <grpcpp/server_context.h>

#include "msp/common/auth.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"
#include "msp/common/metrics.h"
#include "msp/common/pg.h"
#include "msp/common/redis.h"

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

  // fn(const auth::Principal&) -> void. Fills nothing in the response on error.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* context, const std::string& full_method, Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = Run(context, full_method, std::forward<Fn>(fn));
    if (metrics_ != nullptr) {
      metrics_->RecordRpc(
          full_method, status.error_code(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return status;
  }

  // Reads and verifies the bearer token of a call (exposed for streaming handlers and tests).
  auth::Principal Authenticate(const grpc::ServerContext& context) const;

 private:
  template <typename Fn>
  grpc::Status Run(grpc::ServerContext* context, const std::string& full_method, Fn&& fn) {
    try {
      auth::Principal principal = Authenticate(*context);
      policy_.Check(full_method, principal);
      // Under overload a call may wait for a thread past its caller's deadline: the caller
      // has gone, so its database work would be wasted. (Not IsCancelled(): on the sync
      // server it costs more than half of a cheap call's throughput, measured.)
      if (context->deadline() < std::chrono::system_clock::now()) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "the caller's deadline passed before the call ran");
      }
      fn(principal);
      return grpc::Status::OK;
    } catch (const ApiError& e) {
      return e.ToStatus(domain_);
    } catch (const pg::PoolTimeout& e) {
      log::Warn("database pool exhausted", {{"method", full_method}});
      return ApiError::Unavailable("DATABASE_BUSY", "no database connection free; retry")
          .ToStatus(domain_);
    } catch (const pg::PgError& e) {
      if (e.connection_lost()) {
        log::Warn("database unavailable", {{"method", full_method}, {"error", e.what()}});
        return ApiError::Unavailable("DATABASE_UNAVAILABLE", "database unavailable; retry")
            .ToStatus(domain_);
      }
      if (e.sqlstate() == "57014") {
        return ApiError(grpc::StatusCode::DEADLINE_EXCEEDED, "STATEMENT_TIMEOUT",
                        "the database did not answer in time")
            .ToStatus(domain_);
      }
      log::Error("database error",
                 {{"method", full_method}, {"error", e.what()}, {"sqlstate", e.sqlstate()}});
      return ApiError::Internal("internal error").ToStatus(domain_);
    } catch (const redis::RedisError& e) {
      log::Warn("redis unavailable", {{"method", full_method}, {"error", e.what()}});
      return ApiError::Unavailable("REDIS_UNAVAILABLE", "token store unavailable; retry")
          .ToStatus(domain_);
    } catch (const std::exception& e) {
      log::Error("unhandled exception", {{"method", full_method}, {"error", e.what()}});
      return ApiError::Internal("internal error").ToStatus(domain_);
    }
  }

  std::string domain_;
  const auth::TokenVerifier* verifier_;
  auth::MethodPolicy policy_;
  ServerMetrics* metrics_;
};

}  // namespace msp
