#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "msp/common/pg.h"

namespace msp::pg {

// A statement's result, or why there is none.
using Outcome = std::variant<Result, PgError>;

// Statements without parking the caller's thread: a few database threads, each owning one
// connection in libpq pipeline mode, send every statement queued since their last round trip
// together and hand each result to its callback. Callback handlers of gRPC use it so that no
// gRPC thread waits on PostgreSQL (tools/bench: ~2.3x the throughput of a thread parked per
// call on this machine).
//
// Reads: each statement runs alone (a sync point after each), so one failure stays its own.
// Writes (`group_commit`): a round trip's statements run as one transaction, committed once:
// one WAL flush and one commit for many callers, as PostgreSQL's own group commit does for
// concurrent transactions but without a backend and a parked thread per caller. Callbacks run
// only after the commit. If any statement fails the transaction rolls back, and the batch is
// run again statement by statement, so only the failing one fails. A write whose commit was not
// confirmed (connection lost, no answer in time) gets PgError::unanswered(): it may or may not
// have happened, and is never re-sent. Single statements only, each atomic and independent of
// the others in its batch (a later statement must not depend on an earlier one's effect).
// A write runs with its submitter's trace as kTraceparentSetting, like a Transaction's.
class StatementPipeline {
 public:
  struct Options {
    std::string conninfo;
    int threads = 1;
    int statement_timeout_ms = 5000;
    std::string search_path;
    bool group_commit = false;
  };
  using Callback = std::function<void(Outcome outcome)>;

  explicit StatementPipeline(Options options);
  ~StatementPipeline();
  StatementPipeline(const StatementPipeline&) = delete;
  StatementPipeline& operator=(const StatementPipeline&) = delete;

  // Queues one statement; `done` runs on a database thread and must be quick.
  void Submit(std::string sql, std::vector<Param> params, Callback done);

 private:
  struct Item {
    std::string sql;
    std::vector<Param> params;
    Callback done;
    std::string traceparent;  // the submitter's span, for a write
  };
  struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Item> queue;
    std::atomic<int> load{0};  // statements queued or in the round trip under way
    PGconn* conn = nullptr;
    std::unordered_map<std::string, std::string> prepared;  // sql -> statement name
    uint64_t next_statement = 0;
    std::thread thread;
  };
  void Run(Worker& worker);
  void RunBatch(Worker& worker, std::vector<Item>& batch);
  // One transaction for the whole batch. False when a statement failed and the transaction
  // rolled back (no callback has run, the connection is usable); true when every callback ran.
  bool RunInOneTransaction(Worker& worker, std::vector<Item>& batch);
  // Each statement with its own sync point (its own implicit transaction).
  void RunEachAlone(Worker& worker, std::vector<Item>& batch);
  // Whether each statement of `batch` is preceded by setting its trace (a write whose trace
  // differs from the one already set in its transaction; `one_transaction`: the batch's).
  std::vector<bool> TraceSettings(const std::vector<Item>& batch, bool one_transaction) const;
  // Queues the setting of an item's trace (no sync point).
  void SendTraceSetting(Worker& worker, const Item& item);
  // The statement's prepared name, and whether it is new: then its PREPARE (with a sync point
  // of its own) was queued in this round trip.
  std::pair<std::string, bool> PrepareIfNew(Worker& worker, const std::string& sql);
  // Connects if need be; if that fails, every statement's callback gets the failure.
  bool EnsureConnected(Worker& worker, std::vector<Item>& batch);
  // Every statement's callback gets the connection's loss.
  void FailAll(Worker& worker, std::vector<Item>& batch, size_t from, const std::string& error);
  bool Connect(Worker& worker, std::string* error);
  void Disconnect(Worker& worker);

  Options options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stop_{false};
};

}  // namespace msp::pg
