#pragma once

#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

// A message as proto3 JSON, indented, as grpcurl prints answers (msp_call, mspctl --json).
// `emit_defaults` prints fields at their defaults too (grpcurl's -emit-defaults): an empty list
// is [] rather than missing, which scripts reading mspctl --json expect.
inline std::string ProtoJson(const google::protobuf::Message& message, bool emit_defaults = false) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = emit_defaults;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}
