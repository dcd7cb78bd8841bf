#include "msp/common/rpc.h"

#include "msp/common/pg.h"
#include "msp/common/redis.h"
#include "msp/common/tls.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace msp {

auth::Principal RpcRuntime::Authenticate(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  auth::Principal principal = it == metadata.end()
                                  ? verifier_->VerifyAuthorizationHeader(std::nullopt)
                                  : verifier_->VerifyAuthorizationHeader(
                                        std::string_view(it->second.data(), it->second.size()));
  if (principal.kind == auth::PrincipalKind::kService &&
      verifier_->config().service_tokens_need_certificates) {
    const auto identities = tls::ClientIdentities(context);
    if (std::find(identities.begin(), identities.end(), principal.subject) == identities.end()) {
      throw ApiError::Unauthenticated(
          "SERVICE_CERTIFICATE_MISMATCH",
          absl::StrCat("a token of service ", principal.subject,
                       " counts only over mutual TLS with a client certificate naming it"));
    }
  }
  return principal;
}

auth::Principal RpcRuntime::Admit(const grpc::ServerContextBase& context,
                                  const std::string& full_method) const {
  auth::Principal principal = Authenticate(context);
  principal.tenants = policy_.Check(full_method, principal);
  // Under overload a call may wait for a thread past its caller's deadline: the caller has
  // gone, so its database work would be wasted. (Not IsCancelled(): on the sync server it
  // costs more than half of a cheap call's throughput, measured.)
  if (context.deadline() < std::chrono::system_clock::now()) {
    throw ApiError(grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_PASSED",
                   "the caller's deadline passed before the call ran");
  }
  return principal;
}

void RpcRuntime::Record(const std::string& full_method, const grpc::Status& status,
                        std::chrono::steady_clock::time_point start) const {
  if (metrics_ == nullptr) return;
  metrics_->RecordRpc(
      full_method, status.error_code(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

grpc::Status RpcRuntime::StatusFromException(std::exception_ptr error,
                                             const std::string& full_method) const {
  try {
    std::rethrow_exception(error);
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
  } catch (...) {
    log::Error("unhandled non-standard exception", {{"method", full_method}});
    return ApiError::Internal("internal error").ToStatus(domain_);
  }
}

}  // namespace msp
