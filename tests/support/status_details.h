#pragma once

#include <map>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

namespace msp::testing {

// What a google.rpc.Status error carries, as a test reads it.
struct Details {
  std::string reason;
  std::string domain;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> fields;         // BadRequest field violations
  std::vector<std::string> preconditions;  // PreconditionFailure types
  int64_t retry_delay_ms = -1;             // RetryInfo, -1 when absent
  std::string request_id;                  // RequestInfo (the call's trace id), empty when absent
};

Details DetailsOf(const grpc::Status& status);

}  // namespace msp::testing
