// The reporting service binary: flags (or MSP_* environment variables), migrations, the change
// consumer, serve.
#include <memory>

#include "absl/flags/flag.h"
#include "change_consumer.h"
#include "invitation_directory.h"
#include "msp/common/channels.h"
#include "msp/common/config.h"
#include "msp/common/host.h"
#include "msp/common/identities.h"
#include "msp/common/log.h"
#include "msp/common/server.h"
#include "msp/common/startup.h"
#include "msp/common/tenant_limiter.h"
#include "reporting_service.h"

ABSL_FLAG(std::string, onboarding_address, "127.0.0.1:50053",
          "the onboarding-invitation service host:port (invitations in customer details)");
ABSL_FLAG(std::string, consumer_name, "",
          "this replica's name in the change stream's consumer group (default: the host name, "
          "which is the pod name on Kubernetes)");
ABSL_FLAG(int, consumer_batch, 500,
          "change events applied per transaction while the consumer keeps up");
ABSL_FLAG(int, consumer_gather_ms, 100,
          "a short read waits until its first change event is this old and takes what came "
          "meanwhile (a customer's create and its services become one row write)");
ABSL_FLAG(int, consumer_max_batch, 8000,
          "change events applied per transaction at most, while a backlog lasts (batches double "
          "while reads come back full)");
ABSL_FLAG(std::string, database_read_url, "",
          "libpq connection string for reads that may lag the primary a moment: the table's rows "
          "and the export (e.g. the cluster's hosts with target_session_attrs=prefer-standby); "
          "empty: --database_url");
ABSL_FLAG(int, export_page_rows, 5000, "rows an export reads per keyset page");
ABSL_FLAG(int, max_concurrent_exports, 4, "CSV exports running at once on this replica");
ABSL_FLAG(int, max_concurrent_exports_per_msp, 1,
          "CSV exports of one MSP running at once on this replica");
ABSL_FLAG(int, export_write_timeout_ms, 30000,
          "an export whose client takes no data for this long is cancelled");

namespace {

std::string ConsumerName() {
  std::string name = absl::GetFlag(FLAGS_consumer_name);
  if (!name.empty()) return name;
  const std::string host = msp::HostName();
  return host.empty() ? "reporting" : host;
}

}  // namespace

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  try {
    const msp::CommonConfig config = msp::CommonConfigFromFlags("reporting");
    msp::MigrateAtStartup(config.database_url, "reporting",
                          msp::reporting::ReportingSchemaMigrations(), std::chrono::seconds(60));
    msp::pg::Pool pool({config.database_url, config.db_pool_size, std::chrono::milliseconds(2000),
                        config.db_statement_timeout_ms, "reporting, public"});
    // Reads that may lag go to a standby when one is given, so the primary keeps its
    // connections and CPU for writes.
    std::unique_ptr<msp::pg::Pool> read_pool;
    if (const std::string read_url = absl::GetFlag(FLAGS_database_read_url); !read_url.empty()) {
      read_pool = std::make_unique<msp::pg::Pool>(
          msp::pg::PoolOptions{read_url, config.db_pool_size, std::chrono::milliseconds(2000),
                               config.db_statement_timeout_ms, "reporting, public"});
    }
    msp::auth::TokenVerifier verifier(config.jwt);
    const msp::auth::ServiceToken service_token =
        msp::ServiceTokenFromConfig(config, msp::identity::kReporting);
    msp::reporting::GrpcInvitationDirectory invitations(
        msp::InternalChannel(absl::GetFlag(FLAGS_onboarding_address)), &service_token);

    msp::HostOptions options{"reporting", config.server};
    options.error_domain = "reporting.msp.v1";
    options.health_services = {"msp.reporting.v1.ReportingService"};
    msp::ServiceHost host(options);
    host.SetReadiness(msp::DatabaseReadiness(&pool, &host.metrics()));

    msp::reporting::ChangeConsumer::Options consumer_options;
    consumer_options.consumer = ConsumerName();
    consumer_options.batch_size = absl::GetFlag(FLAGS_consumer_batch);
    consumer_options.max_batch_size = absl::GetFlag(FLAGS_consumer_max_batch);
    consumer_options.gather = std::chrono::milliseconds(absl::GetFlag(FLAGS_consumer_gather_ms));
    msp::reporting::ChangeConsumer consumer(&pool,
                                            msp::redis::OptionsFromAddress(config.redis_address),
                                            consumer_options, host.metrics().registry());
    consumer.Start();

    // One tenant cannot take the service's threads and connections from the others; its limits
    // hold for all the replicas together.

    const auto limiter = msp::TenantLimiterFromFlags(options.service_name, config.redis_address,
                                                     config.server.listen_address, &host.metrics());

    msp::RpcRuntime runtime(options.error_domain, &verifier,
                            msp::reporting::ReportingServiceImpl::Policy(), &host.metrics(),

                            limiter.get());
    msp::reporting::ExportSettings export_settings;
    export_settings.page_rows = absl::GetFlag(FLAGS_export_page_rows);
    export_settings.limits.total = absl::GetFlag(FLAGS_max_concurrent_exports);
    export_settings.limits.per_tenant = absl::GetFlag(FLAGS_max_concurrent_exports_per_msp);
    export_settings.write_timeout =
        std::chrono::milliseconds(absl::GetFlag(FLAGS_export_write_timeout_ms));
    msp::reporting::ReportingServiceImpl service(&pool, &runtime, &invitations, export_settings,
                                                 read_pool.get());
    host.AddService(&service);
    return host.Run();
  } catch (const std::exception& e) {
    msp::log::Error("reporting service failed to start", {{"error", e.what()}});
    return 1;
  }
}
