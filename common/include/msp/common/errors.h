#pragma once

#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

namespace msp {

struct FieldViolation {
  std::string field;        // request field path, e.g. "customer.contact.work_email"
  std::string description;  // what is wrong, for a person
  bool operator==(const FieldViolation&) const = default;
};

struct PreconditionViolation {
  std::string type;     // the rule, UPPER_SNAKE
  std::string subject;  // what it applies to, e.g. a resource name
  std::string description;
};

// An API error in the google.rpc.Status model: canonical code, an UPPER_SNAKE reason
// (ErrorInfo), and the details that apply. Domain and store code throw it; the RPC layer
// turns it into a grpc::Status with details.
class ApiError : public std::exception {
 public:
  ApiError(grpc::StatusCode code, std::string reason, std::string message);

  static ApiError InvalidArgument(std::vector<FieldViolation> violations,
                                  std::string reason = "INVALID_FIELDS");
  static ApiError FailedPrecondition(std::string reason, std::string message,
                                     std::string subject = "");
  static ApiError NotFound(std::string resource_type, std::string resource_name);
  static ApiError Aborted(std::string reason, std::string message);
  static ApiError Unauthenticated(std::string reason, std::string message);
  static ApiError PermissionDenied(std::string reason, std::string message);
  static ApiError ResourceExhausted(std::string reason, std::string message,
                                    std::chrono::milliseconds retry_delay);
  static ApiError Unavailable(std::string reason, std::string message);
  static ApiError Internal(std::string message);

  const char* what() const noexcept override { return message_.c_str(); }
  grpc::StatusCode code() const { return code_; }
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }
  const std::vector<FieldViolation>& field_violations() const { return field_violations_; }
  const std::vector<PreconditionViolation>& precondition_violations() const {
    return precondition_violations_;
  }

  ApiError& WithMetadata(std::string key, std::string value);
  ApiError& WithResource(std::string type, std::string name);

  // The grpc::Status with google.rpc.Status details; `domain` names the service.
  grpc::Status ToStatus(const std::string& domain) const;

 private:
  grpc::StatusCode code_;
  std::string reason_;
  std::string message_;
  std::vector<FieldViolation> field_violations_;
  std::vector<PreconditionViolation> precondition_violations_;
  std::map<std::string, std::string> metadata_;
  std::optional<std::chrono::milliseconds> retry_delay_;
  std::string resource_type_;
  std::string resource_name_;
};

// Whether another service's answer is final: retrying the same request cannot change it
// (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE). Outbox handlers stop
// retrying such a delivery.
bool IsPermanentRefusal(grpc::StatusCode code);

// An answer that is the service's failure, not the caller's (INTERNAL, UNKNOWN, DATA_LOSS,
// UNAVAILABLE): logged at warn, counted as an export failure.
bool IsServerFault(grpc::StatusCode code);

// The error with a google.rpc.RequestInfo added to its details (request_id: the call's trace id),
// so that a caller can quote it and an operator find the call's log lines.
grpc::Status WithRequestInfo(grpc::Status status, const std::string& request_id,
                             const std::string& serving_data);

// The ErrorInfo reason of a status another service answered ("" when it carries none).
std::string ErrorReasonOf(const grpc::Status& status);

}  // namespace msp
