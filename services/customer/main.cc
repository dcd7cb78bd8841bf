// The customer service binary: flags (or MSP_* environment variables), migrations, serve.
#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "customer_service.h"
#include "msp/common/config.h"
#include "msp/common/log.h"
#include "msp/common/periodic.h"
#include "msp/common/server.h"
#include "msp/common/startup.h"

ABSL_FLAG(int, db_read_threads, 1,
          "database threads that pipeline the reads of callback handlers (GetCustomer)");
ABSL_FLAG(int, request_id_retention_hours, 7 * 24,
          "how long a request_id's first answer is kept for retries");
ABSL_FLAG(std::string, free_mail_domains, "",
          "comma-separated free-mail providers (gmail, mail.ru, ...); empty: the built-in list");

namespace msp {
const std::vector<Migration>& CustomerMigrations();
}

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  try {
    const msp::CommonConfig config = msp::CommonConfigFromFlags("customer");
    msp::MigrateAtStartup(config.database_url, "customer", msp::CustomerMigrations(),
                          std::chrono::seconds(60));
    msp::pg::Pool pool({config.database_url, config.db_pool_size, std::chrono::milliseconds(2000),
                        config.db_statement_timeout_ms, "customer, public"});
    msp::auth::TokenVerifier verifier(config.jwt);

    const std::string free_mail_flag = absl::GetFlag(FLAGS_free_mail_domains);
    msp::customer::FreeMailDomains free_mail =
        free_mail_flag.empty() ? msp::customer::FreeMailDomains()
                               : msp::customer::FreeMailDomains(
                                     absl::StrSplit(free_mail_flag, ',', absl::SkipWhitespace()));

    msp::HostOptions options{"customer", config.server};
    options.health_services = {"msp.customer.v1.CustomerService"};
    msp::ServiceHost host(options);
    host.SetReadiness(msp::DatabaseReadiness(&pool, &host.metrics()));
    msp::RpcRuntime runtime("customer.msp.v1", &verifier,
                            msp::customer::CustomerServiceImpl::Policy(), &host.metrics());
    msp::pg::PipelinedReader reader({config.database_url, absl::GetFlag(FLAGS_db_read_threads),
                                     config.db_statement_timeout_ms, "customer, public"});
    msp::customer::CustomerServiceImpl service(&pool, &reader, &runtime, std::move(free_mail));
    host.AddService(&service);
    // Saved answers for request ids are kept for the retention window, then purged in batches.
    const std::chrono::hours retention(absl::GetFlag(FLAGS_request_id_retention_hours));
    msp::PeriodicTask purge("purge-request-ids", std::chrono::minutes(10), [&pool, retention] {
      msp::customer::CustomerStore store;
      auto conn = pool.Acquire();
      while (store.PurgeRequestIds(*conn, retention, 1000) == 1000) {
      }
    });
    return host.Run();
  } catch (const std::exception& e) {
    msp::log::Error("customer service failed to start", {{"error", e.what()}});
    return 1;
  }
}
