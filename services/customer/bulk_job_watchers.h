#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <grpcpp/support/server_callback.h>

#include "msp/common/pg.h"
#include "msp/customer/v1/bulk_jobs.pb.h"
#include "store/bulk_job_store.h"

namespace msp::customer {

class BulkJobWatchers;

// One WatchBulkJob stream (the gRPC callback API: no thread of its own while it waits). It is
// offered the job as it is now, sends it when its state or progress changed (the newest only,
// one write at a time), and ends after the message that shows the job ended or not running.
// A caller that goes away ends it CANCELLED. Deletes itself when gRPC is done with it.
class BulkJobWatch final : public grpc::ServerWriteReactor<v1::BulkJob> {
 public:
  // `end` is RpcRuntime::StreamStart's: called once with the status the stream ends with.
  BulkJobWatch(BulkJobWatchers* watchers, std::function<grpc::Status(grpc::Status)> end);

  // The job now: the first read, with its findings, then the watchers' rounds' (progress only:
  // the findings of the first are sent with each). True while the watch goes on.
  bool Offer(const v1::BulkJob& job);
  // Ends the stream with an error (or OK) once the write in flight, if any, is done.
  void End(grpc::Status status);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The caller went away: nothing more is sent, the stream ends CANCELLED. Under mu_.
  void CallerGone();
  // Starts the next write or the finish, outside mu_ (a reaction may run inline).
  void Proceed(std::unique_lock<std::mutex> lock);

  BulkJobWatchers* watchers_;
  std::function<grpc::Status(grpc::Status)> end_;
  std::mutex mu_;
  bool writing_ = false;
  std::optional<v1::BulkJob> next_;  // the newest job not sent yet
  v1::BulkJob sending_;              // the write in flight's message
  // The first offer's findings (the watchers read progress only), and the state and progress
  // last queued.
  google::protobuf::RepeatedPtrField<v1::RowProblem> problems_;
  std::optional<std::pair<v1::BulkJob::State, int>> last_;
  std::optional<grpc::Status> ending_;  // finish with this once nothing is in flight
  bool finished_ = false;
};

// The replica's running watches, read by one thread every `interval`: each watched job's
// progress (without its findings: the first message sent them) offered to its watch. A watch
// leaves when it ends; a job gone meanwhile ends its watch NOT_FOUND.
class BulkJobWatchers {
 public:
  BulkJobWatchers(pg::Pool* pool, std::chrono::milliseconds interval);
  ~BulkJobWatchers();
  BulkJobWatchers(const BulkJobWatchers&) = delete;
  BulkJobWatchers& operator=(const BulkJobWatchers&) = delete;

  // Offers `watch` the job as first read (with its findings, which the watch keeps for its next
  // messages) and, while it runs, follows `ref` for it.
  void Start(BulkJobWatch* watch, const BulkJobRef& ref, const v1::BulkJob& job);
  // From the watch's OnDone: never offered anything again.
  void Remove(BulkJobWatch* watch);

 private:
  struct Watched {
    uint64_t id = 0;  // tells a watch from a later one at the same address
    BulkJobRef ref;
  };
  // Who is offering a watch something, so that the watch is not deleted meanwhile.
  struct Offering {
    uint64_t id = 0;
    std::thread::id thread;
  };
  void Loop();
  // Offers each watch its job as read this round (nullopt: gone), one at a time.
  void OfferRound(const std::map<std::string, std::optional<v1::BulkJob>>& jobs);
  // Offers `job` (nullopt: gone) to the watch `id` without mu_ held (its reactions may run
  // inline, end it and remove it); it leaves when it ends.
  void Offer(BulkJobWatch* watch, uint64_t id, const std::optional<v1::BulkJob>& job);

  pg::Pool* pool_;
  std::chrono::milliseconds interval_;
  BulkJobStore store_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable offered_;  // a watch the loop was offering something to is free
  bool stop_ = false;
  uint64_t next_id_ = 0;
  std::map<BulkJobWatch*, Watched> watches_;
  std::map<BulkJobWatch*, Offering> offering_;
  std::thread thread_;
};

}  // namespace msp::customer
