// Benchmark (not a test) of bulk imports, on a stack of its own (durable PostgreSQL, Redis, the
// customer and service-assignment services):
//   - the dry run of a --dry_rows file (UploadBulkJob with validate_only): seconds per run, the
//     best and the median of --dry_runs; the same for a file of --invite_rows invitations of
//     existing Knox customers (made first through CreateKnoxCustomer);
//   - the import's rate side by side with the load generator's: each round runs
//     `loadgen --target create --concurrency 16` for --seconds and imports a file of about as
//     many rows (the same customers: fully managed, no services), timed from RunBulkJob to the
//     job's end (and with its upload), in alternating order; a round prints both rates and their
//     ratio.
// ./tools/bench-import runs it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "msp/common/identities.h"
#include "msp/customer/v1/bulk_jobs.grpc.pb.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "stack.h"
#include "testdata/bulk_import_files.h"
#include "testdata/sample_customers.h"

ABSL_FLAG(int, dry_rows, 10000, "rows of the dry run's file");
ABSL_FLAG(int, dry_runs, 5, "dry runs timed");
ABSL_FLAG(int, invite_rows, 10000,
          "rows of the invitation dry run's file (as many existing Knox customers are made first)");
ABSL_FLAG(int, rounds, 3, "rounds of load generator then import");
ABSL_FLAG(double, seconds, 10, "the load generator's run in each round");
ABSL_FLAG(int, concurrency, 16, "the load generator's callers");

namespace {

namespace cv1 = msp::customer::v1;
using Clock = std::chrono::steady_clock;

msp::testing::Stack* stack = nullptr;

// `rows` rows as the load generator's creates (fully managed, no services), each its own
// company and email.
std::string ImportFile(const std::string& tag, int rows) {
  std::string out = msp::customer::testdata::kBulkCsvHeader;
  for (int i = 1; i <= rows; ++i) {
    out += msp::customer::testdata::BulkCsvRow(absl::StrCat(tag, " ", i, " GmbH"),
                                               absl::StrCat("it@", tag, "-", i, ".example"),
                                               "FULLY_MANAGED", "");
  }
  return out;
}

// `count` existing Knox customers (no MSP), made by 8 callers of CreateKnoxCustomer; their ids.
std::vector<std::string> KnoxCustomers(int count) {
  constexpr int kCallers = 8;
  std::vector<std::string> ids(static_cast<size_t>(count));
  std::vector<std::thread> callers;
  std::atomic<bool> failed{false};
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      auto stub = cv1::CustomerService::NewStub(stack->Channel("customer"));
      const std::string token = stack->ServiceToken(msp::identity::kKnoxAccounts);
      for (int i = c; i < count && !failed; i += kCallers) {
        cv1::CreateKnoxCustomerRequest request;
        *request.mutable_customer() = msp::customer::testdata::ValidCustomer(
            absl::StrCat("Knox ", i, " BV"), absl::StrCat("admin@knox-", i, ".example"));
        request.add_services(msp::assignment::v1::KNOX_MOBILE_ENROLLMENT);
        grpc::ClientContext context;
        msp::testing::Authorize(context, token);
        cv1::Customer out;
        if (!stub->CreateKnoxCustomer(&context, request, &out).ok()) {
          failed = true;
          return;
        }
        ids[static_cast<size_t>(i)] = out.customer_id();
      }
    });
  }
  for (auto& t : callers) t.join();
  if (failed) throw std::runtime_error("CreateKnoxCustomer failed");
  return ids;
}

// An invitation of each customer: fully managed, two services.
std::string InviteFile(const std::vector<std::string>& customer_ids) {
  std::string out = "customer_id,management_type,services\r\n";
  for (const auto& id : customer_ids) {
    absl::StrAppend(&out, id, ",FULLY_MANAGED,knox-configure|knox-mobile-enrollment\r\n");
  }
  return out;
}

cv1::BulkJob Upload(const std::string& msp, const std::string& file, bool validate_only,
                    cv1::BulkJob::Kind kind = cv1::BulkJob::CREATE_CUSTOMERS) {
  auto stub = cv1::BulkJobService::NewStub(stack->Channel("customer"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  msp::testing::Authorize(context, stack->MspToken(msp));
  cv1::BulkJob job;
  auto writer = stub->UploadBulkJob(&context, &job);
  cv1::UploadBulkJobRequest request;
  request.set_parent("msps/" + msp);
  request.set_kind(kind);
  request.set_validate_only(validate_only);
  constexpr size_t kChunk = 1 << 20;
  for (size_t at = 0; at < file.size(); at += kChunk) {
    request.set_chunk(file.substr(at, kChunk));
    if (!writer->Write(request)) break;
    request.Clear();
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) throw std::runtime_error("upload: " + status.error_message());
  return job;
}

// Seconds of each of --dry_runs dry runs of `file` (`rows` rows, every one valid).
std::vector<double> TimeDryRuns(const std::string& msp, const std::string& file,
                                cv1::BulkJob::Kind kind, int rows) {
  std::vector<double> seconds;
  for (int i = 0; i < absl::GetFlag(FLAGS_dry_runs); ++i) {
    const auto start = Clock::now();
    const cv1::BulkJob checked = Upload(msp, file, /*validate_only=*/true, kind);
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (checked.row_count() != rows || checked.invalid_row_count() != 0) {
      throw std::runtime_error("the dry run's file is not all valid");
    }
  }
  return seconds;
}

// Runs the job and waits for its end; returns its rows a second from the run to the end.
double RunToEnd(const std::string& msp, const cv1::BulkJob& job) {
  auto stub = cv1::BulkJobService::NewStub(stack->Channel("customer"));
  const auto start = Clock::now();
  {
    grpc::ClientContext context;
    msp::testing::Authorize(context, stack->MspToken(msp));
    cv1::RunBulkJobRequest request;
    request.set_name(job.name());
    cv1::Operation op;
    const auto status = stub->RunBulkJob(&context, request, &op);
    if (!status.ok()) throw std::runtime_error("run: " + status.error_message());
  }
  for (;;) {
    grpc::ClientContext context;
    msp::testing::Authorize(context, stack->MspToken(msp));
    cv1::GetBulkJobRequest request;
    request.set_name(job.name());
    cv1::BulkJob now;
    const auto status = stub->GetBulkJob(&context, request, &now);
    if (!status.ok()) throw std::runtime_error("get: " + status.error_message());
    if (now.state() == cv1::BulkJob::SUCCEEDED) {
      if (now.rows_created() != job.row_count()) throw std::runtime_error("rows failed");
      return job.row_count() / std::chrono::duration<double>(Clock::now() - start).count();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The load generator's creates a second (its figure line's qps).
double LoadgenCreates(const std::string& msp, int round) {
  const std::string log = absl::StrCat(stack->log_dir(), "/loadgen-", round, ".log");
  msp::testing::ChildProcess loadgen(
      {msp::testing::BinaryPath("tools/loadgen/loadgen"), "--target=create",
       "--addr=" + stack->address("customer"),
       absl::StrCat("--concurrency=", absl::GetFlag(FLAGS_concurrency)),
       absl::StrCat("--duration_s=", absl::GetFlag(FLAGS_seconds)), "--msp=" + msp,
       "--token=" + stack->MspToken(msp)},
      {}, log);
  if (loadgen.Wait(std::chrono::minutes(5)) != 0) {
    throw std::runtime_error("loadgen failed: " + loadgen.ReadLog());
  }
  std::smatch m;
  const std::string out = loadgen.ReadLog();
  if (!std::regex_search(out, m, std::regex(R"(qps=([0-9.]+))"))) {
    throw std::runtime_error("no qps in: " + out);
  }
  return std::stod(m[1]);
}

// The customer process's peak resident memory so far (VmHWM), in MiB.
double CustomerPeakMib() {
  std::ifstream status(
      absl::StrCat("/proc/", stack->service("customer").process->pid(), "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  try {
    stack = new msp::testing::Stack({"customer", "service-assignment"}, {},
                                    /*durable_postgres=*/true);
    // The dry run.
    const int dry_rows = absl::GetFlag(FLAGS_dry_rows);
    const std::string dry_file = ImportFile("dry", dry_rows);
    const double peak_before = CustomerPeakMib();
    const std::vector<double> dry_seconds =
        TimeDryRuns("bench-dry", dry_file, cv1::BulkJob::CREATE_CUSTOMERS, dry_rows);
    std::cout << absl::StrFormat(
        "dry run: %d rows (%.1f MiB), %d runs: best %.3f s, median %.3f s (goal < 2 s); the "
        "customer process's peak RSS %.0f MiB (%.0f MiB before)\n",
        dry_rows, dry_file.size() / 1048576.0, static_cast<int>(dry_seconds.size()),
        *std::min_element(dry_seconds.begin(), dry_seconds.end()), Median(dry_seconds),
        CustomerPeakMib(), peak_before);

    // The dry run of invitations: every row checked against its stored customer too.
    const int invite_rows = absl::GetFlag(FLAGS_invite_rows);
    if (invite_rows > 0) {
      const std::string invite_file = InviteFile(KnoxCustomers(invite_rows));
      const std::vector<double> invite_seconds =
          TimeDryRuns("bench-invite", invite_file, cv1::BulkJob::INVITE_CUSTOMERS, invite_rows);
      std::cout << absl::StrFormat(
          "invitation dry run: %d rows (%.1f MiB), %d runs: best %.3f s, median %.3f s (goal < "
          "2 s)\n",
          invite_rows, invite_file.size() / 1048576.0, static_cast<int>(invite_seconds.size()),
          *std::min_element(invite_seconds.begin(), invite_seconds.end()), Median(invite_seconds));
    }

    // The import beside the load generator, round by round.
    std::vector<double> ratios;
    double last_loadgen = 0;
    for (int round = 1; round <= absl::GetFlag(FLAGS_rounds); ++round) {
      // Rows for about --seconds at the rate the load generator had last (the first round
      // measures it first); the order alternates, so that what one leaves behind (checkpoints,
      // autovacuum) falls on each in turn.
      const std::string msp = absl::StrCat("bench-import-", round);
      const bool loadgen_first = round % 2 == 1;
      double loadgen = loadgen_first || last_loadgen == 0
                           ? LoadgenCreates(absl::StrCat("bench-loadgen-", round), round)
                           : last_loadgen;
      const int rows = std::max(1000, static_cast<int>(loadgen * absl::GetFlag(FLAGS_seconds)));
      const std::string file = ImportFile(msp, rows);
      const auto upload_start = Clock::now();
      const cv1::BulkJob job = Upload(msp, file, /*validate_only=*/false);
      const double upload_s = std::chrono::duration<double>(Clock::now() - upload_start).count();
      const double imported = RunToEnd(msp, job);
      if (!loadgen_first) loadgen = LoadgenCreates(absl::StrCat("bench-loadgen-", round), round);
      last_loadgen = loadgen;
      const double with_upload = rows / (upload_s + rows / imported);
      ratios.push_back(imported / loadgen);
      std::cout << absl::StrFormat(
          "round %d (%s first): loadgen create c=%d %.0f/s; import of %d rows %.0f rows/s (%.0f/s "
          "counting its upload of %.2f s); ratio %.2f (%.2f with the upload; goal >= 0.8)\n",
          round, loadgen_first ? "loadgen" : "import", absl::GetFlag(FLAGS_concurrency), loadgen,
          rows, imported, with_upload, upload_s, ratios.back(), with_upload / loadgen);
    }
    if (!ratios.empty()) {
      std::cout << absl::StrFormat("import / loadgen: median %.2f, min %.2f, max %.2f\n",
                                   Median(ratios), *std::min_element(ratios.begin(), ratios.end()),
                                   *std::max_element(ratios.begin(), ratios.end()));
    }
    delete stack;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "import_bench: " << e.what() << "\n";
    delete stack;
    return 1;
  }
}
