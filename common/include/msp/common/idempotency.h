#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "msp/common/errors.h"
#include "msp/common/migrations.h"
#include "msp/common/pg.h"

// Request ids: a retried write with the same `request_id` gets the first answer and changes
// nothing. Each service keeps its answers in an `idempotency_keys` table of its own schema
// (TableMigration), keyed by (msp_id, request_id).
namespace msp::idempotency {

// The table, as a migration a service adds to its own list (in its own schema).
Migration TableMigration(int version);

// 1-64 characters of letters, digits, '-', '_' or '.' (a UUID fits).
bool IsValidRequestId(std::string_view id);

// Internal callers' request ids are kept under this prefix: an id an MSP chooses cannot hold
// ':', so an MSP can never pick the id a service will use (and answer or suppress its call).
inline constexpr char kServiceRequestIdPrefix[] = "service:";
// The key a request id is kept under: the id itself for people, prefixed for services.
std::string KeyOf(bool from_service, const std::string& request_id);
// A service's own request ids may also hold '/' and run to 128 characters: they name what
// they stand for (a bulk job's row: `bulkJobs/{job}/rows/{row}`).
bool IsValidServiceRequestId(std::string_view id);
// The request id a key keeps (KeyOf's inverse): what a trail shows.
std::string RequestIdOfKey(const std::string& key);
// Throws INVALID_ARGUMENT naming `field` when a non-empty id is malformed (with
// `from_service`: as a service's may be).
void CheckRequestId(const std::string& request_id, const std::string& field = "request_id",
                    bool from_service = false);

// A digest of the request (deterministic serialisation): the same id with a different
// request is refused rather than answered with the other request's answer.
std::string RequestHash(const google::protobuf::Message& request);

// Claims (msp, request_id) inside the caller's transaction. Returns the saved answer if the
// request was answered before; a concurrent twin waits on the key until the first commits.
// Throws INVALID_ARGUMENT REQUEST_ID_REUSED when the id came with a different request.
std::optional<std::string> Claim(pg::Connection& conn, const std::string& msp_id,
                                 const std::string& request_id, const std::string& method,
                                 const std::string& request_hash);
// A batch's request ids (each request idempotent on its own), for a caller that holds locks
// making twins of its requests wait for each other (the batch's customers): the answers saved
// for the ids, then the new answers, each in one statement.
struct PriorAnswer {
  std::optional<std::string> response;  // answered before
  std::optional<ApiError> error;        // REQUEST_ID_REUSED: the id came with another request
};
std::vector<PriorAnswer> FindResponses(pg::Connection& conn, const std::string& msp_id,
                                       const std::vector<std::string>& request_ids,
                                       const std::string& method,
                                       const std::vector<std::string>& request_hashes);
void SaveNewResponses(pg::Connection& conn, const std::string& msp_id,
                      const std::vector<std::string>& request_ids, const std::string& method,
                      const std::vector<std::string>& request_hashes,
                      const std::vector<std::string>& responses);
// The answer saved for (msp, request_id), if any (same REQUEST_ID_REUSED check).
std::optional<std::string> FindResponse(pg::Connection& conn, const std::string& msp_id,
                                        const std::string& request_id, const std::string& method,
                                        const std::string& request_hash);
// The same as two steps, for a pipeline: the read, and the answer from its result.
pg::Statement FindResponseStatement(const std::string& msp_id, const std::string& request_id);
std::optional<std::string> ResponseFromResult(const pg::Result& prior, const std::string& method,
                                              const std::string& request_hash);
void SaveResponse(pg::Connection& conn, const std::string& msp_id, const std::string& request_id,
                  const std::string& response);

// A write once per request id, in one transaction of its own: the answer saved for
// (msp, request_id) when there is one, else `write`'s (run on the transaction's connection),
// saved with it. No request id: `write` alone. `Answer` is a proto message.
template <typename Answer, typename Write>
Answer WriteOnce(pg::Pool& pool, const std::string& msp_id, const std::string& request_id,
                 const std::string& method, const std::string& request_hash, Write&& write) {
  return pg::WithTransaction(pool, [&](pg::Transaction& tx) {
    auto& conn = tx.conn();
    if (!request_id.empty()) {
      if (auto prior = Claim(conn, msp_id, request_id, method, request_hash)) {
        Answer answer;
        answer.ParseFromString(*prior);
        return answer;
      }
    }
    Answer answer = write(conn);
    if (!request_id.empty()) SaveResponse(conn, msp_id, request_id, answer.SerializeAsString());
    tx.Commit();
    return answer;
  });
}
// Deletes answers older than `retention`, at most `batch` rows a call (short locks). Returns
// how many went.
int64_t Purge(pg::Connection& conn, std::chrono::hours retention, int batch);
// Every answer older than `retention`, a batch at a time, on one replica of `service` at a time
// (the others skip the round: pg::RunExclusively).
void PurgeExpired(pg::Pool& pool, std::string_view service, std::chrono::hours retention);

}  // namespace msp::idempotency
