#pragma once

#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

// A message as proto3 JSON, indented, as grpcurl prints answers (msp_call, mspctl --json).
inline std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}
