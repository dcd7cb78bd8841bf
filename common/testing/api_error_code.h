#pragma once

#include <functional>

#include <grpcpp/support/status.h>

#include "msp/common/errors.h"

namespace msp::testing {

// The code of the ApiError `fn` throws; OK when it throws none.
inline grpc::StatusCode CodeOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.code();
  }
  return grpc::StatusCode::OK;
}

}  // namespace msp::testing
