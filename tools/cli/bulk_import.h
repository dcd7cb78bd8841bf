#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "msp/customer/v1/bulk_jobs.grpc.pb.h"

// `mspctl customers import` and `mspctl invitations import`: a CSV file uploaded as a bulk job
// (new customers, or existing Knox customers to invite), checked (the dry run) or run to its end
// with a progress bar, and its result CSV written next to it.
namespace msp::cli {

struct ImportSettings {
  customer::v1::BulkJob::Kind kind = customer::v1::BulkJob::CREATE_CUSTOMERS;
  std::string parent;       // msps/{msp}
  std::string file;         // the CSV to upload
  std::string result_file;  // where the result CSV goes (a run only)
  std::string request_id;   // the upload's: a retried run makes no second job
  bool dry_run = false;
  bool progress = false;  // a progress bar on `progress_out` (a terminal)
  // Deadline and token of each call.
  std::function<void(grpc::ClientContext&)> prepare;
};

struct ImportOutcome {
  grpc::Status status;
  customer::v1::BulkJob job;  // as uploaded (dry run), or as it ended
};

// Throws std::runtime_error when the file cannot be read or the result written.
ImportOutcome ImportCustomers(customer::v1::BulkJobService::Stub& stub,
                              const ImportSettings& settings, std::ostream& progress_out);

// "customers.csv" -> "customers.result.csv".
std::string ResultFileFor(const std::string& file);

// "[########------------]  812/2000 rows, 3 failed, 240 rows/s, 5 s left"
std::string ProgressLine(const customer::v1::BulkJob& job, int width);

}  // namespace msp::cli
