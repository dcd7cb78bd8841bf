// The Grafana dashboard shipped in deploy/ against a real Prometheus (Debian's) scraping the
// suite: after some traffic, every query of every panel returns data. The services run with
// small tenant limits, so that a refusal is counted too.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "http_get.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "processes.h"
#include "stack.h"
#include "testdata/sample_customers.h"

namespace msp {
namespace {

using testing::Call;
using testing::Stack;
namespace cv1 = customer::v1;
namespace rv1 = reporting::v1;

Stack* stack = nullptr;

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new testing::StackEnvironment(
    &stack, {"customer", "service-assignment", "onboarding-invitation", "reporting"},
    {"--tenant_rate_limit_qps=20", "--tenant_rate_limit_burst=20"}));

// A query string's value: RFC 3986 unreserved characters kept, everything else %XX.
std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

// Prometheus from Debian's package, scraping every service's metrics port each second.
class Prometheus {
 public:
  explicit Prometheus(const Stack& stack) : port_(testing::FreePort()) {
    std::ostringstream config;
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n";
    for (const char* name :
         {"customer", "service-assignment", "onboarding-invitation", "reporting"}) {
      // Jobs named as the prod overlay's scrape would name them (the alerts match msp-.*).
      config << "  - job_name: msp-" << name
             << "\n    static_configs:\n      - targets: ['127.0.0.1:"
             << stack.service(name).metrics_port << "']\n";
    }
    const std::string config_path = dir_.path() + "/prometheus.yml";
    std::ofstream(config_path) << config.str();
    process_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + config_path,
                                 "--storage.tsdb.path=" + dir_.path() + "/data",
                                 absl::StrCat("--web.listen-address=127.0.0.1:", port_),
                                 "--log.level=warn"},
        std::map<std::string, std::string>{}, dir_.path() + "/prometheus.log");
  }
  int port() const { return port_; }
  std::string log() const { return process_->ReadLog(); }
  // The result vector of an instant query; an empty array when the query has no data; null when
  // Prometheus refuses the query or does not answer.
  nlohmann::json Query(const std::string& promql) const {
    const std::string body = testing::HttpGet(port_, "/api/v1/query?query=" + UrlEncode(promql));
    const auto answer = nlohmann::json::parse(body, nullptr, false);
    if (answer.is_discarded() || answer.value("status", "") != "success") return nullptr;
    return answer["data"]["result"];
  }

 private:
  testing::TempDir dir_;
  int port_;
  std::unique_ptr<testing::ChildProcess> process_;
};

// Every target of every panel: {panel title, PromQL}, Grafana's interval variables replaced by
// windows that hold several of the test's one-second scrapes.
std::vector<std::pair<std::string, std::string>> DashboardQueries() {
  std::ifstream file(std::string(MSP_SOURCE_DIR) +
                     "/deploy/k8s/overlays/prod/dashboards/msp-suite.json");
  const auto dashboard = nlohmann::json::parse(file);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.at("targets")) {
      out.emplace_back(panel.at("title").get<std::string>(),
                       absl::StrReplaceAll(target.at("expr").get<std::string>(),
                                           {{"$__rate_interval", "15s"}, {"$__range", "5m"}}));
    }
  }
  return out;
}

void Traffic() {
  auto customers = cv1::CustomerService::NewStub(stack->Channel("customer"));
  const std::string token = stack->MspToken("monitoring");
  for (int i = 0; i < 5; ++i) {
    cv1::CreateCustomerRequest request;
    request.set_parent("msps/monitoring");
    *request.mutable_customer() = customer::testdata::ValidCustomer(
        absl::StrCat("Monitored ", i, " GmbH"), absl::StrCat("it", i, "@monitored.example"));
    request.add_services(assignment::v1::KNOX_MOBILE_ENROLLMENT);
    cv1::Customer created;
    const auto status =
        Call(&cv1::CustomerService::Stub::CreateCustomer, *customers, token, request, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // A NOT_FOUND, for the panel of answers that are not OK.
  cv1::GetCustomerRequest missing;
  missing.set_name("msps/monitoring/customers/0000000000");
  cv1::Customer none;
  EXPECT_EQ(Call(&cv1::CustomerService::Stub::GetCustomer, *customers, token, missing, &none)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  // A burst past the tenant's 20 calls a second.
  int refused = 0;
  for (int i = 0; i < 200 && refused == 0; ++i) {
    cv1::ListCustomersRequest list;
    list.set_parent("msps/monitoring-burst");
    cv1::ListCustomersResponse page;
    refused += Call(&cv1::CustomerService::Stub::ListCustomers, *customers,
                    stack->MspToken("monitoring-burst"), list, &page)
                   .error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  EXPECT_GT(refused, 0);
  // A CSV export.
  auto reporting = rv1::ReportingService::NewStub(stack->Channel("reporting"));
  grpc::ClientContext context;
  testing::Authorize(context, token);
  rv1::ExportCustomersCsvRequest request;
  request.set_parent("msps/monitoring");
  auto reader = reporting->ExportCustomersCsv(&context, request);
  rv1::CsvChunk chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_TRUE(reader->Finish().ok());
}

TEST(Monitoring, EveryDashboardQueryReturnsDataFromPrometheusScrapingTheSuite) {
  Prometheus prometheus(*stack);
  // Every target scraped and up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    const auto up = prometheus.Query("sum(up)");
    if (up.is_array() && !up.empty() && up[0]["value"][1] == "4") break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "Prometheus did not scrape the 4 services: " << prometheus.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Traffic();

  const auto queries = DashboardQueries();
  ASSERT_GE(queries.size(), 15u);
  std::vector<std::pair<std::string, std::string>> empty = queries;
  // Rates need two scrapes after the traffic; the read model's lag needs its change events.
  while (!empty.empty() && std::chrono::steady_clock::now() < deadline) {
    std::vector<std::pair<std::string, std::string>> still;
    for (const auto& [title, promql] : empty) {
      const auto result = prometheus.Query(promql);
      ASSERT_FALSE(result.is_null()) << title << ": Prometheus refused " << promql;
      if (result.empty()) still.emplace_back(title, promql);
    }
    empty = std::move(still);
    if (!empty.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (const auto& [title, promql] : empty) ADD_FAILURE() << title << ": no data for " << promql;
  std::cout << "monitoring: " << queries.size() - empty.size() << " of " << queries.size()
            << " dashboard queries returned data\n";

  // What the traffic did is what the business counters say.
  const auto created = prometheus.Query("sum(msp_customers_created_total)");
  ASSERT_FALSE(created.empty());
  EXPECT_GE(std::stod(created[0]["value"][1].get<std::string>()), 5);
  const auto refusals =
      prometheus.Query("sum(msp_rate_limit_refusals_total{reason=\"TENANT_RATE_LIMITED\"})");
  ASSERT_FALSE(refusals.empty());
  EXPECT_GE(std::stod(refusals[0]["value"][1].get<std::string>()), 1);
  const auto exports = prometheus.Query("sum(msp_exports_total{outcome=\"ok\"})");
  ASSERT_FALSE(exports.empty());
  EXPECT_GE(std::stod(exports[0]["value"][1].get<std::string>()), 1);
}

}  // namespace
}  // namespace msp
