#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bulk_job_watchers.h"
#include "domain/customer_rules.h"
#include "msp/common/assignment_client.h"
#include "msp/common/pg.h"
#include "msp/common/rpc.h"
#include "msp/customer/v1/bulk_jobs.grpc.pb.h"
#include "store/bulk_job_store.h"
#include "store/customer_store.h"

namespace msp::customer {

struct BulkJobLimits {
  int max_running_jobs_per_msp = 2;
  // How often the watched jobs are read (WatchBulkJob).
  std::chrono::milliseconds watch_interval{500};
  size_t result_chunk_bytes = size_t{64} * 1024;
};

// The gRPC face of bulk jobs: authorise, read the request, the domain's checks and the store,
// answer. The rows are written by BulkJobRunner, which `start_runner` wakes.
class BulkJobServiceImpl final
    : public v1::BulkJobService::WithCallbackMethod_WatchBulkJob<v1::BulkJobService::Service> {
 public:
  // `assignments` answers which Knox Manage tenant ids exist (the dry run's check).
  BulkJobServiceImpl(pg::Pool* pool, RpcRuntime* runtime, const FreeMailDomains* free_mail,
                     AssignmentClient* assignments, BulkJobLimits limits,
                     std::function<void()> start_runner);
  static auth::MethodPolicy Policy();

  grpc::Status UploadBulkJob(grpc::ServerContext* context,
                             grpc::ServerReader<v1::UploadBulkJobRequest>* reader,
                             v1::BulkJob* response) override;
  grpc::Status GetBulkJob(grpc::ServerContext* context, const v1::GetBulkJobRequest* request,
                          v1::BulkJob* response) override;
  grpc::Status RunBulkJob(grpc::ServerContext* context, const v1::RunBulkJobRequest* request,
                          v1::Operation* response) override;
  grpc::Status GetOperation(grpc::ServerContext* context, const v1::GetOperationRequest* request,
                            v1::Operation* response) override;
  // A stream that holds no thread while it waits (BulkJobWatchers reads the watched jobs).
  grpc::ServerWriteReactor<v1::BulkJob>* WatchBulkJob(
      grpc::CallbackServerContext* context, const v1::WatchBulkJobRequest* request) override;
  grpc::Status CancelBulkJob(grpc::ServerContext* context, const v1::CancelBulkJobRequest* request,
                             v1::BulkJob* response) override;
  grpc::Status DownloadBulkJobResult(grpc::ServerContext* context,
                                     const v1::DownloadBulkJobResultRequest* request,
                                     grpc::ServerWriter<v1::BulkJobResultChunk>* writer) override;

 private:
  v1::BulkJob FindOrThrow(const BulkJobRef& ref, const std::string& name,
                          bool with_problems = true);
  // The stored customers an invitation file names, by id (those that exist).
  std::map<std::string, InviteTarget> InviteTargets(const std::vector<std::string>& customer_ids);

  pg::Pool* pool_;
  RpcRuntime* runtime_;
  const FreeMailDomains* free_mail_;
  AssignmentClient* assignments_;
  BulkJobLimits limits_;
  std::function<void()> start_runner_;
  BulkJobStore store_;
  CustomerStore customers_;
  BulkJobWatchers watchers_;
};

}  // namespace msp::customer
