#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <libpq-fe.h>

namespace msp::pg {

// A failed statement. `sqlstate` is PostgreSQL's five-character code ("23505": unique
// violation); `connection_lost` means the server could not be reached or went away.
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate, bool connection_lost,
          bool unanswered = false);
  const std::string& sqlstate() const { return sqlstate_; }
  bool connection_lost() const { return connection_lost_; }
  // The server did not answer in time: the statement may or may not have run, so it is never
  // sent again on the caller's behalf.
  bool unanswered() const { return unanswered_; }
  bool IsUniqueViolation() const { return sqlstate_ == "23505"; }
  // Serialization failure or deadlock: the whole transaction may be tried again.
  bool IsRetryable() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }

 private:
  std::string sqlstate_;
  bool connection_lost_;
  bool unanswered_;
};

// libpq blocks without end on a server that stops answering (a hung host, a network that
// drops packets, a proxy that swallows them); these keep every wait bounded.

// Connects with `connect_timeout` (5 s) unless the conninfo sets its own, and routes the
// server's notices (e.g. "terminating connection due to administrator command") to the JSON
// log. Returns the connection whatever its status.
PGconn* Connect(const std::string& conninfo);
// How long to wait for the answer to a statement: the server's statement timeout plus time to
// report it.
std::chrono::milliseconds AnswerTimeout(int statement_timeout_ms);
// Waits until PQgetResult would not block (sending what is queued first). False when the
// deadline passes or the connection fails.
bool AwaitResult(PGconn* conn, std::chrono::steady_clock::time_point deadline);

// No connection could be had in time (pool exhausted or database down).
class PoolTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The settings every connection of the suite starts with: statement timeout, UTC, quiet
// notices, and the service's schema first on the search path.
std::string SessionSql(int statement_timeout_ms, const std::string& search_path);

using Param = std::optional<std::string>;  // nullopt is SQL NULL; text format

// A statement with its parameters, built by a store and sent by whoever runs it (a pooled
// connection, or a pipeline for callback handlers).
struct Statement {
  std::string sql;
  std::vector<Param> params;
};

// Whether a statement may be sent again on a fresh connection when the pooled one turns out
// dead on first use. Only for statements that are safe to repeat: BEGIN, reads, and writes
// that are idempotent by themselves (a request id).
enum class Resend { kIfStale, kNever };

class Result {
 public:
  explicit Result(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  bool empty() const { return rows() == 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  std::string_view Text(int row, int col) const;
  std::string String(int row, int col) const { return std::string(Text(row, col)); }
  int64_t Int64(int row, int col) const;
  bool Bool(int row, int col) const { return Text(row, col) == "t"; }
  // bytea in hex output format.
  std::string Bytes(int row, int col) const;
  // Number of rows a command touched (INSERT/UPDATE/DELETE).
  int64_t AffectedRows() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

// One server connection. Every statement with parameters is prepared once per connection
// and then executed by name: a read costs one round trip and no re-planning.
class Connection {
 public:
  // search_path: the service's schema first, e.g. "customer, public".
  Connection(const std::string& conninfo, int statement_timeout_ms,
             const std::string& search_path = "");
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a statement. If the connection turns out dead on the first statement after it left
  // the pool, reconnects once and sends it again, unless told kNever.
  Result Exec(std::string_view sql, const std::vector<Param>& params = {},
              Resend resend = Resend::kIfStale);
  // Plain multi-statement SQL without parameters (migrations).
  void ExecScript(std::string_view sql);
  bool Healthy() const;
  // SELECT 1, answered within `within` or PgError (and the connection is not reused).
  void Probe(std::chrono::milliseconds within);
  PGconn* raw() { return conn_; }
  void MarkAcquired() { used_since_acquire_ = false; }
  // Never reused: the pool closes it when its lease ends (session state we could not undo).
  void Discard() { broken_ = true; }

 private:
  Result ExecOnce(std::string_view sql, const std::vector<Param>& params);
  // Reads every result of what was sent, each wait bounded by answer_timeout_. Throws PgError.
  // `within` replaces answer_timeout_ for this wait.
  PGresult* AwaitResults(std::string_view what,
                         std::optional<std::chrono::milliseconds> within = std::nullopt);
  void Reconnect();

  PGconn* conn_ = nullptr;
  std::chrono::milliseconds answer_timeout_;
  std::string session_sql_;
  bool used_since_acquire_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
  bool broken_ = false;
};

struct PoolOptions {
  std::string conninfo;
  int size = 8;
  std::chrono::milliseconds acquire_timeout{2000};
  int statement_timeout_ms = 5000;
  std::string search_path;  // e.g. "customer, public"
};

class Pool;

// A borrowed connection; goes back to the pool on destruction (or is dropped if it broke).
class Lease {
 public:
  Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  Connection& operator*() { return *conn_; }
  Connection* operator->() { return conn_.get(); }

 private:
  Pool* pool_;
  std::unique_ptr<Connection> conn_;
};

// A bounded pool: at most `size` connections, opened lazily; callers wait up to
// acquire_timeout for one. Small on purpose: on 2 cores more connections only hurt.
class Pool {
 public:
  explicit Pool(PoolOptions options);
  Lease Acquire();
  // SELECT 1 on a pooled connection; false when the database is unreachable.
  bool Ping();
  int in_use() const;
  int size() const { return options_.size; }

 private:
  friend class Lease;
  void Release(std::unique_ptr<Connection> conn);

  PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable available_;
  std::deque<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
  int in_use_ = 0;
};

// BEGIN on construction, ROLLBACK on destruction unless committed.
// The trace of the work a transaction does, as a W3C traceparent, for what it writes to carry
// (outbox rows take it as their default). Transaction and StatementPipeline set it from the
// current span (trace::Current()).
inline constexpr char kTraceparentSetting[] = "msp.traceparent";

enum class Isolation {
  kReadCommitted,
  kSerializable,
  // Every read from one snapshot, and no writes (REPEATABLE READ, READ ONLY).
  kSnapshotReadOnly,
};

class Transaction {
 public:
  explicit Transaction(Connection& conn, Isolation isolation = Isolation::kReadCommitted);
  ~Transaction();
  Result Exec(std::string_view sql, const std::vector<Param>& params = {}) {
    return conn_.Exec(sql, params);
  }
  void Commit();
  Connection& conn() { return conn_; }

 private:
  Connection& conn_;
  bool done_ = false;
};

// Runs fn(Transaction&) in a fresh transaction on a pooled connection, again on a
// serialization failure or deadlock (at most `attempts` times). fn must be safe to repeat.
template <typename Fn>
auto WithTransaction(Pool& pool, Fn&& fn, Isolation isolation = Isolation::kReadCommitted,
                     int attempts = 3) {
  for (int attempt = 1;; ++attempt) {
    try {
      Lease conn = pool.Acquire();
      Transaction tx(*conn, isolation);
      return fn(tx);
    } catch (const PgError& e) {
      if (!e.IsRetryable() || attempt >= attempts) throw;
    }
  }
}

// Runs `job` while this process holds the session advisory lock named `name` (on a connection
// of `pool` kept for the job), and returns true; returns false at once, without running it,
// when another session holds the lock. A periodic job every replica schedules (a sweep, a
// purge) thus runs on one replica at a time. The lock ends with the job, or with its
// connection when the process dies.
bool RunExclusively(Pool& pool, std::string_view name, const std::function<void()>& job);

std::string EscapeLike(std::string_view text);
// WHERE terms of list queries, each adding its parameter to `params`: ` AND column =
// ANY($n::smallint[])` (nothing when `values` is empty), and ` AND column LIKE $n` matching
// `text` anywhere, case folded by lower() in every script (LIKE's wildcards escaped;
// nothing when `text` is empty).
void AppendAnyOf(std::string& where, std::vector<Param>& params, std::string_view column,
                 const std::vector<int>& values);
void AppendContains(std::string& where, std::vector<Param>& params, std::string_view column,
                    std::string_view text);
std::string ToHex(std::string_view bytes);  // for bytea parameters: "\\x..."

// Array parameters in PostgreSQL's text form, for `$n::smallint[]`, `$n::text[]`, ...
// Elements as they are (numbers, NULL): {1,5,9}.
template <typename Range>
std::string ArrayLiteral(const Range& elements) {
  std::string out = "{";
  for (const auto& e : elements) {
    if (out.size() > 1) out += ',';
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(e)>>) {
      out += std::to_string(e);
    } else {
      out += e;
    }
  }
  return out + "}";
}
// Text elements, quoted and escaped: {"a","b \"c\""}.
std::string TextArrayLiteral(const std::vector<std::string>& elements);
// The numbers of an integer array column's text form ("{1,5,9}").
std::vector<int> ParseIntArray(std::string_view text);

}  // namespace msp::pg
