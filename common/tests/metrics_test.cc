// The metrics' names and labels: go-grpc-prometheus' for gRPC, the client libraries' process_*.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <prometheus/text_serializer.h>

#include "msp/common/mailer.h"
#include "msp/common/metrics.h"
#include "msp/common/process_metrics.h"
#include "msp/reporting/v1/reporting.pb.h"

namespace msp {
namespace {

TEST(GrpcMethodLabels, SplitTheFullNameAndTellTheStreamingKindFromTheDescriptors) {
  const auto unary = GrpcMethodLabels("/msp.customer.v1.CustomerService/CreateCustomer");
  EXPECT_EQ(unary.at("grpc_service"), "msp.customer.v1.CustomerService");
  EXPECT_EQ(unary.at("grpc_method"), "CreateCustomer");
  EXPECT_EQ(unary.at("grpc_type"), "unary");
  // Its descriptors are in the pool once linked in, as in the reporting server.
  (void)reporting::v1::ExportCustomersCsvRequest::descriptor();
  const auto export_csv = GrpcMethodLabels("/msp.reporting.v1.ReportingService/ExportCustomersCsv");
  EXPECT_EQ(export_csv.at("grpc_method"), "ExportCustomersCsv");
  EXPECT_EQ(export_csv.at("grpc_type"), "server_stream");
  const auto odd = GrpcMethodLabels("no-slash");
  EXPECT_EQ(odd.at("grpc_service"), "unknown");
}

TEST(ServerMetrics, CountStartsAndEndsByCodeAndBusinessCountersOnce) {
  ServerMetrics metrics("unit");
  const std::string method = "/msp.customer.v1.CustomerService/GetCustomer";
  auto& first = metrics.RecordStart(method);
  auto& second = metrics.RecordStart(method);
  EXPECT_EQ(&first, &second);  // one series a method
  metrics.RecordRpc(first, grpc::StatusCode::OK, 0.001);
  metrics.RecordRpc(second, grpc::StatusCode::NOT_FOUND, 0.002);
  auto& created = metrics.Counter(metric_names::kCustomersCreated, "help");
  created.Increment();
  EXPECT_EQ(&metrics.Counter(metric_names::kCustomersCreated, "help"), &created);
  const std::string text = prometheus::TextSerializer().Serialize(metrics.registry().Collect());
  EXPECT_NE(text.find("grpc_server_started_total{service=\"unit\",grpc_method=\"GetCustomer\","
                      "grpc_service=\"msp.customer.v1.CustomerService\",grpc_type=\"unary\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("grpc_code=\"NotFound\""), std::string::npos);
  EXPECT_NE(text.find("msp_customers_created_total{service=\"unit\"} 1"), std::string::npos);
  EXPECT_NE(text.find("msp_build_info{service=\"unit\",revision="), std::string::npos);
}

// Emails sent and failed are counted around any mailer; a failure still reaches the relay.
TEST(CountingMailer, CountsWhatItSendsAndWhatFails) {
  struct FlakyMailer : mail::Mailer {
    int calls = 0;
    void Send(const mail::Email&) override {
      if (++calls % 2 == 0) throw std::runtime_error("421 try later");
    }
  };
  ServerMetrics metrics("unit");
  auto& sent = metrics.Counter(metric_names::kEmailsSent, "sent");
  auto& failed = metrics.Counter(metric_names::kEmailsFailed, "failed");
  mail::CountingMailer mailer(std::make_unique<FlakyMailer>(), &sent, &failed);
  mailer.Send({});
  EXPECT_THROW(mailer.Send({}), std::runtime_error);
  mailer.Send({});
  EXPECT_EQ(sent.Value(), 2);
  EXPECT_EQ(failed.Value(), 1);
}

TEST(ProcessFacts, FollowThisProcess) {
  const ProcessFacts before = ReadProcessFacts();
  EXPECT_GT(before.resident_bytes, 1e5);
  EXPECT_GE(before.virtual_bytes, before.resident_bytes);
  EXPECT_GT(before.max_fds, 0);
  EXPECT_GE(before.threads, 1);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(before.start_time_seconds, now + 1);
  EXPECT_GT(before.start_time_seconds, now - 3600);
  const int fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadProcessFacts().open_fds, before.open_fds + 1);
  close(fd);
  // Burn some CPU: the counter follows it.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  volatile double x = 0;
  while (std::chrono::steady_clock::now() < until) x = x + 1;
  EXPECT_GT(ReadProcessFacts().cpu_seconds, before.cpu_seconds + 0.1);
}

}  // namespace
}  // namespace msp
