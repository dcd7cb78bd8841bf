#include "bulk_job_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "msp/common/idempotency.h"
#include "msp/common/resource_names.h"
#include "msp/common/tenancy.h"

namespace msp::customer {
namespace {

constexpr char kService[] = "/msp.customer.v1.BulkJobService/";
const std::string kUpload = absl::StrCat(kService, "UploadBulkJob");
const std::string kGet = absl::StrCat(kService, "GetBulkJob");
const std::string kRun = absl::StrCat(kService, "RunBulkJob");
const std::string kGetOperation = absl::StrCat(kService, "GetOperation");
const std::string kWatch = absl::StrCat(kService, "WatchBulkJob");
const std::string kCancel = absl::StrCat(kService, "CancelBulkJob");
const std::string kDownload = absl::StrCat(kService, "DownloadBulkJobResult");

constexpr int kResultPageRows = 1000;

// `msps/{msp}/bulkJobs/{job}` (with `suffix`: `.../operation`) of the caller's MSP.
BulkJobRef RequireJobName(const std::string& field, const std::string& name,
                          const auth::Principal& principal, const std::string& suffix = "") {
  const std::string pattern = absl::StrCat("msps/{msp}/bulkJobs/{job}", suffix);
  auto vars = ParseResourceName(pattern, name);
  if (!vars || !IsValidCustomerId((*vars)[1])) {
    throw ApiError::InvalidArgument({{field, absl::StrCat("must be ", pattern)}});
  }
  if ((*vars)[0] != principal.msp_id) throw ApiError::NotFound("bulkJob", name);
  return {(*vars)[0], (*vars)[1]};
}

v1::Operation OperationOf(const v1::BulkJob& job) {
  v1::Operation op;
  op.set_name(absl::StrCat(job.name(), "/operation"));
  *op.mutable_metadata() = job;
  op.mutable_metadata()->clear_problems();  // the job has them; progress is what changes
  if (HasEnded(job.state())) {
    op.set_done(true);
    *op.mutable_response() = op.metadata();
  }
  return op;
}

}  // namespace

BulkJobServiceImpl::BulkJobServiceImpl(pg::Pool* pool, RpcRuntime* runtime,
                                       const FreeMailDomains* free_mail,
                                       AssignmentClient* assignments, BulkJobLimits limits,
                                       std::function<void()> start_runner)
    : pool_(pool),
      runtime_(runtime),
      free_mail_(free_mail),
      assignments_(assignments),
      limits_(limits),
      start_runner_(std::move(start_runner)),
      watchers_(pool, limits.watch_interval) {}

auth::MethodPolicy BulkJobServiceImpl::Policy() {
  using auth::MspAdmin;
  auth::MethodPolicy policy;
  // An MSP's own admins import its customers; no service needs to.
  for (const auto* method :
       {&kUpload, &kGet, &kRun, &kGetOperation, &kWatch, &kCancel, &kDownload}) {
    policy.Allow(*method, {MspAdmin()});
  }
  return policy;
}

v1::BulkJob BulkJobServiceImpl::FindOrThrow(const BulkJobRef& ref, const std::string& name,
                                            bool with_problems) {
  pg::Lease conn = pool_->Acquire();
  auto job = store_.Find(*conn, ref, false, with_problems);
  if (!job) throw ApiError::NotFound("bulkJob", name);
  return *job;
}

std::map<std::string, InviteTarget> BulkJobServiceImpl::InviteTargets(
    const std::vector<std::string>& customer_ids) {
  std::map<std::string, InviteTarget> out;
  pg::Lease conn = pool_->Acquire();
  for (auto& stored : customers_.FindByIds(*conn, customer_ids)) {
    InviteTarget& target = out[stored.customer.customer_id()];
    target.link = LinkStateOf(stored);
    target.has_own_knox_manage =
        std::find(stored.own_services.begin(), stored.own_services.end(),
                  assignment::v1::KNOX_MANAGE) != stored.own_services.end();
    target.customer = std::move(stored.customer);
  }
  return out;
}

grpc::Status BulkJobServiceImpl::UploadBulkJob(grpc::ServerContext* context,
                                               grpc::ServerReader<v1::UploadBulkJobRequest>* reader,
                                               v1::BulkJob* response) {
  return runtime_->Handle(context, kUpload, [&](const auth::Principal& principal) {
    v1::UploadBulkJobRequest settings;
    if (!reader->Read(&settings)) {
      throw ApiError::InvalidArgument({{"parent", "the first message names the MSP: msps/{msp}"}});
    }
    const std::string msp_id = RequireMspParent("parent", settings.parent(), principal);
    if (settings.kind() != v1::BulkJob::CREATE_CUSTOMERS &&
        settings.kind() != v1::BulkJob::INVITE_CUSTOMERS) {
      throw ApiError::InvalidArgument({{"kind", "CREATE_CUSTOMERS or INVITE_CUSTOMERS"}});
    }
    if (settings.file_name().size() > kMaxBulkJobFileNameChars) {
      throw ApiError::InvalidArgument(
          {{"file_name", absl::StrCat("at most ", kMaxBulkJobFileNameChars, " characters")}});
    }
    idempotency::CheckRequestId(settings.request_id());
    std::string file = std::move(*settings.mutable_chunk());
    v1::UploadBulkJobRequest next;
    while (reader->Read(&next)) {
      if (file.size() + next.chunk().size() > kMaxBulkJobFileBytes) {
        throw ApiError::InvalidArgument(
            {{"chunk", absl::StrCat("at most ", kMaxBulkJobFileBytes >> 20, " MiB a file")}},
            "FILE_TOO_LARGE");
      }
      file += next.chunk();
    }
    CheckedFile checked = CheckBulkFile(settings.kind(), file, *free_mail_);
    if (settings.kind() == v1::BulkJob::INVITE_CUSTOMERS) {
      MarkInviteTargets(checked, msp_id, InviteTargets(CustomersToInvite(checked)), *free_mail_);
    }
    MarkTakenTenantIds(checked, assignments_->TakenTenantIds(msp_id, TenantIdsToCheck(checked)));

    v1::BulkJob job;
    job.set_kind(settings.kind());
    job.set_state(v1::BulkJob::VALIDATED);
    job.set_file_name(settings.file_name());
    job.set_creator(principal.Actor());
    job.set_row_count(static_cast<int32_t>(checked.rows.size()));
    job.set_invalid_row_count(checked.invalid_rows);
    if (settings.validate_only()) {
      AddProblems(checked.rows, kBulkJobProblemsShown, job);
      *response = std::move(job);
      return;
    }
    // The whole upload is the request a retry must repeat.
    settings.set_chunk(std::move(file));
    const std::string hash =
        settings.request_id().empty() ? "" : idempotency::RequestHash(settings);
    *response = idempotency::WriteOnce<v1::BulkJob>(
        *pool_, msp_id, settings.request_id(), "UploadBulkJob", hash, [&](pg::Connection& conn) {
          const BulkJobRef ref{msp_id, NewCustomerId()};
          store_.Insert(conn, ref, job, checked);
          return *store_.Find(conn, ref);
        });
  });
}

grpc::Status BulkJobServiceImpl::GetBulkJob(grpc::ServerContext* context,
                                            const v1::GetBulkJobRequest* request,
                                            v1::BulkJob* response) {
  return runtime_->Handle(context, kGet, [&](const auth::Principal& principal) {
    *response = FindOrThrow(RequireJobName("name", request->name(), principal), request->name());
  });
}

grpc::Status BulkJobServiceImpl::RunBulkJob(grpc::ServerContext* context,
                                            const v1::RunBulkJobRequest* request,
                                            v1::Operation* response) {
  return runtime_->Handle(context, kRun, [&](const auth::Principal& principal) {
    const BulkJobRef ref = RequireJobName("name", request->name(), principal);
    const v1::BulkJob job = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto& conn = tx.conn();
      // Serialises an MSP's starts, so two at once cannot both pass the cap.
      conn.Exec("SELECT pg_advisory_xact_lock(hashtext('bulk-jobs:' || $1))", {ref.msp_id});
      auto found = store_.Find(conn, ref, /*for_update=*/true, /*with_problems=*/false);
      if (!found) throw ApiError::NotFound("bulkJob", request->name());
      if (!MayStart(found->state())) return *found;  // running or ran: its operation as it is
      if (store_.CountRunning(conn, ref.msp_id) >= limits_.max_running_jobs_per_msp) {
        throw ApiError::FailedPrecondition(
            "TOO_MANY_RUNNING_JOBS",
            absl::StrCat("an MSP runs at most ", limits_.max_running_jobs_per_msp,
                         " bulk jobs at once: wait for one to end, or cancel one"));
      }
      store_.Start(conn, ref);
      v1::BulkJob started = *store_.Find(conn, ref);
      tx.Commit();
      return started;
    });
    if (start_runner_) start_runner_();
    *response = OperationOf(job);
  });
}

grpc::Status BulkJobServiceImpl::GetOperation(grpc::ServerContext* context,
                                              const v1::GetOperationRequest* request,
                                              v1::Operation* response) {
  return runtime_->Handle(context, kGetOperation, [&](const auth::Principal& principal) {
    const BulkJobRef ref = RequireJobName("name", request->name(), principal, "/operation");
    const v1::BulkJob job = FindOrThrow(ref, request->name(), /*with_problems=*/false);
    // A job never started has no operation (a cancelled one that never ran has none either).
    if (!job.has_start_time()) throw ApiError::NotFound("operation", request->name());
    *response = OperationOf(job);
  });
}

grpc::ServerWriteReactor<v1::BulkJob>* BulkJobServiceImpl::WatchBulkJob(
    grpc::CallbackServerContext* context, const v1::WatchBulkJobRequest* request) {
  RpcRuntime::StreamStart start = runtime_->BeginStream(*context, kWatch);
  auto* watch = new BulkJobWatch(&watchers_, std::move(start.end));
  if (!start.principal) {
    watch->End(std::move(start.refusal));
    return watch;
  }
  try {
    const BulkJobRef ref = RequireJobName("name", request->name(), *start.principal);
    watchers_.Start(watch, ref, FindOrThrow(ref, request->name()));
  } catch (...) {
    watch->End(runtime_->StatusFromException(std::current_exception(), kWatch));
  }
  return watch;
}

grpc::Status BulkJobServiceImpl::CancelBulkJob(grpc::ServerContext* context,
                                               const v1::CancelBulkJobRequest* request,
                                               v1::BulkJob* response) {
  return runtime_->Handle(context, kCancel, [&](const auth::Principal& principal) {
    const BulkJobRef ref = RequireJobName("name", request->name(), principal);
    *response = pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
      auto& conn = tx.conn();
      auto found = store_.Find(conn, ref, /*for_update=*/true, /*with_problems=*/false);
      if (!found) throw ApiError::NotFound("bulkJob", request->name());
      const auto next = StateAfterCancel(found->state());
      if (next == found->state()) return *found;
      store_.Cancel(conn, ref, next);
      v1::BulkJob cancelled = *store_.Find(conn, ref);
      tx.Commit();
      return cancelled;
    });
    if (start_runner_) start_runner_();  // a runner that holds it hears at its next batch
  });
}

grpc::Status BulkJobServiceImpl::DownloadBulkJobResult(
    grpc::ServerContext* context, const v1::DownloadBulkJobResultRequest* request,
    grpc::ServerWriter<v1::BulkJobResultChunk>* writer) {
  return runtime_->Handle(context, kDownload, [&](const auth::Principal& principal) {
    const BulkJobRef ref = RequireJobName("name", request->name(), principal);
    pg::Lease conn = pool_->Acquire();
    // Every page from one snapshot: rows recorded meanwhile neither vanish nor repeat.
    pg::Transaction tx(*conn, pg::Isolation::kSnapshotReadOnly);
    const auto job = store_.Find(*conn, ref, false, /*with_problems=*/false);
    if (!job) throw ApiError::NotFound("bulkJob", request->name());
    v1::BulkJobResultChunk chunk;
    std::string& buffer = *chunk.mutable_data();
    auto flush = [&] {
      if (buffer.empty()) return;
      if (!writer->Write(chunk)) {
        throw ApiError::Aborted("CLIENT_GONE", "the caller stopped reading the result");
      }
      buffer.clear();
    };
    buffer = ResultCsvHeader();
    store_.ForEachResult(*conn, ref, kResultPageRows, [&](const RowResult& row) {
      AppendResultLines(buffer, row, job->kind());
      if (buffer.size() >= limits_.result_chunk_bytes) flush();
    });
    flush();
  });
}

}  // namespace msp::customer
