// Closed-loop load generator: `--concurrency` callers, each sending its next call as soon as
// the previous one answers, for `--duration_s`. Prints one line of figures:
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

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "msp/bench/v1/echo.grpc.pb.h"
#include "msp/customer/v1/customer.grpc.pb.h"

ABSL_FLAG(std::string, target, "echo", "echo, get or create");
ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "server address");
ABSL_FLAG(int, concurrency, 16, "callers in flight");
ABSL_FLAG(double, duration_s, 10, "how long to run");
ABSL_FLAG(double, warmup_s, 1, "calls in the first seconds are not counted");
ABSL_FLAG(std::string, token, "", "bearer token (get, create)");
ABSL_FLAG(std::string, msp, "bench", "the token's MSP");
ABSL_FLAG(std::string, ids_file, "", "customer ids to read, one a line (get)");
ABSL_FLAG(int, channels, 4, "gRPC connections to spread the callers over");

namespace {

namespace v1 = msp::customer::v1;
using Clock = std::chrono::steady_clock;

v1::Customer BenchCustomer(int n) {
  v1::Customer c;
  auto* co = c.mutable_company();
  co->set_display_name(absl::StrCat("Bench Company ", n));
  co->set_size(v1::COMPANY_SIZE_100_249);
  co->add_industries(v1::MANUFACTURING);
  co->set_country_code("DE");
  co->mutable_address()->set_address_line1("Hauptstr. 1");
  co->mutable_address()->set_city("Berlin");
  co->mutable_address()->set_state("Berlin");
  co->mutable_address()->set_zip_code("10115");
  auto* contact = c.mutable_contact();
  contact->set_first_name("Bench");
  contact->set_last_name("Mark");
  contact->set_work_email(absl::StrCat("it", n, "@bench.example"));
  contact->set_phone("+49301234567");
  c.set_management_type(v1::FULLY_MANAGED);
  return c;
}

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
  if (target == "get") {
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
    channels.push_back(grpc::CreateCustomChannel(absl::GetFlag(FLAGS_addr),
                                                 grpc::InsecureChannelCredentials(), args));
  }
  const auto start = Clock::now();
  const auto measure_from =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(absl::GetFlag(FLAGS_warmup_s)));
  const auto stop =
      measure_from + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(absl::GetFlag(FLAGS_duration_s)));
  std::atomic<int64_t> errors{0};
  std::map<std::string, int64_t> error_codes;
  std::mutex error_mu;
  std::vector<std::vector<uint32_t>> latencies(static_cast<size_t>(concurrency));
  std::atomic<int> created_seq{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto channel = channels[static_cast<size_t>(t) % channels.size()];
      auto echo = msp::bench::v1::EchoService::NewStub(channel);
      auto customers = v1::CustomerService::NewStub(channel);
      std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
      auto& mine = latencies[static_cast<size_t>(t)];
      mine.reserve(1 << 16);
      while (true) {
        const auto begin = Clock::now();
        if (begin >= stop) break;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
        grpc::Status status;
        if (target == "echo") {
          msp::bench::v1::EchoRequest request;
          request.set_payload("ping");
          msp::bench::v1::EchoResponse response;
          status = echo->Echo(&context, request, &response);
        } else if (target == "get") {
          v1::GetCustomerRequest request;
          request.set_name(absl::StrCat("msps/", msp, "/customers/", ids[rng() % ids.size()]));
          v1::Customer response;
          status = customers->GetCustomer(&context, request, &response);
        } else {
          const int n = created_seq++;
          v1::CreateCustomerRequest request;
          request.set_parent("msps/" + msp);
          *request.mutable_customer() = BenchCustomer(n);
          request.set_request_id(absl::StrCat("bench-", start.time_since_epoch().count(), "-", n));
          v1::Customer response;
          status = customers->CreateCustomer(&context, request, &response);
        }
        const auto end = Clock::now();
        if (begin < measure_from) continue;
        if (!status.ok()) {
          ++errors;
          std::lock_guard<std::mutex> lock(error_mu);
          ++error_codes[absl::StrCat(status.error_code(), ":",
                                     status.error_message().substr(0, 60))];
          continue;
        }
        mine.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(end - begin).count()));
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
