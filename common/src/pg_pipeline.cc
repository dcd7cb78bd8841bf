#include "msp/common/pg_pipeline.h"

#include "msp/common/trace.h"

#include "absl/strings/str_cat.h"

namespace msp::pg {
namespace {

constexpr size_t kMaxBatch = 128;

std::string ErrorState(const PGresult* result) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state != nullptr ? state : "";
}

using Deadline = std::chrono::steady_clock::time_point;

// Reads one statement's result and the null that ends it. False if the connection failed or
// the deadline passed (then *out may still hold a result to clear).
bool ReadStatementResult(PGconn* conn, Deadline deadline, PGresult** out) {
  *out = nullptr;
  if (!AwaitResult(conn, deadline)) return false;
  *out = PQgetResult(conn);
  if (*out == nullptr) return false;
  while (true) {
    if (!AwaitResult(conn, deadline)) return false;
    PGresult* end = PQgetResult(conn);
    if (end == nullptr) return true;
    PQclear(end);
  }
}

// Reads a sync point's marker. False if anything else came, the connection failed or the
// deadline passed.
bool ReadSync(PGconn* conn, Deadline deadline) {
  if (!AwaitResult(conn, deadline)) return false;
  PGresult* sync = PQgetResult(conn);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  return synced;
}

PgError LostConnection(const std::string& message, bool unanswered) {
  return PgError("database connection lost: " + message, "08006", true, unanswered);
}

// Queues a prepared statement's execution (no sync point).
void SendPrepared(PGconn* conn, const std::string& name, const std::vector<Param>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PQsendQueryPrepared(conn, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                      nullptr, 0);
}

// Prepared on every connection: sets the trace of what the transaction writes.
constexpr char kSetTrace[] = "msp_set_trace";

bool Succeeded(const PGresult* result) {
  const auto status = PQresultStatus(result);
  return status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
}

}  // namespace

StatementPipeline::StatementPipeline(Options options) : options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { Run(*raw); });
  }
}

StatementPipeline::~StatementPipeline() {
  stop_ = true;
  for (auto& w : workers_) {
    w->cv.notify_all();
    w->thread.join();
    Disconnect(*w);
  }
}

void StatementPipeline::Submit(std::string sql, std::vector<Param> params, Callback done) {
  // The least loaded worker: an idle one when there is one, so that a few callers get
  // connections of their own (commits in parallel); under load every queue grows and each
  // round trip carries more statements.
  Worker* least = workers_.front().get();
  for (auto& candidate : workers_) {
    if (candidate->load.load(std::memory_order_relaxed) <
        least->load.load(std::memory_order_relaxed)) {
      least = candidate.get();
    }
  }
  Worker& w = *least;
  w.load.fetch_add(1, std::memory_order_relaxed);
  std::string traceparent;
  if (options_.group_commit) traceparent = trace::CurrentTraceparent();
  // The callback runs in the submitter's span: its log lines and the calls it makes carry the
  // trace of the call that submitted the statement.
  if (const trace::Context* span = trace::Current(); span != nullptr) {
    done = [span = *span, done = std::move(done)](Outcome outcome) {
      trace::Scope scope(span);
      done(std::move(outcome));
    };
  }
  {
    std::lock_guard<std::mutex> lock(w.mu);
    w.queue.push_back(
        Item{std::move(sql), std::move(params), std::move(done), std::move(traceparent)});
  }
  w.cv.notify_one();
}

bool StatementPipeline::Connect(Worker& w, std::string* error) {
  w.conn = pg::Connect(options_.conninfo);
  if (PQstatus(w.conn) == CONNECTION_OK) {
    const std::string session = absl::StrCat(
        SessionSql(options_.statement_timeout_ms, options_.search_path), "; PREPARE ", kSetTrace,
        "(text) AS SELECT set_config('", kTraceparentSetting, "', $1, true)");
    const auto deadline =
        std::chrono::steady_clock::now() + AnswerTimeout(options_.statement_timeout_ms);
    bool ok = PQsendQuery(w.conn, session.c_str()) == 1;
    while (ok && AwaitResult(w.conn, deadline)) {
      PGresult* r = PQgetResult(w.conn);
      if (r == nullptr) break;
      ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    ok = ok && PQisBusy(w.conn) == 0;
    if (ok && PQenterPipelineMode(w.conn) == 1) return true;
  }
  *error = PQerrorMessage(w.conn);
  Disconnect(w);
  return false;
}

void StatementPipeline::Disconnect(Worker& w) {
  if (w.conn != nullptr) PQfinish(w.conn);
  w.conn = nullptr;
  w.prepared.clear();
}

void StatementPipeline::Run(Worker& w) {
  std::vector<Item> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(w.mu);
      w.cv.wait(lock, [&] { return stop_.load() || !w.queue.empty(); });
      if (stop_.load() && w.queue.empty()) return;
      while (!w.queue.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(w.queue.front()));
        w.queue.pop_front();
      }
    }
    RunBatch(w, batch);
    w.load.fetch_sub(static_cast<int>(batch.size()), std::memory_order_relaxed);
    batch.clear();
  }
}

void StatementPipeline::FailAll(Worker& w, std::vector<Item>& batch, size_t from,
                                const std::string& error) {
  Disconnect(w);  // the next batch reconnects
  // A write sent without a confirmed commit may have happened: never to be re-sent blindly.
  const bool unanswered = options_.group_commit;
  for (size_t i = from; i < batch.size(); ++i) batch[i].done(LostConnection(error, unanswered));
}

std::pair<std::string, bool> StatementPipeline::PrepareIfNew(Worker& w, const std::string& sql) {
  auto it = w.prepared.find(sql);
  if (it != w.prepared.end()) return {it->second, false};
  // Names never repeat on a connection, even after a failed PREPARE was forgotten.
  const std::string name = absl::StrCat("p", w.next_statement++);
  w.prepared.emplace(sql, name);
  PQsendPrepare(w.conn, name.c_str(), sql.c_str(), 0, nullptr);
  PQpipelineSync(w.conn);  // its own sync point: outside any transaction of the batch
  return {name, true};
}

bool StatementPipeline::EnsureConnected(Worker& w, std::vector<Item>& batch) {
  std::string error;
  if (w.conn != nullptr || Connect(w, &error)) return true;
  // Nothing was sent: even a write certainly did not happen.
  for (auto& item : batch) item.done(LostConnection(error, false));
  return false;
}

void StatementPipeline::RunBatch(Worker& w, std::vector<Item>& batch) {
  if (!EnsureConnected(w, batch)) return;
  if (options_.group_commit && batch.size() > 1 && RunInOneTransaction(w, batch)) return;
  // A rolled-back batch wrote nothing: statement by statement, only the failing one fails.
  if (!EnsureConnected(w, batch)) return;
  RunEachAlone(w, batch);
}

bool StatementPipeline::RunInOneTransaction(Worker& w, std::vector<Item>& batch) {
  // New statements are prepared first, outside the transaction.
  std::vector<std::string> names;
  std::vector<std::string> preparing;  // sql of the PREPAREs sent in this round trip
  for (auto& item : batch) {
    auto [name, is_new] = PrepareIfNew(w, item.sql);
    if (is_new) preparing.push_back(item.sql);
    names.push_back(std::move(name));
  }
  const std::vector<bool> sets_trace = TraceSettings(batch, /*one_transaction=*/true);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (sets_trace[i]) SendTraceSetting(w, batch[i]);
    SendPrepared(w.conn, names[i], batch[i].params);
  }
  PQpipelineSync(w.conn);  // the one commit
  if (PQflush(w.conn) != 0) {
    FailAll(w, batch, 0, PQerrorMessage(w.conn));
    return true;
  }
  const Deadline deadline =
      std::chrono::steady_clock::now() + AnswerTimeout(options_.statement_timeout_ms);
  for (const auto& sql : preparing) {
    PGresult* result = nullptr;
    const bool read = ReadStatementResult(w.conn, deadline, &result);
    const bool prepared = read && Succeeded(result);
    PQclear(result);
    if (!read || !ReadSync(w.conn, deadline)) {
      FailAll(w, batch, 0, PQerrorMessage(w.conn));
      return true;
    }
    // Its statements fail below and the batch runs again alone, where it fails by itself.
    if (!prepared) w.prepared.erase(sql);
  }
  std::vector<std::optional<Result>> results(batch.size());
  bool rolled_back = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    PGresult* result = nullptr;
    if (sets_trace[i]) {
      const bool read = ReadStatementResult(w.conn, deadline, &result);
      if (read && !Succeeded(result)) rolled_back = true;
      PQclear(result);
      result = nullptr;
      if (!read) {
        FailAll(w, batch, 0, PQerrorMessage(w.conn));
        return true;
      }
    }
    if (!ReadStatementResult(w.conn, deadline, &result)) {
      PQclear(result);
      FailAll(w, batch, 0, PQerrorMessage(w.conn));
      return true;
    }
    if (Succeeded(result)) {
      results[i].emplace(result);
    } else {
      rolled_back = true;  // an error, or aborted after one
      PQclear(result);
    }
  }
  // The commit's answer. An error here (the commit itself failed) rolls back too.
  while (true) {
    if (!AwaitResult(w.conn, deadline)) {
      FailAll(w, batch, 0, PQerrorMessage(w.conn));
      return true;
    }
    PGresult* result = PQgetResult(w.conn);
    if (result == nullptr) continue;
    const bool synced = PQresultStatus(result) == PGRES_PIPELINE_SYNC;
    if (!synced) rolled_back = true;
    PQclear(result);
    if (synced) break;
  }
  if (rolled_back) return false;
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(*results[i]));
  return true;
}

void StatementPipeline::RunEachAlone(Worker& w, std::vector<Item>& batch) {
  // Send everything; a sync point after each statement keeps one failure to its statement.
  std::vector<bool> prepares;  // per item: whether a PREPARE precedes it in the pipeline
  const std::vector<bool> sets_trace = TraceSettings(batch, /*one_transaction=*/false);
  for (size_t i = 0; i < batch.size(); ++i) {
    auto [name, is_new] = PrepareIfNew(w, batch[i].sql);
    prepares.push_back(is_new);
    if (sets_trace[i]) SendTraceSetting(w, batch[i]);
    SendPrepared(w.conn, name, batch[i].params);
    PQpipelineSync(w.conn);
  }
  if (PQflush(w.conn) != 0) {
    FailAll(w, batch, 0, PQerrorMessage(w.conn));
    return;
  }
  // Every wait of the batch ends by this deadline: a server that stops answering fails the
  // batch (and the connection) instead of holding its callers for ever.
  const Deadline deadline =
      std::chrono::steady_clock::now() + AnswerTimeout(options_.statement_timeout_ms);
  // Reads one statement's result and its sync point.
  auto read_one = [&](PGresult** out) {
    return ReadStatementResult(w.conn, deadline, out) && ReadSync(w.conn, deadline);
  };
  // Reads statement i's result and its sync point, after its trace setting's result (a failed
  // setting aborts the statement, which then fails).
  auto read_statement = [&](size_t i, PGresult** out) {
    if (sets_trace[i]) {
      PGresult* setting = nullptr;
      const bool read = ReadStatementResult(w.conn, deadline, &setting);
      PQclear(setting);
      if (!read) return false;
    }
    return read_one(out);
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    PGresult* result = nullptr;
    if (prepares[i]) {
      if (!read_one(&result)) {
        PQclear(result);
        FailAll(w, batch, i, PQerrorMessage(w.conn));
        return;
      }
      if (!Succeeded(result)) {
        // The statement itself is wrong: its query fails too (skip its result).
        const std::string state = ErrorState(result);
        const std::string message = PQresultErrorMessage(result);
        PQclear(result);
        w.prepared.erase(batch[i].sql);
        PGresult* skipped = nullptr;
        const bool read = read_statement(i, &skipped);
        PQclear(skipped);
        batch[i].done(PgError(message, state, false));
        if (!read) {
          FailAll(w, batch, i + 1, PQerrorMessage(w.conn));
          return;
        }
        continue;
      }
      PQclear(result);
    }
    if (!read_statement(i, &result)) {
      // The result may have come before the connection failed: a statement's answer counts.
      if (result != nullptr && Succeeded(result)) {
        batch[i].done(Result(result));
        ++i;
      } else {
        PQclear(result);
      }
      FailAll(w, batch, i, PQerrorMessage(w.conn));
      return;
    }
    if (Succeeded(result)) {
      batch[i].done(Result(result));
    } else {
      // Copied out first: PQclear frees what PQresultErrorField points into.
      const std::string state = ErrorState(result);
      const std::string message = PQresultErrorMessage(result);
      PQclear(result);
      batch[i].done(PgError(message, state, false));
    }
  }
}

std::vector<bool> StatementPipeline::TraceSettings(const std::vector<Item>& batch,
                                                   bool one_transaction) const {
  std::vector<bool> sets(batch.size(), false);
  std::string current;  // a transaction starts without one
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!one_transaction) current.clear();
    if (batch[i].traceparent != current) {
      sets[i] = true;
      current = batch[i].traceparent;
    }
  }
  return sets;
}

void StatementPipeline::SendTraceSetting(Worker& w, const Item& item) {
  SendPrepared(w.conn, kSetTrace, {item.traceparent});
}

}  // namespace msp::pg
