#include "msp/common/pg.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "msp/common/log.h"
#include "msp/common/strings.h"
#include "msp/common/trace.h"

namespace msp::pg {
namespace {

[[noreturn]] void ThrowFromResult(PGconn* conn, PGresult* result, std::string_view what) {
  std::string sqlstate;
  std::string message;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (state != nullptr) sqlstate = state;
    message = PQresultErrorMessage(result);
    PQclear(result);
  }
  if (message.empty()) message = PQerrorMessage(conn);
  const bool lost = PQstatus(conn) != CONNECTION_OK || sqlstate.rfind("08", 0) == 0 ||
                    sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw PgError(absl::StrCat(AbslView(what), ": ", message), sqlstate, lost);
}

void LogNotice(void*, const char* message) {
  std::string text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  log::Warn("postgresql notice", {{"notice", text}});
}

bool ResultOk(PGresult* result) {
  if (result == nullptr) return false;
  const auto status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

}  // namespace

PgError::PgError(const std::string& message, std::string sqlstate, bool connection_lost,
                 bool unanswered)
    : std::runtime_error(message),
      sqlstate_(std::move(sqlstate)),
      connection_lost_(connection_lost),
      unanswered_(unanswered) {}

PGconn* Connect(const std::string& conninfo) {
  // The conninfo (keywords or a URI) comes second so that its own connect_timeout wins.
  const char* keywords[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"5", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn != nullptr) PQsetNoticeProcessor(conn, LogNotice, nullptr);
  return conn;
}

std::chrono::milliseconds AnswerTimeout(int statement_timeout_ms) {
  if (statement_timeout_ms <= 0) return std::chrono::minutes(5);
  return std::chrono::milliseconds(statement_timeout_ms) + std::chrono::seconds(3);
}

bool AwaitResult(PGconn* conn, std::chrono::steady_clock::time_point deadline) {
  const int fd = PQsocket(conn);
  if (fd < 0) return false;
  while (true) {
    if (PQconsumeInput(conn) == 0) return false;
    if (PQisBusy(conn) == 0) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000000))) < 0 &&
        errno != EINTR) {
      return false;
    }
  }
}

std::string_view Result::Text(int row, int col) const {
  return std::string_view(PQgetvalue(result_.get(), row, col),
                          static_cast<size_t>(PQgetlength(result_.get(), row, col)));
}

int64_t Result::Int64(int row, int col) const {
  int64_t value = 0;
  if (!absl::SimpleAtoi(AbslView(Text(row, col)), &value)) {
    throw PgError(absl::StrCat("column ", col, " is not an integer"), "", false);
  }
  return value;
}

std::string Result::Bytes(int row, int col) const {
  size_t length = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, col)), &length);
  if (raw == nullptr) throw PgError("cannot decode bytea", "", false);
  std::string out(reinterpret_cast<char*>(raw), length);
  PQfreemem(raw);
  return out;
}

int64_t Result::AffectedRows() const {
  int64_t value = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(result_.get()), &value);
  return value;
}

std::string SessionSql(int statement_timeout_ms, const std::string& search_path) {
  return absl::StrCat("SET statement_timeout = ", statement_timeout_ms,
                      "; SET idle_in_transaction_session_timeout = 60000; SET TIME ZONE 'UTC'"
                      "; SET client_min_messages = warning",
                      search_path.empty() ? "" : "; SET search_path TO ", search_path);
}

Connection::Connection(const std::string& conninfo, int statement_timeout_ms,
                       const std::string& search_path)
    : answer_timeout_(AnswerTimeout(statement_timeout_ms)) {
  conn_ = Connect(conninfo);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw PgError("cannot connect to PostgreSQL: " + message, "08001", true);
  }
  session_sql_ = SessionSql(statement_timeout_ms, search_path);
  ExecScript(session_sql_);
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::Healthy() const {
  return !broken_ && conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

void Connection::Reconnect() {
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    broken_ = true;
    std::string message = PQerrorMessage(conn_);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw PgError("cannot reconnect to PostgreSQL: " + message, "08001", true);
  }
  prepared_.clear();
  broken_ = false;
  ExecScript(session_sql_);
}

Result Connection::Exec(std::string_view sql, const std::vector<Param>& params, Resend resend) {
  const bool first_since_acquire = !used_since_acquire_;
  used_since_acquire_ = true;
  try {
    return ExecOnce(sql, params);
  } catch (const PgError& e) {
    if (!first_since_acquire || !e.connection_lost() || e.unanswered() ||
        resend == Resend::kNever) {
      throw;
    }
    // The server went away while this connection sat idle in the pool (restart, failover).
    // The caller said the statement is safe to repeat.
    Reconnect();
    return ExecOnce(sql, params);
  }
}

PGresult* Connection::AwaitResults(std::string_view what,
                                   std::optional<std::chrono::milliseconds> within) {
  const auto timeout = within.value_or(answer_timeout_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PGresult* kept = nullptr;
  while (true) {
    if (!AwaitResult(conn_, deadline)) {
      PQclear(kept);
      broken_ = true;  // an answer may still come: this connection is never used again
      const bool lost = PQstatus(conn_) != CONNECTION_OK;
      throw PgError(absl::StrCat(AbslView(what), lost ? ": connection lost" : ": no answer within ",
                                 lost ? "" : absl::StrCat(timeout.count(), " ms")),
                    "08006", /*connection_lost=*/true, /*unanswered=*/!lost);
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) return kept;
    // Like PQexec: the last result, unless an earlier one is an error.
    if (kept != nullptr && ResultOk(kept)) {
      PQclear(kept);
      kept = nullptr;
    }
    if (kept == nullptr) {
      kept = result;
    } else {
      PQclear(result);
    }
  }
}

Result Connection::ExecOnce(std::string_view sql, const std::vector<Param>& params) {
  std::string key(sql);
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = absl::StrCat("s", prepared_.size());
    if (PQsendPrepare(conn_, name.c_str(), key.c_str(), 0, nullptr) == 0) {
      broken_ = true;
      ThrowFromResult(conn_, nullptr, "prepare");
    }
    PGresult* prep = AwaitResults("prepare");
    if (!ResultOk(prep)) {
      broken_ = broken_ || PQstatus(conn_) != CONNECTION_OK;
      ThrowFromResult(conn_, prep, "prepare");
    }
    PQclear(prep);
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()), values.data(),
                          nullptr, nullptr, 0) == 0) {
    broken_ = true;
    ThrowFromResult(conn_, nullptr, "query");
  }
  PGresult* result = AwaitResults("query");
  if (!ResultOk(result)) {
    broken_ = broken_ || PQstatus(conn_) != CONNECTION_OK;
    ThrowFromResult(conn_, result, "query");
  }
  return Result(result);
}

void Connection::Probe(std::chrono::milliseconds within) {
  used_since_acquire_ = true;
  if (PQsendQuery(conn_, "SELECT 1") == 0) {
    broken_ = true;
    ThrowFromResult(conn_, nullptr, "probe");
  }
  PGresult* result = AwaitResults("probe", within);
  if (!ResultOk(result)) {
    broken_ = true;
    ThrowFromResult(conn_, result, "probe");
  }
  PQclear(result);
}

void Connection::ExecScript(std::string_view sql) {
  if (PQsendQuery(conn_, std::string(sql).c_str()) == 0) {
    broken_ = true;
    ThrowFromResult(conn_, nullptr, "script");
  }
  PGresult* result = AwaitResults("script");
  if (!ResultOk(result)) {
    broken_ = broken_ || PQstatus(conn_) != CONNECTION_OK;
    ThrowFromResult(conn_, result, "script");
  }
  PQclear(result);
}

Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Release(std::move(conn_));
}

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Lease Pool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  while (idle_.empty() && open_ >= options_.size) {
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.size) {
      throw PoolTimeout("no database connection free within the acquire timeout");
    }
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.front());
    idle_.pop_front();
    ++in_use_;
    conn->MarkAcquired();
    return Lease(this, std::move(conn));
  }
  ++open_;
  ++in_use_;
  lock.unlock();
  try {
    return Lease(this, std::make_unique<Connection>(
                           options_.conninfo, options_.statement_timeout_ms, options_.search_path));
  } catch (...) {
    lock.lock();
    --open_;
    --in_use_;
    available_.notify_one();
    throw;
  }
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  --in_use_;
  // A connection left mid-transaction (an exception escaped) or broken is not reused.
  if (conn->Healthy() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  available_.notify_one();
}

bool Pool::Ping() {
  try {
    Lease conn = Acquire();
    // Readiness must notice a database that stopped answering within seconds, not after a
    // statement's whole timeout.
    conn->Probe(std::chrono::seconds(2));
    return true;
  } catch (const std::exception& e) {
    // Drop idle connections: after an outage they are all dead.
    std::lock_guard<std::mutex> lock(mu_);
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
    return false;
  }
}

bool RunExclusively(Pool& pool, std::string_view name, const std::function<void()>& job) {
  // The two-key form: a space of its own, apart from the single-key locks (customers').
  static constexpr char kLock[] = "(hashtext('msp-exclusive-jobs'), hashtext($1))";
  const std::string key(name);
  Lease conn = pool.Acquire();
  if (!conn->Exec(absl::StrCat("SELECT pg_try_advisory_lock", kLock), {key}).Bool(0, 0)) {
    return false;
  }
  const auto unlock = [&] {
    try {
      conn->Exec(absl::StrCat("SELECT pg_advisory_unlock", kLock), {key}, Resend::kNever);
    } catch (const std::exception&) {
      conn->Discard();  // a live session keeping the lock would shut the others out for ever
    }
  };
  try {
    job();
  } catch (...) {
    unlock();
    throw;
  }
  unlock();
  return true;
}

int Pool::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

Transaction::Transaction(Connection& conn, Isolation isolation) : conn_(conn) {
  switch (isolation) {
    case Isolation::kReadCommitted:
      conn_.Exec("BEGIN");
      break;
    case Isolation::kSerializable:
      conn_.Exec("BEGIN ISOLATION LEVEL SERIALIZABLE");
      break;
    case Isolation::kSnapshotReadOnly:
      conn_.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      return;  // writes nothing to trace
  }
  if (const std::string traceparent = trace::CurrentTraceparent(); !traceparent.empty()) {
    static const std::string kSetTrace =
        absl::StrCat("SELECT set_config('", kTraceparentSetting, "', $1, true)");
    conn_.Exec(kSetTrace, {traceparent});
  }
}

Transaction::~Transaction() {
  if (done_) return;
  try {
    conn_.Exec("ROLLBACK");
  } catch (const std::exception&) {
    // The connection is broken; the pool drops it.
  }
}

void Transaction::Commit() {
  done_ = true;
  conn_.Exec("COMMIT");
}

std::string EscapeLike(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

void AppendAnyOf(std::string& where, std::vector<Param>& params, std::string_view column,
                 const std::vector<int>& values) {
  if (values.empty()) return;
  params.push_back(ArrayLiteral(values));
  absl::StrAppend(&where, " AND ", AbslView(column), " = ANY($", params.size(), "::smallint[])");
}

void AppendContains(std::string& where, std::vector<Param>& params, std::string_view column,
                    std::string_view text) {
  if (text.empty()) return;
  params.push_back(absl::StrCat("%", EscapeLike(text), "%"));
  // PostgreSQL's lower() folds every script's case (the columns are lower()ed the same way).
  absl::StrAppend(&where, " AND ", AbslView(column), " LIKE lower($", params.size(), ")");
}

std::string TextArrayLiteral(const std::vector<std::string>& elements) {
  std::string out = "{";
  for (const auto& e : elements) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : e) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<int> ParseIntArray(std::string_view text) {
  std::vector<int> out;
  if (text.size() <= 2) return out;
  text = text.substr(1, text.size() - 2);
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(std::stoi(std::string(text.substr(start, comma - start))));
    start = comma + 1;
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out = "\\x";
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

}  // namespace msp::pg
