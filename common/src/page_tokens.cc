#include "msp/common/page_tokens.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "msp/common/errors.h"

namespace msp {

std::string EncodePageToken(const google::protobuf::Message& cursor) {
  std::string out;
  absl::WebSafeBase64Escape(cursor.SerializeAsString(), &out);
  return out;
}

bool DecodePageToken(const std::string& token, google::protobuf::Message* cursor) {
  std::string raw;
  // The longest token the lists make: a 1000-byte filter, 100 characters of search and a
  // 200-character sort value (up to 4 bytes each), base64: ~3.1k characters.
  return token.size() <= kMaxPageTokenLength && absl::WebSafeBase64Unescape(token, &raw) &&
         cursor->ParseFromString(raw);
}

int ClampPageSize(int requested, int default_size, int max_size) {
  if (requested < 0) throw ApiError::InvalidArgument({{"page_size", "must not be negative"}});
  if (requested == 0) return default_size;
  return std::min(requested, max_size);
}

}  // namespace msp
