#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include <google/protobuf/message.h>

#include "msp/common/errors.h"

// Opaque page tokens (AIP-158): a cursor message of the list's own, serialized, followed by a
// MAC of it under the server's page-token key, web-safe base64 encoded. The cursor names the
// query it continues (tenant, order, filter, search); the list checks that it matches, and the
// MAC that nobody but a server with the key wrote it, so a tampered cursor never reaches SQL.
namespace msp {

inline constexpr size_t kMaxPageTokenLength = 4096;

// The key every replica of a service shares (set once at start-up, before serving). Until it
// is set, a random key of this process is used: its tokens do not survive a restart.
void SetPageTokenKey(const std::string& key);

std::string EncodePageToken(const google::protobuf::Message& cursor);
// False for a token that is not one of ours (too long, not base64, a MAC that does not verify,
// not that message).
bool DecodePageToken(const std::string& token, google::protobuf::Message* cursor);

// Keyset lists (order_by, filter, search; AIP-132/158): the token that continues after a row,
// and the row a request's token continues after (nullopt: no token). A token is bound to the
// MSP and to the request fields that shape the list; any other is INVALID_ARGUMENT naming
// `page_token`. Cursor: a message with msp_id, order_by, filter, search, last_sort_value and
// last_customer_id; Request: one with order_by, filter, search and page_token.
template <typename Cursor, typename Request>
std::string EncodeKeysetPageToken(const Request& request, const std::string& msp_id,
                                  const std::string& sort_value, const std::string& last_id) {
  Cursor cursor;
  cursor.set_msp_id(msp_id);
  cursor.set_order_by(request.order_by());
  cursor.set_filter(request.filter());
  cursor.set_search(request.search());
  cursor.set_last_sort_value(sort_value);
  cursor.set_last_customer_id(last_id);
  return EncodePageToken(cursor);
}

template <typename Cursor, typename Request>
std::optional<std::pair<std::string, std::string>> DecodeKeysetPageToken(
    const Request& request, const std::string& msp_id) {
  if (request.page_token().empty()) return std::nullopt;
  Cursor cursor;
  if (!DecodePageToken(request.page_token(), &cursor)) {
    throw ApiError::InvalidArgument({{"page_token", "not a page token of this list"}});
  }
  if (cursor.msp_id() != msp_id || cursor.order_by() != request.order_by() ||
      cursor.filter() != request.filter() || cursor.search() != request.search() ||
      cursor.last_customer_id().empty()) {
    throw ApiError::InvalidArgument(
        {{"page_token",
          "the page token belongs to a different query: keep filter, order_by and search "
          "unchanged"}});
  }
  return std::make_pair(cursor.last_sort_value(), cursor.last_customer_id());
}

// 0: `default_size`; above `max_size`: `max_size`. Throws INVALID_ARGUMENT naming
// `page_size` when negative.
int ClampPageSize(int requested, int default_size, int max_size);

}  // namespace msp
