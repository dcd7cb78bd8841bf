#pragma once

#include <chrono>
#include <cstdint>

#include <google/protobuf/timestamp.pb.h>

// google.protobuf.Timestamp from and to the microseconds PostgreSQL keeps.
namespace msp {

inline void SetTimestampMicros(google::protobuf::Timestamp* ts, int64_t micros) {
  ts->set_seconds(micros / 1000000);
  ts->set_nanos(static_cast<int32_t>((micros % 1000000) * 1000));
}

inline int64_t TimestampMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

inline void SetTimestamp(google::protobuf::Timestamp* ts,
                         std::chrono::system_clock::time_point time) {
  SetTimestampMicros(
      ts, std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count());
}

inline std::chrono::system_clock::time_point TimePointOfMicros(int64_t micros) {
  return std::chrono::system_clock::time_point(std::chrono::microseconds(micros));
}

}  // namespace msp
