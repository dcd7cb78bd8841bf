// The service-assignment binary: flags (or MSP_* environment variables), migrations, serve.
#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "assignment_service.h"
#include "change_event_relay.h"
#include "msp/common/channels.h"
#include "msp/common/config.h"
#include "msp/common/idempotency.h"
#include "msp/common/identities.h"
#include "msp/common/log.h"
#include "msp/common/periodic.h"
#include "msp/common/server.h"
#include "msp/common/startup.h"
#include "msp/common/tenant_limiter.h"

ABSL_FLAG(std::string, customer_address, "127.0.0.1:50051", "the customer service host:port");
ABSL_FLAG(std::string, console_return_origins, "https://msp.samsungknox.com,http://localhost:8080",
          "comma-separated origins \"Return to MSP Portal\" may lead to");
ABSL_FLAG(std::string, console_uris, "",
          "comma-separated service-id=URL console overrides (knox-manage=https://...)");
ABSL_FLAG(int, launch_token_ttl_s, 120, "how long a console launch token is valid");
ABSL_FLAG(int, request_id_retention_hours, 7 * 24,
          "how long a request_id's first answer is kept for retries");

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  try {
    const msp::CommonConfig config = msp::CommonConfigFromFlags("service-assignment");
    msp::MigrateAtStartup(config.database_url, "assignment",
                          msp::assignment::AssignmentSchemaMigrations(), std::chrono::seconds(60));
    msp::pg::Pool pool({config.database_url, config.db_pool_size, std::chrono::milliseconds(2000),
                        config.db_statement_timeout_ms, "assignment, public"});
    msp::auth::TokenVerifier verifier(config.jwt);
    const msp::auth::ServiceToken service_token =
        msp::ServiceTokenFromConfig(config, msp::identity::kServiceAssignment);

    std::map<std::string, std::string> console_overrides;
    for (absl::string_view entry :
         absl::StrSplit(absl::GetFlag(FLAGS_console_uris), ',', absl::SkipWhitespace())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
      console_overrides[kv.first] = kv.second;
    }
    msp::assignment::ConsoleLaunchSettings console{
        msp::assignment::ReturnUriPolicy(absl::StrSplit(absl::GetFlag(FLAGS_console_return_origins),
                                                        ',', absl::SkipWhitespace())),
        msp::assignment::ConsoleDirectory(std::move(console_overrides)),
        msp::auth::TokenIssuer(config.jwt.algorithm, config.jwt_signing_key, config.jwt.issuer,
                               "knox-console"),
        std::chrono::seconds(absl::GetFlag(FLAGS_launch_token_ttl_s))};

    msp::assignment::GrpcCustomerDirectory customers(
        msp::InternalChannel(absl::GetFlag(FLAGS_customer_address)), &service_token);

    msp::HostOptions options{"service-assignment", config.server};
    options.error_domain = "assignment.msp.v1";
    options.health_services = {"msp.assignment.v1.ServiceAssignmentService"};
    msp::ServiceHost host(options);
    host.SetReadiness(msp::DatabaseReadiness(&pool, &host.metrics()));
    // One tenant cannot take the service's threads and connections from the others; its limits
    // hold for all the replicas together.
    const auto limiter = msp::TenantLimiterFromFlags(options.service_name, config.redis_address,
                                                     config.server.listen_address, &host.metrics());
    msp::RpcRuntime runtime(options.error_domain, &verifier,
                            msp::assignment::ServiceAssignmentImpl::Policy(), &host.metrics(),
                            limiter.get());
    // Change events for read models: written by a trigger with every change of services,
    // published onto the Redis change stream by the relay.
    msp::redis::Client redis(msp::redis::OptionsFromAddress(config.redis_address));
    msp::outbox::RelayOptions relay_options = msp::outbox::RelayOptionsFromFlags();
    relay_options.parallelism = 4;
    msp::outbox::TopicHandler services_changed;
    services_changed.batch = msp::assignment::ServicesChangedHandler(&pool, &redis);
    msp::outbox::TopicHandler customer_events;
    customer_events.one = msp::assignment::CustomerEventHandler(&customers);
    relay_options.batch_size = 256;  // change events go out a batch a claim
    msp::outbox::Relay relay(&pool,
                             std::map<std::string, msp::outbox::TopicHandler>{
                                 {msp::assignment::kServicesChangedTopic, services_changed},
                                 {msp::assignment::kCustomerEventsTopic, customer_events}},
                             relay_options);
    relay.Start();
    msp::PeriodicTask backlog("outbox-backlog", std::chrono::seconds(5), [&relay, &host] {
      const auto b = relay.CurrentBacklog();
      host.metrics().outbox_pending().Set(static_cast<double>(b.pending));
      host.metrics().outbox_oldest_age().Set(b.oldest_age_seconds);
    });
    msp::assignment::ServiceAssignmentImpl service(&pool, &runtime, &customers, std::move(console),
                                                   &relay);
    host.AddService(&service);
    const std::chrono::hours retention(absl::GetFlag(FLAGS_request_id_retention_hours));
    msp::PeriodicTask purge("purge-request-ids", std::chrono::minutes(10), [&pool, retention] {
      msp::idempotency::PurgeExpired(pool, "service-assignment", retention);
    });
    return host.Run();
  } catch (const std::exception& e) {
    msp::log::Error("service-assignment failed to start", {{"error", e.what()}});
    return 1;
  }
}
