#include "pipelined_reader.h"

#include <stdexcept>

namespace msp::bench {

namespace {
constexpr char kStatement[] = "read_account";
constexpr size_t kMaxBatch = 64;
}  // namespace

PipelinedReader::PipelinedReader(const std::string& conninfo, int threads) {
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->conn = PQconnectdb(conninfo.c_str());
    if (PQstatus(worker->conn) != CONNECTION_OK) {
      throw std::runtime_error(std::string("connect: ") + PQerrorMessage(worker->conn));
    }
    PGresult* prepared =
        PQprepare(worker->conn, kStatement, "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
                  0, nullptr);
    const bool ok = PQresultStatus(prepared) == PGRES_COMMAND_OK;
    PQclear(prepared);
    if (!ok || PQenterPipelineMode(worker->conn) != 1) {
      throw std::runtime_error(std::string("prepare: ") + PQerrorMessage(worker->conn));
    }
    workers_.push_back(std::move(worker));
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
    PQfinish(w->conn);
  }
}

void PipelinedReader::Read(int32_t aid, Callback done) {
  Worker& w = *workers_[next_++ % workers_.size()];
  {
    std::lock_guard<std::mutex> lock(w.mu);
    w.queue.emplace_back(aid, std::move(done));
  }
  w.cv.notify_one();
}

void PipelinedReader::Run(Worker& w) {
  std::vector<std::pair<int32_t, Callback>> batch;
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
    // Send the whole batch, one sync point per query so that one failure fails only its query.
    for (const auto& [aid, done] : batch) {
      const std::string value = std::to_string(aid);
      const char* params[] = {value.c_str()};
      PQsendQueryPrepared(w.conn, kStatement, 1, params, nullptr, nullptr, 0);
      PQpipelineSync(w.conn);
    }
    PQflush(w.conn);
    for (auto& [aid, done] : batch) {
      bool ok = false;
      int64_t balance = 0;
      PGresult* result = PQgetResult(w.conn);
      if (result != nullptr && PQresultStatus(result) == PGRES_TUPLES_OK &&
          PQntuples(result) == 1) {
        ok = true;
        balance = std::stoll(PQgetvalue(result, 0, 0));
      }
      PQclear(result);
      while ((result = PQgetResult(w.conn)) != nullptr) PQclear(result);  // end of this query
      result = PQgetResult(w.conn);                                       // its sync point
      PQclear(result);
      done(ok, balance);
    }
    batch.clear();
  }
}

}  // namespace msp::bench
