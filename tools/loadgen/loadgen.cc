// Closed-loop load generator: `--concurrency` callers, each sending its next call as soon as
// the previous one answers, for `--duration_s`, on gRPC's async client API. Prints one line of
// figures:
//   target=get concurrency=16 calls=123456 errors=0 qps=12345.6 p50_us=1100 p99_us=2400
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/bench/v1/echo.grpc.pb.h"
#include "msp/common/channels.h"
#include "msp/common/tls.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "testdata/sample_customers.h"

ABSL_FLAG(std::string, target, "echo",
          "echo, get, create, create-services (with Knox Mobile Enrollment, Knox Manage and Knox "
          "Configure), report-counts (ReportDeviceCounts, a service token), or read-sync / "
          "read-async (pgbench point read, see echo.proto)");
ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "server address");
ABSL_FLAG(int, concurrency, 16, "callers in flight");
ABSL_FLAG(double, duration_s, 10, "how long to run");
ABSL_FLAG(double, warmup_s, 1, "calls in the first seconds are not counted");
ABSL_FLAG(std::string, token, "", "bearer token (get, create)");
ABSL_FLAG(std::string, msp, "bench", "the token's MSP");
ABSL_FLAG(std::string, ids_file, "", "customer ids, one a line (get, report-counts)");
ABSL_FLAG(int, channels, 4, "gRPC connections to spread the callers over");
ABSL_FLAG(std::string, cacert, "", "CA bundle (PEM): call over TLS, verifying the server with it");
ABSL_FLAG(int, threads, 2, "client threads, each with its own completion queue");
ABSL_FLAG(double, rate, 0,
          "calls a second in all, evenly spaced (an open, steady load while below what the "
          "server can take); 0: closed loop, each caller as fast as answers come");

namespace {

namespace v1 = msp::customer::v1;
using Clock = std::chrono::steady_clock;

v1::Customer BenchCustomer(int n) {
  return msp::customer::testdata::ValidCustomer(absl::StrCat("Bench Company ", n),
                                                absl::StrCat("it", n, "@bench.example"));
}

// One call in flight: its context, answer and status live until the completion queue hands
// it back.
struct PendingCall {
  virtual ~PendingCall() = default;
  void Prepare(const std::string& token) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    begin = Clock::now();
  }
  grpc::ClientContext context;
  grpc::Status status;
  Clock::time_point begin;
  int caller = 0;
  bool is_delay = false;  // a paced caller's wait, not a call
};

// A paced caller waiting for its next slot (--rate): an alarm on the completion queue.
struct Delay : PendingCall {
  grpc::Alarm alarm;
};

template <typename Response>
struct TypedCall : PendingCall {
  void Start() {
    reader->StartCall();
    reader->Finish(&response, &status, static_cast<PendingCall*>(this));
  }
  Response response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As in the servers: Debian's Abseil would track lock cycles on every gRPC mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string target = absl::GetFlag(FLAGS_target);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const std::string token = absl::GetFlag(FLAGS_token);
  const std::string msp = absl::GetFlag(FLAGS_msp);
  std::vector<std::string> ids;
  if (target == "get" || target == "report-counts") {
    std::ifstream in(absl::GetFlag(FLAGS_ids_file));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) ids.push_back(line);
    }
    if (ids.empty()) {
      std::cerr << "loadgen: --ids_file has no ids\n";
      return 2;
    }
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_channels)); ++i) {
    grpc::ChannelArguments args;
    args.SetInt("msp.bench.channel", i);  // distinct args: a connection of its own
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    msp::SpreadOverReplicas(args);
    msp::tls::Settings tls;
    tls.ca_file = absl::GetFlag(FLAGS_cacert);
    channels.push_back(grpc::CreateCustomChannel(absl::GetFlag(FLAGS_addr),
                                                 msp::tls::ChannelCredentials(tls), args));
  }
  const auto start = Clock::now();
  const auto measure_from =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(absl::GetFlag(FLAGS_warmup_s)));
  const auto stop =
      measure_from + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(absl::GetFlag(FLAGS_duration_s)));
  // Async client: each thread drives its share of the callers from one completion queue, so
  // the load generator spends little of the machine's two cores (a thread per caller spent
  // ~90 us of CPU per call, taken from the server it measures).
  const int threads_wanted = std::max(1, std::min(absl::GetFlag(FLAGS_threads), concurrency));
  std::atomic<int64_t> errors{0};
  std::map<std::string, int64_t> error_codes;
  std::mutex error_mu;
  std::vector<std::vector<uint32_t>> latencies(static_cast<size_t>(threads_wanted));
  std::atomic<int> created_seq{0};
  const double rate = absl::GetFlag(FLAGS_rate);
  std::atomic<int64_t> next_slot{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_wanted; ++t) {
    threads.emplace_back([&, t] {
      const int callers = concurrency / threads_wanted + (t < concurrency % threads_wanted ? 1 : 0);
      grpc::CompletionQueue cq;
      std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
      auto& mine = latencies[static_cast<size_t>(t)];
      mine.reserve(1 << 18);
      std::vector<std::unique_ptr<msp::bench::v1::EchoService::Stub>> echo;
      std::vector<std::unique_ptr<v1::CustomerService::Stub>> customers;
      std::vector<std::unique_ptr<msp::bench::v1::DbEchoService::Stub>> db_echo;
      std::vector<std::unique_ptr<msp::assignment::v1::ServiceAssignmentService::Stub>> assign;
      for (const auto& channel : channels) {
        assign.push_back(msp::assignment::v1::ServiceAssignmentService::NewStub(channel));
        echo.push_back(msp::bench::v1::EchoService::NewStub(channel));
        db_echo.push_back(msp::bench::v1::DbEchoService::NewStub(channel));
        customers.push_back(v1::CustomerService::NewStub(channel));
      }
      auto issue = [&](int caller) -> PendingCall* {
        const size_t ch = static_cast<size_t>(t * 31 + caller) % channels.size();
        PendingCall* call = nullptr;
        if (target == "echo") {
          auto* c = new TypedCall<msp::bench::v1::EchoResponse>();
          msp::bench::v1::EchoRequest request;
          request.set_payload("ping");
          c->Prepare(token);
          c->reader = echo[ch]->PrepareAsyncEcho(&c->context, request, &cq);
          call = c;
          c->Start();
        } else if (target == "read-sync" || target == "read-async") {
          auto* c = new TypedCall<msp::bench::v1::ReadAccountResponse>();
          msp::bench::v1::ReadAccountRequest request;
          request.set_aid(static_cast<int32_t>(rng() % 1000000) + 1);  // pgbench scale 10
          c->Prepare("");
          c->reader = target == "read-sync"
                          ? echo[ch]->PrepareAsyncReadAccount(&c->context, request, &cq)
                          : db_echo[ch]->PrepareAsyncReadAccount(&c->context, request, &cq);
          call = c;
          c->Start();
        } else if (target == "get") {
          auto* c = new TypedCall<v1::Customer>();
          v1::GetCustomerRequest request;
          request.set_name(absl::StrCat("msps/", msp, "/customers/", ids[rng() % ids.size()]));
          c->Prepare(token);
          c->reader = customers[ch]->PrepareAsyncGetCustomer(&c->context, request, &cq);
          call = c;
          c->Start();
        } else if (target == "report-counts") {
          auto* c = new TypedCall<msp::assignment::v1::ReportDeviceCountsResponse>();
          msp::assignment::v1::ReportDeviceCountsRequest request;
          auto* report = request.add_reports();
          report->set_customer_id(ids[rng() % ids.size()]);
          report->set_service(msp::assignment::v1::KNOX_MOBILE_ENROLLMENT);
          report->set_device_count(static_cast<int64_t>(rng() % 5000));
          const auto now = std::chrono::system_clock::now().time_since_epoch();
          report->mutable_observe_time()->set_seconds(
              std::chrono::duration_cast<std::chrono::seconds>(now).count());
          report->mutable_observe_time()->set_nanos(static_cast<int32_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1000000000));
          c->Prepare(token);
          c->reader = assign[ch]->PrepareAsyncReportDeviceCounts(&c->context, request, &cq);
          call = c;
          c->Start();
        } else {
          auto* c = new TypedCall<v1::Customer>();
          const int n = created_seq++;
          v1::CreateCustomerRequest request;
          request.set_parent("msps/" + msp);
          *request.mutable_customer() = BenchCustomer(n);
          request.set_request_id(absl::StrCat("bench-", start.time_since_epoch().count(), "-", n));
          if (target == "create-services") {
            // Each its own email domain, so every Knox Manage tenant id is free.
            request.mutable_customer()->mutable_contact()->set_work_email(absl::StrCat(
                "it@c", n, "-", start.time_since_epoch().count() % 1000000, ".bench.example"));
            request.add_services(msp::assignment::v1::KNOX_MOBILE_ENROLLMENT);
            request.add_services(msp::assignment::v1::KNOX_MANAGE);
            request.add_services(msp::assignment::v1::KNOX_CONFIGURE);
          }
          c->Prepare(token);
          c->reader = customers[ch]->PrepareAsyncCreateCustomer(&c->context, request, &cq);
          call = c;
          c->Start();
        }
        call->caller = caller;
        return call;
      };
      // Paced: call k of the whole run is due at start + k / rate.
      auto wait_or_issue = [&](int caller) {
        if (rate <= 0) {
          issue(caller);
          return;
        }
        const int64_t slot = next_slot++;
        const auto due =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(slot) / rate));
        auto* delay = new Delay();
        delay->is_delay = true;
        delay->caller = caller;
        delay->alarm.Set(&cq, std::chrono::system_clock::now() + (due - Clock::now()),
                         static_cast<PendingCall*>(delay));
      };
      int in_flight = 0;
      for (int caller = 0; caller < callers; ++caller) {
        wait_or_issue(caller);
        ++in_flight;
      }
      void* tag = nullptr;
      bool ok = false;
      while (in_flight > 0 && cq.Next(&tag, &ok)) {
        std::unique_ptr<PendingCall> call(static_cast<PendingCall*>(tag));
        if (call->is_delay) {
          if (Clock::now() < stop) {
            issue(call->caller);
          } else {
            --in_flight;
          }
          continue;
        }
        --in_flight;
        const auto end = Clock::now();
        if (call->begin >= measure_from) {
          if (!call->status.ok()) {
            ++errors;
            std::lock_guard<std::mutex> lock(error_mu);
            ++error_codes[absl::StrCat(call->status.error_code(), ":",
                                       call->status.error_message().substr(0, 60))];
          } else {
            mine.push_back(static_cast<uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(end - call->begin).count()));
          }
        }
        if (end < stop) {
          wait_or_issue(call->caller);
          ++in_flight;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<uint32_t> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) -> uint32_t {
    if (all.empty()) return 0;
    return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))];
  };
  const double seconds = absl::GetFlag(FLAGS_duration_s);
  std::cout << absl::StrFormat(
      "target=%s concurrency=%d calls=%d errors=%d qps=%.1f p50_us=%d p99_us=%d\n", target,
      concurrency, all.size(), errors.load(), static_cast<double>(all.size()) / seconds, pct(0.50),
      pct(0.99));
  for (const auto& [code, count] : error_codes)
    std::cerr << "  error " << code << " x" << count << "\n";
  return all.empty() ? 1 : 0;
}
