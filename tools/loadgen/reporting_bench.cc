// The reporting benchmark's client (tools/bench-reporting drives it). Subcommands:
//   seed   --database_url URL --msp M --count N [--first K]
//          loads N synthetic customers of MSP M into the read model through ReadModelStore::Apply,
//          the consumer's own write path (events with whole states), in batches of 1000
//   pages  --addr A --token T --msp M [--rounds R]
//          table pages: every order (both directions), the first page and four after it by
//          page token, R rounds; prints calls p50_us p99_us
//   export --addr A --token T --msp M
//          streams ExportCustomersCsv, discarding the bytes; prints rows bytes seconds rows_per_s
#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "msp/common/knox_services.h"
#include "msp/common/pg.h"
#include "msp/common/timestamps.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "store/read_model_store.h"

ABSL_FLAG(std::string, database_url, "", "seed: the database");
ABSL_FLAG(std::string, msp, "bench", "the MSP");
ABSL_FLAG(int, count, 10000, "seed: customers to add");
ABSL_FLAG(int, first, 0, "seed: number of the first customer (ids and names follow from it)");
ABSL_FLAG(int, threads, 2, "seed: writers");
ABSL_FLAG(std::string, addr, "127.0.0.1:50054", "pages, export: the reporting service");
ABSL_FLAG(std::string, token, "", "pages, export: an MSP admin's bearer token");
ABSL_FLAG(int, rounds, 20, "pages: rounds over every order");

namespace {

namespace rv1 = msp::reporting::v1;
namespace av1 = msp::assignment::v1;
namespace ev1 = msp::events::v1;
using Clock = std::chrono::steady_clock;

// A customer id of the usual shape (10 characters of Crockford base32), unique per (msp, n):
// two characters from the MSP, eight from n times an odd number modulo 2^40 (a bijection, so
// no two n collide, and neighbours do not sort together).
std::string CustomerId(const std::string& msp, int n) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  const uint64_t m = std::hash<std::string>()(msp);
  uint64_t x = (static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ULL) & ((uint64_t{1} << 40) - 1);
  std::string id = {kAlphabet[m % 32], kAlphabet[(m / 32) % 32]};
  for (int i = 0; i < 8; ++i) {
    id += kAlphabet[x % 32];
    x /= 32;
  }
  return id;
}

// Events as the services would publish them for a customer made, given services and counted.
void AddCustomer(const std::string& msp, int n, std::mt19937_64& random,
                 msp::reporting::ChangeBatch& batch) {
  static const char* kWords[] = {"Acme",  "Globex", "Initech",  "Umbrella", "Stark",
                                 "Wayne", "Hooli",  "Vandelay", "Soylent",  "Tyrell"};
  const std::string id = CustomerId(msp, n);
  auto& account = batch.customers.emplace_back();
  account.set_customer_id(id);
  account.set_msp_id(msp);
  account.set_version(1);
  auto* c = account.mutable_customer();
  c->set_name(absl::StrCat("msps/", msp, "/customers/", id));
  c->set_customer_id(id);
  c->mutable_company()->set_display_name(
      absl::StrCat(kWords[random() % 10], " ", kWords[random() % 10], " ", n, " GmbH"));
  c->mutable_contact()->set_first_name("Erika");
  c->mutable_contact()->set_last_name(absl::StrCat("Muster", n % 977));
  c->mutable_contact()->set_work_email(absl::StrCat("it", n, "@firm", n, ".example"));
  c->set_management_type(random() % 3 == 0 ? msp::customer::v1::JOINTLY_MANAGED
                                           : msp::customer::v1::FULLY_MANAGED);
  const int state_pick = static_cast<int>(random() % 50);
  c->set_state(state_pick == 0   ? msp::customer::v1::PENDING
               : state_pick == 1 ? msp::customer::v1::REJECTED
                                 : msp::customer::v1::ACTIVE);
  const int64_t created =
      1'650'000'000'000'000 + static_cast<int64_t>(random() % 100'000'000) * 1'000'000;
  msp::SetTimestampMicros(c->mutable_create_time(), created);
  msp::SetTimestampMicros(c->mutable_update_time(),
                          created + static_cast<int64_t>(random() % 1'000'000) * 1'000'000);
  *c->mutable_msp_link_time() = c->create_time();
  *account.mutable_change_time() = c->update_time();

  auto& services = batch.services.emplace_back();
  services.set_customer_id(id);
  services.set_msp_id(msp);
  services.set_version(1);
  for (auto service : msp::knox::AllServices()) {
    if (random() % 3 != 0) continue;
    auto* s = services.add_services();
    s->set_name(absl::StrCat("msps/", msp, "/customers/", id, "/services/",
                             std::string(msp::knox::ServiceId(service))));
    s->set_service(service);
    s->set_state(av1::AssignedService::ACTIVE);
    s->set_device_count(static_cast<int64_t>(random() % 5000));
    s->set_devices_needing_attention(static_cast<int64_t>(random() % 20));
    *s->mutable_add_time() = c->create_time();
    *s->mutable_update_time() = c->update_time();
  }
  *services.mutable_change_time() = c->update_time();
}

int Seed() {
  const std::string msp = absl::GetFlag(FLAGS_msp);
  const int first = absl::GetFlag(FLAGS_first);
  const int count = absl::GetFlag(FLAGS_count);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  msp::pg::Pool pool({absl::GetFlag(FLAGS_database_url), threads, std::chrono::seconds(10), 600000,
                      "reporting, public"});
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<uint64_t>(first) * 7919u + static_cast<uint64_t>(t));
      msp::reporting::ReadModelStore store;
      for (int n = first + t * 1000; n < first + count; n += threads * 1000) {
        msp::reporting::ChangeBatch batch;
        for (int i = n; i < std::min(n + 1000, first + count); ++i)
          AddCustomer(msp, i, random, batch);
        msp::pg::WithTransaction(pool, [&](msp::pg::Transaction& tx) {
          store.Apply(tx.conn(), batch);
          tx.Commit();
          return 0;
        });
      }
    });
  }
  for (auto& w : writers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "seeded=" << count << " seconds=" << seconds << " rows_per_s=" << count / seconds
            << std::endl;
  return 0;
}

void Authorize(grpc::ClientContext& context) {
  context.AddMetadata("authorization", "Bearer " + absl::GetFlag(FLAGS_token));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
}

int Pages() {
  auto stub = rv1::ReportingService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_addr), grpc::InsecureChannelCredentials()));
  std::vector<int64_t> micros;
  int errors = 0;
  const std::vector<std::string> orders = {
      "name",          "service_status", "customer_id", "management_type",
      "total_devices", "modified",       "created",     "msp_linked"};
  for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
    for (const auto& order : orders) {
      for (const char* direction : {"", " desc"}) {
        rv1::QueryCustomerTableRequest request;
        request.set_parent("msps/" + absl::GetFlag(FLAGS_msp));
        request.set_order_by(order + direction);
        for (int page = 0; page < 5; ++page) {
          grpc::ClientContext context;
          Authorize(context);
          rv1::QueryCustomerTableResponse response;
          const auto begin = Clock::now();
          const auto status = stub->QueryCustomerTable(&context, request, &response);
          micros.push_back(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin).count());
          if (!status.ok()) {
            ++errors;
            std::cerr << status.error_message() << "\n";
            break;
          }
          if (response.next_page_token().empty()) break;
          request.set_page_token(response.next_page_token());
        }
      }
    }
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros.empty()
               ? 0
               : micros[std::min(micros.size() - 1, static_cast<size_t>(q * micros.size()))];
  };
  std::cout << "calls=" << micros.size() << " errors=" << errors << " p50_us=" << at(0.5)
            << " p99_us=" << at(0.99) << std::endl;
  return errors == 0 ? 0 : 1;
}

int Export() {
  auto stub = rv1::ReportingService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_addr), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  Authorize(context);
  rv1::ExportCustomersCsvRequest request;
  request.set_parent("msps/" + absl::GetFlag(FLAGS_msp));
  const auto begin = Clock::now();
  auto reader = stub->ExportCustomersCsv(&context, request);
  rv1::CsvChunk chunk;
  int64_t bytes = 0, lines = 0;
  while (reader->Read(&chunk)) {
    bytes += static_cast<int64_t>(chunk.data().size());
    lines += std::count(chunk.data().begin(), chunk.data().end(), '\n');
  }
  const auto status = reader->Finish();
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  if (!status.ok()) {
    std::cerr << "export failed: " << status.error_message() << "\n";
    return 1;
  }
  const int64_t rows = lines - 1;  // the header
  std::cout << "rows=" << rows << " bytes=" << bytes << " seconds=" << seconds
            << " rows_per_s=" << static_cast<double>(rows) / seconds << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() > 1 ? args[1] : "";
  if (command == "seed") return Seed();
  if (command == "pages") return Pages();
  if (command == "export") return Export();
  std::cerr << "usage: reporting_bench seed|pages|export [flags]\n";
  return 2;
}
