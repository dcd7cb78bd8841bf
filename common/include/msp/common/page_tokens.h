#pragma once

#include <string>

#include <google/protobuf/message.h>

// Opaque page tokens (AIP-158): a cursor message of the list's own, serialized and web-safe
// base64 encoded. The cursor names the query it continues; the list checks that it matches.
namespace msp {

std::string EncodePageToken(const google::protobuf::Message& cursor);
// False for a token that is not one of ours (too long, not base64, not that message).
bool DecodePageToken(const std::string& token, google::protobuf::Message* cursor);

// 0: `default_size`; above `max_size`: `max_size`. Throws INVALID_ARGUMENT naming
// `page_size` when negative.
int ClampPageSize(int requested, int default_size, int max_size);

}  // namespace msp
