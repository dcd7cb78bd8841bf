#include "msp/common/idempotency.h"

#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"

namespace msp::idempotency {

Migration TableMigration(int version) {
  static const char* kSql = R"sql(
CREATE TABLE idempotency_keys (
  msp_id       text NOT NULL,
  request_id   text NOT NULL,
  method       text NOT NULL,
  request_hash bytea NOT NULL,
  response     bytea NOT NULL,
  create_time  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (msp_id, request_id)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (create_time);
)sql";
  return Migration{version, "idempotency_keys", kSql};
}

bool IsValidRequestId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::string KeyOf(bool from_service, const std::string& request_id) {
  if (request_id.empty() || !from_service) return request_id;
  return absl::StrCat(kServiceRequestIdPrefix, request_id);
}

bool IsValidServiceRequestId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

std::string RequestIdOfKey(const std::string& key) {
  const std::string_view prefix = kServiceRequestIdPrefix;
  return key.compare(0, prefix.size(), prefix) == 0 ? key.substr(prefix.size()) : key;
}

void CheckRequestId(const std::string& request_id, const std::string& field, bool from_service) {
  if (request_id.empty()) return;
  if (from_service) {
    if (!IsValidServiceRequestId(request_id)) {
      throw ApiError::InvalidArgument(
          {{field, "1-128 characters of letters, digits, '-', '_', '.' or '/'"}});
    }
    return;
  }
  if (!IsValidRequestId(request_id)) {
    throw ApiError::InvalidArgument(
        {{field, "1-64 characters of letters, digits, '-', '_' or '.' (a UUID fits)"}});
  }
}

std::string RequestHash(const google::protobuf::Message& request) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  {
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

pg::Statement FindResponseStatement(const std::string& msp_id, const std::string& request_id) {
  return {
      "SELECT method, request_hash, response FROM idempotency_keys WHERE msp_id = $1 AND "
      "request_id = $2",
      {msp_id, request_id}};
}

std::optional<std::string> ResponseFromResult(const pg::Result& prior, const std::string& method,
                                              const std::string& request_hash) {
  if (prior.empty()) return std::nullopt;
  if (prior.String(0, 0) != method || prior.Bytes(0, 1) != request_hash) {
    throw ApiError::InvalidArgument(
        {{"request_id", "already used for a different request; use a new request_id"}},
        "REQUEST_ID_REUSED");
  }
  return prior.Bytes(0, 2);
}

std::optional<std::string> FindResponse(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& request_id, const std::string& method,
                                        const std::string& request_hash) {
  pg::Statement find = FindResponseStatement(msp_id, request_id);
  return ResponseFromResult(conn.Exec(find.sql, find.params), method, request_hash);
}

std::optional<std::string> Claim(pg::Connection& conn, const std::string& msp_id,
                                 const std::string& request_id, const std::string& method,
                                 const std::string& request_hash) {
  // A concurrent twin blocks here on the primary key until the first commits or rolls back.
  auto claimed = conn.Exec(
      "INSERT INTO idempotency_keys (msp_id, request_id, method, request_hash, response) "
      "VALUES ($1, $2, $3, $4::bytea, ''::bytea) ON CONFLICT DO NOTHING RETURNING 1",
      {msp_id, request_id, method, pg::ToHex(request_hash)});
  if (!claimed.empty()) return std::nullopt;
  auto prior = FindResponse(conn, msp_id, request_id, method, request_hash);
  if (!prior) throw ApiError::Aborted("REQUEST_IN_FLIGHT", "retry the request");
  return prior;
}

void SaveResponse(pg::Connection& conn, const std::string& msp_id, const std::string& request_id,
                  const std::string& response) {
  conn.Exec(
      "UPDATE idempotency_keys SET response = $3::bytea WHERE msp_id = $1 AND request_id = $2",
      {msp_id, request_id, pg::ToHex(response)});
}

std::vector<PriorAnswer> FindResponses(pg::Connection& conn, const std::string& msp_id,
                                       const std::vector<std::string>& request_ids,
                                       const std::string& method,
                                       const std::vector<std::string>& request_hashes) {
  std::vector<PriorAnswer> out(request_ids.size());
  if (request_ids.empty()) return out;
  // One lookup by the whole key per id (LIMIT keeps the subquery from being flattened): never
  // a scan of the MSP's keys, which a planner whose statistics have the MSP as new prefers,
  // taking it for a few rows; both a plain LATERAL join and request_id = ANY(...) were planned
  // as that scan, its cost growing with the MSP.
  auto prior = conn.Exec(
      "SELECT k.request_id, k.method, k.request_hash, k.response FROM unnest($2::text[]) AS r(id) "
      "CROSS JOIN LATERAL (SELECT * FROM idempotency_keys WHERE msp_id = $1 AND request_id = r.id "
      "LIMIT 1) k",
      {msp_id, pg::TextArrayLiteral(request_ids)});
  std::map<std::string, int> row_of;
  for (int i = 0; i < prior.rows(); ++i) row_of[prior.String(i, 0)] = i;
  for (size_t i = 0; i < request_ids.size(); ++i) {
    auto it = row_of.find(request_ids[i]);
    if (it == row_of.end()) continue;
    if (prior.String(it->second, 1) != method || prior.Bytes(it->second, 2) != request_hashes[i]) {
      out[i].error = ApiError::InvalidArgument(
          {{"request_id", "already used for a different request; use a new request_id"}},
          "REQUEST_ID_REUSED");
    } else {
      out[i].response = prior.Bytes(it->second, 3);
    }
  }
  return out;
}

void SaveNewResponses(pg::Connection& conn, const std::string& msp_id,
                      const std::vector<std::string>& request_ids, const std::string& method,
                      const std::vector<std::string>& request_hashes,
                      const std::vector<std::string>& responses) {
  if (request_ids.empty()) return;
  std::vector<std::string> hashes, answers;
  for (const auto& hash : request_hashes) hashes.push_back(pg::ToHex(hash));
  for (const auto& response : responses) answers.push_back(pg::ToHex(response));
  conn.Exec(
      "INSERT INTO idempotency_keys (msp_id, request_id, method, request_hash, response) "
      "SELECT $1, r, $3, h::bytea, a::bytea FROM unnest($2::text[], $4::text[], $5::text[]) "
      "AS u(r, h, a) ON CONFLICT DO NOTHING",
      {msp_id, pg::TextArrayLiteral(request_ids), method, pg::TextArrayLiteral(hashes),
       pg::TextArrayLiteral(answers)});
}

int64_t Purge(pg::Connection& conn, std::chrono::hours retention, int batch) {
  return conn
      .Exec(
          "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys "
          "WHERE create_time < now() - $1::bigint * interval '1 hour' LIMIT $2))",
          {std::to_string(retention.count()), std::to_string(batch)})
      .AffectedRows();
}

void PurgeExpired(pg::Pool& pool, std::string_view service, std::chrono::hours retention) {
  constexpr int kBatch = 1000;
  pg::RunExclusively(pool, std::string(service) + ":purge-request-ids", [&] {
    auto conn = pool.Acquire();
    while (Purge(*conn, retention, kBatch) == kBatch) {
    }
  });
}

}  // namespace msp::idempotency
