#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "domain/customer_rules.h"
#include "invitation_sender.h"
#include "msp/common/pg.h"
#include "msp/common/tenant_limiter.h"
#include "store/bulk_job_store.h"
#include "store/customer_creator.h"

namespace msp::customer {

struct BulkJobRunnerOptions {
  // Who holds a job's lease (unique per process: host, pid and a random part).
  std::string owner;
  // A job whose runner died is free for another after this long.
  std::chrono::milliseconds lease{10000};
  // How often an idle runner looks for a job (RunBulkJob wakes it at once).
  std::chrono::milliseconds poll{1000};
  // Rows sent at once, and rows read a turn.
  int rows_in_flight = 16;
  int batch_rows = 512;
  // How often the rows answered meanwhile are recorded (the job's progress), while a batch runs.
  std::chrono::milliseconds progress_interval{500};
};

// Runs bulk jobs in the background, a batch a turn: claims the running job run least recently
// (one replica runs a job at a time; every running job, whichever MSP's, gets its turns), writes
// a batch of its rows in order through CreateCustomer's write path, or sends them as
// CreateInvitation calls, each under its row's request id (a row written before, by this runner
// or one that died, is answered, not written again); records the outcomes with the job's
// progress as they come (every progress_interval), and gives the job up for the next turn. A
// cancelled job stops after the rows in flight. Each row is taken from the MSP's rate budget as
// background work (TenantLimiter::TakeBackground): the MSP's admins come first. One thread.
class BulkJobRunner {
 public:
  // `limiter` (may be null: no budget) is the service's tenant limiter; `invitations` sends
  // INVITE_CUSTOMERS rows (null: such rows fail).
  BulkJobRunner(pg::Pool* pool, CustomerCreator* creator, InvitationSender* invitations,
                const FreeMailDomains* free_mail, TenantLimiter* limiter,
                std::function<void()> after_batch, BulkJobRunnerOptions options);
  ~BulkJobRunner();
  BulkJobRunner(const BulkJobRunner&) = delete;
  BulkJobRunner& operator=(const BulkJobRunner&) = delete;

  // Look for a job now (a job was started).
  void Wake();

 private:
  void Loop();
  // One turn of the claimed job: a batch of rows written and recorded, then the job given up
  // for the next turn; or its end (no rows left, or cancelled).
  void Run(const ClaimedJob& job);
  // Writes `rows` (at most rows_in_flight at once) and returns their results.
  std::vector<RowResult> Write(const ClaimedJob& job, const std::vector<PendingRow>& rows);
  // What sends a row, ready to start (throws ApiError when the row is refused before it is
  // sent); it calls `finish` with the row's answer. A new customer goes through CreateCustomer's
  // write path, an invitation to the onboarding service.
  using RowDone = std::function<void(RowResult&, const std::string& customer_id,
                                     const std::exception_ptr& error)>;
  std::function<void()> CreationOf(const ClaimedJob& job, const std::string& request_id,
                                   const PendingRow& row, RowResult& result, const RowDone& finish);
  std::function<void()> InvitationOf(const ClaimedJob& job, const std::string& request_id,
                                     const PendingRow& row, RowResult& result,
                                     const RowDone& finish);
  // Waits until the MSP's budget gives the job a row, keeping the lease and calling `meanwhile`
  // while it waits (false: the runner is stopping, or lost the lease).
  bool TakeFromBudget(const ClaimedJob& job, const std::function<void()>& meanwhile);
  // Renews the lease when a third of it has passed since the last renewal; false when lost.
  bool KeepLease(const ClaimedJob& job);

  pg::Pool* pool_;
  CustomerCreator* creator_;
  InvitationSender* invitations_;
  const FreeMailDomains* free_mail_;
  TenantLimiter* limiter_;
  int budget_left_ = 0;  // rows taken from the job's MSP's budget and not sent yet
  std::chrono::steady_clock::time_point renewed_;
  std::function<void()> after_batch_;  // the relays: new customers' events and deliveries
  BulkJobRunnerOptions options_;
  BulkJobStore store_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// A lease owner name for this process.
std::string NewBulkJobRunnerOwner();

}  // namespace msp::customer
