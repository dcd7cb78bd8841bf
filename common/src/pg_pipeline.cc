#include "msp/common/pg_pipeline.h"

#include "absl/strings/str_cat.h"

namespace msp::pg {
namespace {

constexpr size_t kMaxBatch = 128;

std::string ErrorState(const PGresult* result) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state != nullptr ? state : "";
}

PgError LostConnection(const std::string& message) {
  return PgError("database connection lost: " + message, "08006", true);
}

}  // namespace

PipelinedReader::PipelinedReader(Options options) : options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { Run(*raw); });
  }
}

PipelinedReader::~PipelinedReader() {
  stop_ = true;
  for (auto& w : workers_) {
    w->cv.notify_all();
    w->thread.join();
    Disconnect(*w);
  }
}

void PipelinedReader::Submit(std::string sql, std::vector<Param> params, Callback done) {
  Worker& w = *workers_[next_++ % workers_.size()];
  {
    std::lock_guard<std::mutex> lock(w.mu);
    w.queue.push_back(Item{std::move(sql), std::move(params), std::move(done)});
  }
  w.cv.notify_one();
}

bool PipelinedReader::Connect(Worker& w, std::string* error) {
  w.conn = pg::Connect(options_.conninfo);
  if (PQstatus(w.conn) == CONNECTION_OK) {
    const std::string session = SessionSql(options_.statement_timeout_ms, options_.search_path);
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

void PipelinedReader::Disconnect(Worker& w) {
  if (w.conn != nullptr) PQfinish(w.conn);
  w.conn = nullptr;
  w.prepared.clear();
}

void PipelinedReader::Run(Worker& w) {
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
    batch.clear();
  }
}

void PipelinedReader::RunBatch(Worker& w, std::vector<Item>& batch) {
  std::string error;
  if (w.conn == nullptr && !Connect(w, &error)) {
    for (auto& item : batch) item.done(LostConnection(error));
    return;
  }
  // Send everything; a sync point after each statement keeps one failure to its statement.
  std::vector<bool> prepares;  // per item: whether a PREPARE precedes it in the pipeline
  for (auto& item : batch) {
    auto it = w.prepared.find(item.sql);
    const bool new_statement = it == w.prepared.end();
    if (new_statement) {
      it = w.prepared.emplace(item.sql, absl::StrCat("p", w.prepared.size())).first;
      PQsendPrepare(w.conn, it->second.c_str(), item.sql.c_str(), 0, nullptr);
      PQpipelineSync(w.conn);
    }
    prepares.push_back(new_statement);
    std::vector<const char*> values;
    for (const auto& p : item.params) values.push_back(p ? p->c_str() : nullptr);
    PQsendQueryPrepared(w.conn, it->second.c_str(), static_cast<int>(values.size()), values.data(),
                        nullptr, nullptr, 0);
    PQpipelineSync(w.conn);
  }
  const bool sent = PQflush(w.conn) == 0;
  // Every wait of the batch ends by this deadline: a server that stops answering fails the
  // batch (and the connection) instead of holding its callers for ever.
  const auto deadline =
      std::chrono::steady_clock::now() + AnswerTimeout(options_.statement_timeout_ms);
  auto next_result = [&]() -> PGresult* {
    return AwaitResult(w.conn, deadline) ? PQgetResult(w.conn) : nullptr;
  };
  // Reads one statement's result, its end marker and its sync point.
  auto read_one = [&](PGresult** out) -> bool {
    *out = nullptr;
    if (!AwaitResult(w.conn, deadline)) return false;
    PGresult* result = PQgetResult(w.conn);
    if (result == nullptr) return false;
    *out = result;
    if (!AwaitResult(w.conn, deadline)) return false;
    PGresult* end = PQgetResult(w.conn);
    while (end != nullptr) {
      PQclear(end);
      if (!AwaitResult(w.conn, deadline)) return false;
      end = PQgetResult(w.conn);
    }
    PGresult* sync = next_result();
    const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    return synced;
  };
  size_t i = 0;
  bool healthy = sent;
  for (; healthy && i < batch.size(); ++i) {
    PGresult* result = nullptr;
    if (prepares[i]) {
      healthy = read_one(&result);
      const bool prepared = result != nullptr && PQresultStatus(result) == PGRES_COMMAND_OK;
      if (!prepared) {
        const std::string state = ErrorState(result);
        w.prepared.erase(batch[i].sql);
        if (healthy) {
          // The statement itself is wrong: its query fails too (skip its result).
          PGresult* skipped = nullptr;
          healthy = read_one(&skipped);
          PQclear(skipped);
          batch[i].done(PgError(PQresultErrorMessage(result), state, false));
          PQclear(result);
          continue;
        }
      }
      PQclear(result);
      if (!healthy) break;
    }
    healthy = read_one(&result);
    if (result == nullptr) {
      healthy = false;
      break;
    }
    const auto status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      batch[i].done(Result(result));
    } else {
      // Copied out first: PQclear frees what PQresultErrorField points into.
      const std::string state = ErrorState(result);
      const std::string message = PQresultErrorMessage(result);
      PQclear(result);
      const bool lost = PQstatus(w.conn) != CONNECTION_OK;
      batch[i].done(PgError(message, state, lost));
      healthy = healthy && !lost;
    }
  }
  if (!healthy) {
    error = w.conn != nullptr ? PQerrorMessage(w.conn) : "no connection";
    Disconnect(w);  // the next batch reconnects
    for (; i < batch.size(); ++i) batch[i].done(LostConnection(error));
  }
}

}  // namespace msp::pg
