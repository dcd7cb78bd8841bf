// Page tokens come back from clients: any bytes as a token are refused with INVALID_ARGUMENT
// naming page_token (or decoded), and every token the server makes decodes to what it encoded.
#include <cstdint>
#include <string>

#include "domain/list_query.h"
#include "fuzz_support.h"
#include "msp/common/page_tokens.h"

namespace {
namespace cv1 = msp::customer::v1;
using msp::fuzz::Check;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  const std::string raw(reinterpret_cast<const char*>(data), size);

  // As a token: decoded into the cursor or refused.
  cv1::ListCustomersRequest request;
  request.set_page_token(raw);
  msp::fuzz::RefusesCleanly(
      [&] { msp::DecodeKeysetPageToken<cv1::CustomerPageCursor>(request, "fuzz"); },
      {"page_token"});

  // As a cursor's contents: what is encoded decodes to the same row, for the same query only.
  // (The row's values come from text columns and the query from protobuf strings: UTF-8.)
  const auto f = msp::fuzz::Fields(data, size, 5);
  for (const auto& field : f) {
    if (!msp::IsValidUtf8(field)) return 0;
  }
  // Within what the lists accept: order_by (short), filter (1000 bytes), search (100
  // characters), a sort value (a 200-character company name), a customer id.
  if (f[0].size() > 64 || f[1].size() > 1000 || f[2].size() > 400 || f[3].size() > 800 ||
      f[4].size() > 64) {
    return 0;
  }
  request.set_order_by(f[0]);
  request.set_filter(f[1]);
  request.set_search(f[2]);
  request.set_page_token(msp::EncodeKeysetPageToken<cv1::CustomerPageCursor>(
      request, "fuzz", f[3], f[4].empty() ? "x" : f[4]));
  const auto row = msp::DecodeKeysetPageToken<cv1::CustomerPageCursor>(request, "fuzz");
  Check(row && row->first == f[3] && row->second == (f[4].empty() ? "x" : f[4]),
        "a page token does not round-trip");
  // Another MSP cannot use it.
  Check(msp::fuzz::RefusesCleanly(
            [&] { msp::DecodeKeysetPageToken<cv1::CustomerPageCursor>(request, "other"); },
            {"page_token"}),
        "another MSP's page token was accepted");
  return 0;
}
