#include "msp/common/rpc.h"

#include "msp/common/pg.h"
#include "msp/common/redis.h"
#include "msp/common/tls.h"

#include <algorithm>
#include <cmath>

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

TenantLimiter::Permit RpcRuntime::AdmitTenant(const auth::Principal& principal) const {
  if (limiter_ == nullptr) return TenantLimiter::Permit();
  try {
    return limiter_->Admit(principal);
  } catch (const ApiError& refusal) {
    if (metrics_ != nullptr) {
      metrics_
          ->Counter(metric_names::kRateLimitRefusals,
                    "Calls refused by a tenant's rate or concurrency limit",
                    {{"reason", refusal.reason()}})
          .Increment();
    }
    throw;
  }
}

RpcRuntime::StreamStart RpcRuntime::BeginStream(const grpc::CallbackServerContext& context,
                                                const std::string& full_method) {
  auto call = std::make_shared<Call>(Begin(context, full_method));
  auto permit = std::make_shared<TenantLimiter::Permit>();
  StreamStart start;
  start.end = [this, call, permit](grpc::Status status) {
    *permit = TenantLimiter::Permit();  // the tenant's slot is free before the answer leaves
    return Finish(*call, std::move(status));
  };
  trace::Scope span(call->span);
  try {
    auth::Principal principal = Admit(context, full_method);
    call->tenant = TenantOf(principal);
    *permit = AdmitTenant(principal);
    start.principal = std::move(principal);
  } catch (...) {
    start.refusal = StatusFromException(std::current_exception(), full_method);
  }
  return start;
}

RpcRuntime::Call RpcRuntime::Begin(const grpc::ServerContextBase& context,
                                   const std::string& full_method) const {
  ServerMetrics::MethodSeries* series =
      metrics_ != nullptr ? &metrics_->RecordStart(full_method) : nullptr;
  const auto& metadata = context.client_metadata();
  const auto header = metadata.find(trace::kTraceparentHeader);
  std::optional<std::string_view> traceparent;
  if (header != metadata.end()) traceparent.emplace(header->second.data(), header->second.size());
  return Call{&full_method, series, std::chrono::steady_clock::now(),
              trace::FromHeader(traceparent), ""};
}

std::string RpcRuntime::TenantOf(const auth::Principal& principal) {
  if (!principal.msp_id.empty()) return principal.msp_id;
  return absl::StrCat(std::string(auth::PrincipalKindName(principal.kind)), ":", principal.subject);
}

grpc::Status RpcRuntime::Finish(const Call& call, grpc::Status status) const {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - call.start).count();
  if (call.series != nullptr) metrics_->RecordRpc(*call.series, status.error_code(), seconds);
  const log::Level level =
      IsServerFault(status.error_code()) ? log::Level::kWarn : log::Level::kInfo;
  if (log::Enabled(level) && (!status.ok() || log::SampleAccess(call.span.trace_id))) {
    nlohmann::json fields = {{"method", *call.method},
                             {"code", StatusCodeName(status.error_code())},
                             {"duration_ms", std::round(seconds * 1e5) / 100},
                             {"trace_id", call.span.trace_id},
                             {"span_id", call.span.span_id}};
    if (!call.span.parent_span_id.empty()) fields["parent_span_id"] = call.span.parent_span_id;
    if (!call.tenant.empty()) fields["tenant"] = call.tenant;
    if (!status.ok()) {
      const std::string reason = ErrorReasonOf(status);
      if (!reason.empty()) fields["reason"] = reason;
    }
    log::Write(level, "call", std::move(fields));
  }
  if (status.ok()) return status;
  return WithRequestInfo(std::move(status), call.span.trace_id,
                         absl::StrCat("span_id=", call.span.span_id));
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
