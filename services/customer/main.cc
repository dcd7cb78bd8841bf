// The customer service binary: flags (or MSP_* environment variables), migrations, serve.
#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "account_setup_relay.h"
#include "assignment_relay.h"
#include "bulk_job_runner.h"
#include "bulk_job_service.h"
#include "change_event_relay.h"
#include "customer_service.h"
#include "msp/common/channels.h"
#include "msp/common/config.h"
#include "msp/common/idempotency.h"
#include "msp/common/identities.h"
#include "msp/common/log.h"
#include "msp/common/periodic.h"
#include "msp/common/server.h"
#include "msp/common/startup.h"
#include "msp/common/tenant_limiter.h"

ABSL_FLAG(int, db_read_threads, 1,
          "database threads that pipeline the reads of callback handlers (GetCustomer)");
ABSL_FLAG(int, db_write_threads, 2,
          "database threads that group-commit the inserts of callback handlers (CreateCustomer): "
          "each round trip's inserts in one transaction");
ABSL_FLAG(int, request_id_retention_hours, 7 * 24,
          "how long a request_id's first answer is kept for retries");
ABSL_FLAG(std::string, assignment_address, "127.0.0.1:50052",
          "the service-assignment service host:port");
ABSL_FLAG(std::string, onboarding_address, "127.0.0.1:50053",
          "the onboarding-invitation service host:port (account-set-up emails, bulk invitations)");
ABSL_FLAG(int, outbox_parallelism, 16,
          "outbox deliveries (AssignServices calls, change events) in flight at once");
ABSL_FLAG(int, bulk_max_running_jobs, 2, "bulk jobs one MSP may have running at once");
ABSL_FLAG(int, bulk_job_lease_ms, 10000,
          "how long a bulk job stays with a replica that stopped renewing it (died) before another "
          "takes it over");
ABSL_FLAG(int, bulk_job_retention_days, 30,
          "how long an ended bulk job (its rows and result) is kept before it is deleted");
ABSL_FLAG(int, bulk_rows_in_flight, 16, "rows of a bulk job written at once");
ABSL_FLAG(int, bulk_progress_interval_ms, 500,
          "how often a running bulk job records the rows answered meanwhile (its progress)");
ABSL_FLAG(std::string, free_mail_domains, "",
          "comma-separated free-mail providers (gmail, mail.ru, ...); empty: the built-in list");

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  try {
    const msp::CommonConfig config = msp::CommonConfigFromFlags("customer");
    msp::MigrateAtStartup(config.database_url, "customer",
                          msp::customer::CustomerSchemaMigrations(), std::chrono::seconds(60));
    msp::pg::Pool pool({config.database_url, config.db_pool_size, std::chrono::milliseconds(2000),
                        config.db_statement_timeout_ms, "customer, public"});
    msp::auth::TokenVerifier verifier(config.jwt);

    const std::string free_mail_flag = absl::GetFlag(FLAGS_free_mail_domains);
    msp::customer::FreeMailDomains free_mail =
        free_mail_flag.empty() ? msp::customer::FreeMailDomains()
                               : msp::customer::FreeMailDomains(
                                     absl::StrSplit(free_mail_flag, ',', absl::SkipWhitespace()));

    msp::HostOptions options{"customer", config.server};
    options.error_domain = "customer.msp.v1";
    options.health_services = {"msp.customer.v1.CustomerService", "msp.customer.v1.BulkJobService"};
    msp::ServiceHost host(options);
    host.SetReadiness(msp::DatabaseReadiness(&pool, &host.metrics()));
    // One tenant cannot take the service's threads and connections from the others; its limits
    // hold for all the replicas together.
    const auto limiter = msp::TenantLimiterFromFlags(options.service_name, config.redis_address,
                                                     config.server.listen_address, &host.metrics());
    msp::RpcRuntime runtime(options.error_domain, &verifier,
                            msp::customer::CustomerServiceImpl::Policy().Include(
                                msp::customer::BulkJobServiceImpl::Policy()),
                            &host.metrics(), limiter.get());
    msp::pg::StatementPipeline reader({config.database_url, absl::GetFlag(FLAGS_db_read_threads),
                                       config.db_statement_timeout_ms, "customer, public"});
    msp::pg::StatementPipeline::Options writer_options{
        config.database_url, absl::GetFlag(FLAGS_db_write_threads), config.db_statement_timeout_ms,
        "customer, public"};
    writer_options.group_commit = true;
    msp::pg::StatementPipeline writer(writer_options);
    const msp::auth::ServiceToken service_token =
        msp::ServiceTokenFromConfig(config, msp::identity::kCustomer);
    msp::AssignmentClient assignments(msp::InternalChannel(absl::GetFlag(FLAGS_assignment_address)),
                                      &service_token);
    // Change events for read models go onto the Redis change stream.
    msp::redis::Client redis(msp::redis::OptionsFromAddress(config.redis_address));
    // Two relays on the one outbox: change events (a read and an XADD a batch) do not queue
    // behind service assignments (a call a batch, retried until done). A claim takes whatever is
    // due, up to 256: batches grow with the backlog (new customers' services go out a batch per
    // MSP and admin, BatchAssignServices).
    msp::outbox::RelayOptions relay_options = msp::outbox::RelayOptionsFromFlags();
    relay_options.parallelism = absl::GetFlag(FLAGS_outbox_parallelism);
    relay_options.batch_size = 256;
    msp::outbox::TopicHandler account_setup;
    account_setup.one = msp::customer::AccountSetupHandler(
        msp::InternalChannel(absl::GetFlag(FLAGS_onboarding_address)), &service_token);
    msp::outbox::Relay relay(&pool,
                             std::map<std::string, msp::outbox::TopicHandler>{
                                 {msp::customer::kAssignServicesTopic,
                                  msp::customer::AssignServicesHandler(&assignments, &pool)},
                                 {msp::customer::kAccountSetupTopic, account_setup}},
                             relay_options);
    msp::outbox::Relay events_relay(&pool,
                                    {{msp::customer::kCustomerChangedTopic,
                                      msp::customer::CustomerChangedHandler(&pool, &redis)}},
                                    relay_options);
    relay.Start();
    events_relay.Start();
    msp::customer::CustomerServiceImpl service(
        &pool, &reader, &writer, &runtime, free_mail, &assignments,
        {[&events_relay] { events_relay.Wake(); }, [&relay] { relay.Wake(); }});
    host.AddService(&service);
    // Bulk jobs' rows go through CreateCustomer's write path, on the same pipelines.
    msp::customer::CustomerCreator bulk_creator(
        &writer, &reader,
        [created = &host.metrics().Counter(msp::metric_names::kCustomersCreated,
                                           "Customers created (not retries)")] {
          created->Increment();
        });
    msp::customer::BulkJobRunnerOptions runner_options;
    runner_options.owner = msp::customer::NewBulkJobRunnerOwner();
    runner_options.lease = std::chrono::milliseconds(absl::GetFlag(FLAGS_bulk_job_lease_ms));
    runner_options.rows_in_flight = absl::GetFlag(FLAGS_bulk_rows_in_flight);
    runner_options.progress_interval =
        std::chrono::milliseconds(absl::GetFlag(FLAGS_bulk_progress_interval_ms));
    // Invitation jobs' rows go to the onboarding service, for the admin who ran the job.
    msp::customer::InvitationSender bulk_invitations(
        msp::InternalChannel(absl::GetFlag(FLAGS_onboarding_address)), &service_token);
    msp::customer::BulkJobRunner runner(
        &pool, &bulk_creator, &bulk_invitations, &free_mail, limiter.get(),
        [&events_relay, &relay] {
          events_relay.Wake();
          relay.Wake();
        },
        runner_options);
    msp::customer::BulkJobLimits bulk_limits;
    bulk_limits.max_running_jobs_per_msp = absl::GetFlag(FLAGS_bulk_max_running_jobs);
    msp::customer::BulkJobServiceImpl bulk_jobs(&pool, &runtime, &free_mail, &assignments,
                                                bulk_limits, [&runner] { runner.Wake(); });
    host.AddService(&bulk_jobs);
    // Saved answers for request ids are kept for the retention window, then purged in batches.
    const std::chrono::hours retention(absl::GetFlag(FLAGS_request_id_retention_hours));
    msp::PeriodicTask purge("purge-request-ids", std::chrono::minutes(10), [&pool, retention] {
      msp::idempotency::PurgeExpired(pool, "customer", retention);
    });
    // Ended bulk jobs are kept for their result, then deleted a job at a time.
    const std::chrono::hours job_retention(24 * absl::GetFlag(FLAGS_bulk_job_retention_days));
    msp::PeriodicTask purge_jobs("purge-bulk-jobs", std::chrono::minutes(10),
                                 [&pool, job_retention] {
                                   msp::pg::RunExclusively(pool, "customer:purge-bulk-jobs", [&] {
                                     msp::pg::Lease conn = pool.Acquire();
                                     const msp::customer::BulkJobStore store;
                                     while (store.PurgeOneEnded(*conn, job_retention)) {
                                     }
                                   });
                                 });
    msp::PeriodicTask backlog("outbox-backlog", std::chrono::seconds(5), [&relay, &host] {
      const auto b = relay.CurrentBacklog();  // the whole outbox, both relays' topics
      host.metrics().outbox_pending().Set(static_cast<double>(b.pending));
      host.metrics().outbox_oldest_age().Set(b.oldest_age_seconds);
    });
    return host.Run();
  } catch (const std::exception& e) {
    msp::log::Error("customer service failed to start", {{"error", e.what()}});
    return 1;
  }
}
