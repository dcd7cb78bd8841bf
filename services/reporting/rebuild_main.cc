// reporting_rebuild: fills reporting's read model from the customer and service-assignment
// services' list RPCs (see rebuild.h). Same flags and MSP_* environment as the server; safe to
// run while the servers run. Prints what it did as one JSON line; exit status 0 on success.
#include <iostream>

#include "absl/flags/flag.h"
#include "msp/common/channels.h"
#include "msp/common/config.h"
#include "msp/common/identities.h"
#include "msp/common/log.h"
#include "msp/common/server.h"
#include "msp/common/startup.h"
#include "nlohmann/json.hpp"
#include "rebuild.h"
#include "store/read_model_store.h"

ABSL_FLAG(std::string, customer_address, "127.0.0.1:50051", "the customer service host:port");
ABSL_FLAG(std::string, assignment_address, "127.0.0.1:50052",
          "the service-assignment service host:port");
ABSL_FLAG(int, page_size, 500, "customers listed per call");

int main(int argc, char** argv) {
  msp::ParseFlagsWithEnvFallback(argc, argv);
  try {
    const msp::CommonConfig config = msp::CommonConfigFromFlags("reporting");
    msp::MigrateAtStartup(config.database_url, "reporting",
                          msp::reporting::ReportingSchemaMigrations(), std::chrono::seconds(60));
    msp::pg::Pool pool(
        {config.database_url, 1, std::chrono::milliseconds(2000), 600000, "reporting, public"});
    const msp::auth::ServiceToken token =
        msp::ServiceTokenFromConfig(config, msp::identity::kReportingRebuild);
    msp::reporting::Rebuilder rebuilder(
        &pool, msp::InternalChannel(absl::GetFlag(FLAGS_customer_address)),
        msp::InternalChannel(absl::GetFlag(FLAGS_assignment_address)), &token);
    const auto start = std::chrono::steady_clock::now();
    const auto stats = rebuilder.Run(absl::GetFlag(FLAGS_page_size));
    std::cout << nlohmann::json{{"customers", stats.customers},
                                {"applied", stats.applied},
                                {"already_current", stats.stale},
                                {"removed", stats.removed},
                                {"seconds", std::chrono::duration<double>(
                                                std::chrono::steady_clock::now() - start)
                                                .count()}}
                     .dump()
              << std::endl;
    return 0;
  } catch (const std::exception& e) {
    msp::log::Error("reporting rebuild failed", {{"error", e.what()}});
    return 1;
  }
}
