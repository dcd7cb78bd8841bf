#include "bulk_import.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"

namespace msp::cli {
namespace {

namespace cv1 = customer::v1;

constexpr size_t kChunkBytes = 1 << 20;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Running(const cv1::BulkJob& job) {
  return job.state() == cv1::BulkJob::RUNNING || job.state() == cv1::BulkJob::CANCELLING;
}

grpc::Status Upload(cv1::BulkJobService::Stub& stub, const ImportSettings& settings,
                    const std::string& file, cv1::BulkJob* out) {
  grpc::ClientContext context;
  settings.prepare(context);
  auto writer = stub.UploadBulkJob(&context, out);
  cv1::UploadBulkJobRequest request;
  request.set_parent(settings.parent);
  request.set_kind(settings.kind);
  const size_t slash = settings.file.rfind('/');
  request.set_file_name(slash == std::string::npos ? settings.file
                                                   : settings.file.substr(slash + 1));
  request.set_validate_only(settings.dry_run);
  if (!settings.dry_run) request.set_request_id(settings.request_id);
  size_t at = 0;
  do {
    request.set_chunk(file.substr(at, kChunkBytes));
    at += kChunkBytes;
    if (!writer->Write(request)) break;  // the answer says why
    request.Clear();
  } while (at < file.size());
  writer->WritesDone();
  return writer->Finish();
}

// Follows the job to its end: the watch stream, and Get when the stream breaks (a restart of
// the service: the job goes on, and so does the bar).
grpc::Status Follow(cv1::BulkJobService::Stub& stub, const ImportSettings& settings,
                    cv1::BulkJob& job, std::ostream& progress_out) {
  auto show = [&] {
    if (settings.progress) progress_out << "\r" << ProgressLine(job, 30) << std::flush;
  };
  for (int broken = 0; Running(job);) {
    grpc::ClientContext context;
    settings.prepare(context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(24));
    cv1::WatchBulkJobRequest request;
    request.set_name(job.name());
    auto reader = stub.WatchBulkJob(&context, request);
    cv1::BulkJob seen;
    while (reader->Read(&seen)) {
      job = seen;
      show();
    }
    grpc::Status status = reader->Finish();
    if (status.ok()) continue;
    const bool retriable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::CANCELLED ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!retriable || ++broken > 60) return status;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  show();
  if (settings.progress) progress_out << "\n";
  return grpc::Status::OK;
}

grpc::Status Download(cv1::BulkJobService::Stub& stub, const ImportSettings& settings,
                      const std::string& name) {
  std::ofstream out(settings.result_file, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + settings.result_file);
  grpc::ClientContext context;
  settings.prepare(context);
  cv1::DownloadBulkJobResultRequest request;
  request.set_name(name);
  auto reader = stub.DownloadBulkJobResult(&context, request);
  cv1::BulkJobResultChunk chunk;
  while (reader->Read(&chunk)) {
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
  }
  return reader->Finish();
}

}  // namespace

std::string ResultFileFor(const std::string& file) {
  const size_t dot = file.rfind('.');
  const size_t slash = file.rfind('/');
  const bool has_extension =
      dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return absl::StrCat(has_extension ? file.substr(0, dot) : file, ".result.csv");
}

std::string ProgressLine(const cv1::BulkJob& job, int width) {
  const int total = std::max(job.row_count(), 1);
  const int filled = static_cast<int>(static_cast<int64_t>(job.rows_done()) * width / total);
  std::string line = "[" + std::string(filled, '#') + std::string(width - filled, '-') + "] ";
  absl::StrAppend(&line, job.rows_done(), "/", job.row_count(), " rows, ", job.rows_failed(),
                  " failed");
  if (job.rows_per_second() > 0) {
    absl::StrAppend(&line, ", ", static_cast<int64_t>(job.rows_per_second()), " rows/s");
  }
  if (job.has_estimated_time_left() && Running(job)) {
    absl::StrAppend(&line, ", ", job.estimated_time_left().seconds(), " s left");
  }
  return line;
}

ImportOutcome ImportCustomers(cv1::BulkJobService::Stub& stub, const ImportSettings& settings,
                              std::ostream& progress_out) {
  const std::string file = ReadFile(settings.file);
  ImportOutcome outcome;
  outcome.status = Upload(stub, settings, file, &outcome.job);
  if (!outcome.status.ok() || settings.dry_run) return outcome;

  cv1::Operation operation;
  {
    grpc::ClientContext context;
    settings.prepare(context);
    cv1::RunBulkJobRequest request;
    request.set_name(outcome.job.name());
    outcome.status = stub.RunBulkJob(&context, request, &operation);
  }
  if (!outcome.status.ok()) return outcome;
  outcome.job = operation.metadata();
  outcome.status = Follow(stub, settings, outcome.job, progress_out);
  if (!outcome.status.ok()) return outcome;
  outcome.status = Download(stub, settings, outcome.job.name());
  return outcome;
}

}  // namespace msp::cli
