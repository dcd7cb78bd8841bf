#include "bulk_job_watchers.h"

#include "absl/strings/str_cat.h"
#include "msp/common/log.h"

namespace msp::customer {
namespace {

bool IsRunning(v1::BulkJob::State state) {
  return state == v1::BulkJob::RUNNING || state == v1::BulkJob::CANCELLING;
}

std::string KeyOf(const BulkJobRef& ref) { return absl::StrCat(ref.msp_id, "/", ref.job_id); }

}  // namespace

BulkJobWatch::BulkJobWatch(BulkJobWatchers* watchers, std::function<grpc::Status(grpc::Status)> end)
    : watchers_(watchers), end_(std::move(end)) {}

bool BulkJobWatch::Offer(const v1::BulkJob& job) {
  std::unique_lock lock(mu_);
  if (ending_ || finished_) return false;
  if (!last_) problems_ = job.problems();
  // The rate moves with the clock: a change of progress or state is what is news.
  const std::pair progress{job.state(), job.rows_done()};
  if (last_ != progress) {
    last_ = progress;
    next_ = job;
    *next_->mutable_problems() = problems_;
  }
  // Not started (nothing to follow until someone runs it), or ended: this message is the last.
  const bool running = IsRunning(job.state());
  if (!running) ending_ = grpc::Status::OK;
  Proceed(std::move(lock));  // may end and delete this watch: nothing of it is touched after
  return running;
}

void BulkJobWatch::End(grpc::Status status) {
  std::unique_lock lock(mu_);
  if (!ending_) ending_ = std::move(status);
  Proceed(std::move(lock));
}

void BulkJobWatch::OnWriteDone(bool ok) {
  std::unique_lock lock(mu_);
  writing_ = false;
  if (!ok) CallerGone();
  Proceed(std::move(lock));
}

void BulkJobWatch::OnCancel() {
  std::unique_lock lock(mu_);
  CallerGone();
  Proceed(std::move(lock));
}

void BulkJobWatch::CallerGone() {
  next_.reset();
  if (!ending_) ending_ = grpc::Status(grpc::StatusCode::CANCELLED, "the caller stopped watching");
}

void BulkJobWatch::OnDone() {
  watchers_->Remove(this);
  delete this;
}

void BulkJobWatch::Proceed(std::unique_lock<std::mutex> lock) {
  if (writing_ || finished_) return;
  if (next_) {
    sending_ = std::move(*next_);
    next_.reset();
    writing_ = true;
    lock.unlock();
    StartWrite(&sending_);
    return;
  }
  if (ending_) {
    finished_ = true;
    grpc::Status status = std::move(*ending_);
    lock.unlock();
    Finish(end_(std::move(status)));
  }
}

BulkJobWatchers::BulkJobWatchers(pg::Pool* pool, std::chrono::milliseconds interval)
    : pool_(pool), interval_(interval), thread_([this] { Loop(); }) {}

BulkJobWatchers::~BulkJobWatchers() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BulkJobWatchers::Start(BulkJobWatch* watch, const BulkJobRef& ref, const v1::BulkJob& job) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = ++next_id_;
    watches_[watch] = Watched{id, ref};
    offering_[watch] = Offering{id, std::this_thread::get_id()};
  }
  Offer(watch, id, job);
}

void BulkJobWatchers::Remove(BulkJobWatch* watch) {
  std::unique_lock lock(mu_);
  watches_.erase(watch);
  // An offer to it in progress on another thread is let finish first; on this thread it is the
  // offer's own reaction, run inline.
  offered_.wait(lock, [&] {
    const auto it = offering_.find(watch);
    return it == offering_.end() || it->second.thread == std::this_thread::get_id();
  });
}

void BulkJobWatchers::Offer(BulkJobWatch* watch, uint64_t id,
                            const std::optional<v1::BulkJob>& job) {
  bool goes_on = false;
  if (job) {
    goes_on = watch->Offer(*job);
  } else {
    watch->End(grpc::Status(grpc::StatusCode::NOT_FOUND, "the bulk job is gone"));
  }
  // The watch may be gone now: only its address and id are used.
  std::lock_guard lock(mu_);
  if (const auto it = offering_.find(watch); it != offering_.end() && it->second.id == id) {
    offering_.erase(it);
  }
  offered_.notify_all();
  if (const auto it = watches_.find(watch);
      !goes_on && it != watches_.end() && it->second.id == id) {
    watches_.erase(it);
  }
}

void BulkJobWatchers::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, interval_, [this] { return stop_; });
    if (stop_) return;
    if (watches_.empty()) continue;
    // Each watched job read once, whatever its number of watchers.
    std::map<std::string, BulkJobRef> refs;
    for (const auto& [watch, watched] : watches_) refs.emplace(KeyOf(watched.ref), watched.ref);
    lock.unlock();
    std::map<std::string, std::optional<v1::BulkJob>> jobs;
    try {
      pg::Lease conn = pool_->Acquire();
      for (const auto& [key, ref] : refs) {
        jobs[key] = store_.Find(*conn, ref, /*for_update=*/false, /*with_problems=*/false);
      }
    } catch (const std::exception& e) {
      log::Warn("bulk job watch read failed", {{"error", e.what()}});
      jobs.clear();  // the next round tries again
    }
    OfferRound(jobs);
    lock.lock();
  }
}

void BulkJobWatchers::OfferRound(const std::map<std::string, std::optional<v1::BulkJob>>& jobs) {
  std::vector<std::pair<BulkJobWatch*, uint64_t>> round;
  {
    std::lock_guard lock(mu_);
    for (const auto& [watch, watched] : watches_) round.emplace_back(watch, watched.id);
  }
  for (const auto& [watch, id] : round) {
    std::optional<v1::BulkJob> job;
    {
      std::lock_guard lock(mu_);
      const auto it = watches_.find(watch);
      if (it == watches_.end() || it->second.id != id) continue;  // left meanwhile
      // Its first message is still being offered: this round's read may not overtake it.
      if (offering_.contains(watch)) continue;
      const auto read = jobs.find(KeyOf(it->second.ref));
      if (read == jobs.end()) continue;  // not read this round
      job = read->second;
      offering_[watch] = Offering{id, std::this_thread::get_id()};
    }
    Offer(watch, id, job);
  }
}

}  // namespace msp::customer
