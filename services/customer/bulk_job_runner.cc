#include "bulk_job_runner.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "msp/common/failpoint.h"
#include "msp/common/host.h"
#include "msp/common/log.h"
#include "new_customer.h"

namespace msp::customer {

std::string NewBulkJobRunnerOwner() {
  return absl::StrCat(HostName(), ":", getpid(), ":", NewCustomerId());
}

BulkJobRunner::BulkJobRunner(pg::Pool* pool, CustomerCreator* creator,
                             InvitationSender* invitations, const FreeMailDomains* free_mail,
                             TenantLimiter* limiter, std::function<void()> after_batch,
                             BulkJobRunnerOptions options)
    : pool_(pool),
      creator_(creator),
      invitations_(invitations),
      free_mail_(free_mail),
      limiter_(limiter),
      after_batch_(std::move(after_batch)),
      options_(std::move(options)),
      thread_([this] { Loop(); }) {}

BulkJobRunner::~BulkJobRunner() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BulkJobRunner::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void BulkJobRunner::Loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stop_) return;
    }
    std::optional<ClaimedJob> claimed;
    try {
      pg::Lease conn = pool_->Acquire();
      claimed = store_.Claim(*conn, options_.owner, options_.lease);
    } catch (const std::exception& e) {
      log::Warn("bulk job claim failed", {{"error", e.what()}});
    }
    if (claimed) {
      try {
        Run(*claimed);
      } catch (const std::exception& e) {
        // The lease runs out and a runner (this one, next round) goes on where it stopped.
        log::Warn("bulk job interrupted", {{"job", claimed->ref.job_id}, {"error", e.what()}});
      }
      continue;  // the next turn
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.poll, [this] { return woken_ || stop_; });
    woken_ = false;
  }
}

void BulkJobRunner::Run(const ClaimedJob& job) {
  budget_left_ = 0;  // what was taken was another MSP's
  std::vector<PendingRow> rows;
  {
    pg::Lease conn = pool_->Acquire();
    renewed_ = std::chrono::steady_clock::now();
    const auto state = store_.Renew(*conn, job.ref, options_.owner, options_.lease);
    if (!state) return;  // another runner has it
    {
      std::lock_guard lock(mu_);
      if (stop_) return;  // the lease runs out; the job goes on elsewhere or after the restart
    }
    if (*state == v1::BulkJob::CANCELLING) {
      store_.Finish(*conn, job.ref, options_.owner, v1::BulkJob::CANCELLED);
      log::Info("bulk job cancelled", {{"job", job.ref.job_id}});
      return;
    }
    rows = store_.Pending(*conn, job.ref, 0, options_.batch_rows);
    if (rows.empty()) {
      store_.Finish(*conn, job.ref, options_.owner, v1::BulkJob::SUCCEEDED);
      log::Info("bulk job succeeded", {{"job", job.ref.job_id}});
      return;
    }
  }
  std::vector<RowResult> results = Write(job, rows);
  // Crash tests kill the process here: the batch's customers committed, their rows not
  // recorded.
  failpoint::CrashIfEnabled("customer.bulk.before_record");
  {
    pg::Lease conn = pool_->Acquire();
    store_.Record(*conn, job.ref, results);
    // One batch a turn: the next turn goes to the job run least recently (this one again when
    // it runs alone), so that one MSP's long import does not hold back another's.
    store_.Yield(*conn, job.ref, options_.owner);
  }
  if (after_batch_) after_batch_();
}

bool BulkJobRunner::KeepLease(const ClaimedJob& job) {
  const auto now = std::chrono::steady_clock::now();
  if (now - renewed_ < options_.lease / 3) return true;
  pg::Lease conn = pool_->Acquire();
  renewed_ = now;
  return store_.Renew(*conn, job.ref, options_.owner, options_.lease).has_value();
}

bool BulkJobRunner::TakeFromBudget(const ClaimedJob& job, const std::function<void()>& meanwhile) {
  while (budget_left_ == 0) {
    if (limiter_ == nullptr) return true;
    if (!KeepLease(job)) return false;
    meanwhile();
    const auto grant = limiter_->TakeBackground(job.ref.msp_id, options_.rows_in_flight);
    budget_left_ = grant.calls;
    if (budget_left_ > 0) break;
    std::unique_lock lock(mu_);
    if (cv_.wait_for(
            lock,
            std::clamp(grant.wait, std::chrono::milliseconds(5), std::chrono::milliseconds(1000)),
            [this] { return stop_; })) {
      return false;
    }
  }
  --budget_left_;
  return true;
}

std::function<void()> BulkJobRunner::CreationOf(const ClaimedJob& job,
                                                const std::string& request_id,
                                                const PendingRow& row, RowResult& result,
                                                const RowDone& finish) {
  v1::CreateCustomerRequest request;
  request.ParseFromString(row.request);
  auto prepared = std::make_shared<PreparedCustomer>(
      PrepareCreate(job.ref.msp_id, job.creator, request_id, request, *free_mail_));
  return [this, prepared, &result, &finish] {
    creator_->Create(
        std::move(prepared->customer), std::move(prepared->with_id),
        [&result, &finish](const v1::Customer& answer, const std::exception_ptr& error) {
          finish(result, answer.customer_id(), error);
        });
  };
}

std::function<void()> BulkJobRunner::InvitationOf(const ClaimedJob& job,
                                                  const std::string& request_id,
                                                  const PendingRow& row, RowResult& result,
                                                  const RowDone& finish) {
  if (invitations_ == nullptr) {
    throw ApiError::FailedPrecondition("INVITATIONS_UNAVAILABLE",
                                       "this replica sends no invitations");
  }
  onboarding::v1::CreateInvitationRequest request;
  request.ParseFromString(row.request);
  request.set_parent(absl::StrCat("msps/", job.ref.msp_id));
  request.set_request_id(request_id);
  return [this, request = std::move(request), creator = job.creator, &result, &finish]() mutable {
    invitations_->Send(creator, std::move(request),
                       [&result, &finish](const onboarding::v1::Invitation& answer,
                                          const std::exception_ptr& error) {
                         finish(result, answer.customer_id(), error);
                       });
  };
}

std::vector<RowResult> BulkJobRunner::Write(const ClaimedJob& job,
                                            const std::vector<PendingRow>& rows) {
  std::vector<RowResult> results(rows.size());
  std::mutex mu;
  std::condition_variable done;
  int in_flight = 0;
  // Under `mu`: rows with their answer, and those recorded already.
  std::vector<char> answered(rows.size(), 0);
  std::vector<char> recorded(rows.size(), 0);
  // A row's answer: its customer (created or invited), or why not.
  const RowDone finish = [&](RowResult& result, const std::string& customer_id,
                             const std::exception_ptr& error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const ApiError& e) {
        result.outcome = RowOutcome::kFailed;
        result.problems.push_back(FailureOf(e, job.kind));
      } catch (...) {
        // Not the row's fault (the database or a service away): left for the next try.
        result.outcome = RowOutcome::kPending;
      }
    } else {
      result.outcome = RowOutcome::kCreated;
      result.customer_id = customer_id;
    }
    std::lock_guard lock(mu);
    answered[static_cast<size_t>(&result - results.data())] = 1;
    --in_flight;
    done.notify_all();
  };
  // The answered rows not recorded yet (those the infrastructure failed stay pending).
  auto take_answered = [&] {
    std::vector<RowResult> out;
    std::lock_guard lock(mu);
    for (size_t i = 0; i < results.size(); ++i) {
      if (answered[i] && !recorded[i] && results[i].outcome != RowOutcome::kPending) {
        recorded[i] = 1;
        out.push_back(results[i]);
      }
    }
    return out;
  };
  // Progress as it comes, not a batch at a time: a job that waits on its MSP's budget shows
  // its rate and time left while it waits.
  auto last_recorded = std::chrono::steady_clock::now();
  const std::function<void()> record_progress = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_recorded < options_.progress_interval) return;
    last_recorded = now;
    const auto answers = take_answered();
    if (answers.empty()) return;
    pg::Lease conn = pool_->Acquire();
    store_.Record(*conn, job.ref, answers);
  };
  auto answer_now = [&](size_t i) {
    std::lock_guard lock(mu);
    answered[i] = 1;
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const PendingRow& row = rows[i];
    RowResult& result = results[i];
    result.row = row.row;
    result.line = row.line;
    if (!row.problems.empty()) {
      result.outcome = RowOutcome::kInvalid;  // never sent
      answer_now(i);
      continue;
    }
    const std::string request_id = RowRequestId(job.ref.job_id, row.row);
    std::function<void()> send;
    try {
      send = job.kind == v1::BulkJob::INVITE_CUSTOMERS
                 ? InvitationOf(job, request_id, row, result, finish)
                 : CreationOf(job, request_id, row, result, finish);
    } catch (const ApiError& e) {
      result.outcome = RowOutcome::kFailed;
      result.problems.push_back(FailureOf(e, job.kind));
      answer_now(i);
      continue;
    }
    if (!TakeFromBudget(job, record_progress)) break;  // stopping: the rest is left pending
    for (;;) {
      {
        std::unique_lock lock(mu);
        if (done.wait_for(lock, options_.progress_interval,
                          [&] { return in_flight < options_.rows_in_flight; })) {
          ++in_flight;
          break;
        }
      }
      record_progress();
    }
    send();
    record_progress();
  }
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (done.wait_for(lock, options_.progress_interval, [&] { return in_flight == 0; })) break;
    }
    record_progress();
  }
  // What is left to record: the caller records it (after its crash tests' failpoint).
  std::vector<RowResult> rest = take_answered();
  for (size_t i = 0; i < results.size(); ++i) {
    if (answered[i] && results[i].outcome == RowOutcome::kPending) {
      // The infrastructure failed it: the rest is recorded and the job stops here, to resume
      // (after the lease) with the rows still pending.
      pg::Lease conn = pool_->Acquire();
      store_.Record(*conn, job.ref, rest);
      throw std::runtime_error(absl::StrCat("row ", results[i].row, " could not be written"));
    }
  }
  return rest;
}

}  // namespace msp::customer
