#include "status_details.h"

#include <grpcpp/support/error_details.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace msp::testing {

Details DetailsOf(const grpc::Status& status) {
  Details out;
  google::rpc::Status rpc_status;
  if (!grpc::ExtractErrorDetails(status, &rpc_status).ok()) return out;
  for (const auto& any : rpc_status.details()) {
    google::rpc::ErrorInfo info;
    google::rpc::BadRequest bad;
    google::rpc::PreconditionFailure pre;
    google::rpc::RetryInfo retry;
    google::rpc::RequestInfo request;
    if (any.UnpackTo(&info)) {
      out.reason = info.reason();
      out.domain = info.domain();
      out.metadata.insert(info.metadata().begin(), info.metadata().end());
    } else if (any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) out.fields.push_back(v.field());
    } else if (any.UnpackTo(&pre)) {
      for (const auto& v : pre.violations()) out.preconditions.push_back(v.type());
    } else if (any.UnpackTo(&request)) {
      out.request_id = request.request_id();
    } else if (any.UnpackTo(&retry)) {
      out.retry_delay_ms =
          retry.retry_delay().seconds() * 1000 + retry.retry_delay().nanos() / 1000000;
    }
  }
  return out;
}

}  // namespace msp::testing
