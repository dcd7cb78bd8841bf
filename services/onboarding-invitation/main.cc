// The onboarding-invitation binary: flags (or MSP_* environment variables), migrations, serve.
#include "absl/flags/flag.h"
#include "invitation_relay.h"
#include "msp/common/channels.h"
#include "msp/common/config.h"
#include "msp/common/identities.h"
#include "msp/common/log.h"
#include "msp/common/periodic.h"
#include "msp/common/server.h"
#include "msp/common/startup.h"
#include "msp/common/tenant_limiter.h"
#include "onboarding_service.h"

ABSL_FLAG(std::string, customer_address, "127.0.0.1:50051", "the customer service host:port");
ABSL_FLAG(std::string, assignment_address, "127.0.0.1:50052",
          "the service-assignment service host:port");
ABSL_FLAG(std::string, mail_url, "maildir:.local/mail",
          "where emails go: smtp://host:port, smtps://host:port or maildir:/path");
ABSL_FLAG(std::string, smtp_username, "", "SMTP login (with smtp_password_file)");
ABSL_FLAG(std::string, smtp_password_file, "", "file holding the SMTP password");
ABSL_FLAG(bool, smtp_require_starttls, false, "refuse to send unless STARTTLS succeeds");
ABSL_FLAG(std::string, mail_from, "noreply@msp-portal.example", "the emails' From address");
ABSL_FLAG(std::string, portal_url, "http://localhost:8080",
          "where the customer's accept / reject links lead");
ABSL_FLAG(std::string, msp_notify_address, "msp-{msp}@msp-portal.example",
          "where an MSP is told how its delink requests ended ({msp}: the MSP id)");
ABSL_FLAG(int, delink_link_ttl_hours, 30 * 24, "how long a delink email's link works");
ABSL_FLAG(int, invitation_ttl_hours, 7 * 24, "how long an invitation stays PENDING");
ABSL_FLAG(int, resend_min_interval_s, 300, "an invitation email at most once per this");
ABSL_FLAG(int, resend_max_per_day, 10, "invitation emails per invitation and day at most");
ABSL_FLAG(
    int, recipient_email_burst, 3,
    "emails MSPs may have sent to one customer's admin within recipient_email_burst_window_s");
ABSL_FLAG(int, recipient_email_burst_window_s, 600, "see recipient_email_burst");
ABSL_FLAG(int, recipient_emails_per_day, 10,
          "emails MSPs may have sent to one customer's admin in a rolling day, all invitations and "
          "delink requests together");
ABSL_FLAG(int, remind_before_hours, 24, "the reminder email goes this long before expiry");
ABSL_FLAG(int, sweep_interval_s, 30, "how often expiry and half-made invitations are handled");

int main(int argc, char** argv) {
  msp::BlockTerminationSignals();
  msp::ParseFlagsWithEnvFallback(argc, argv);
  try {
    const msp::CommonConfig config = msp::CommonConfigFromFlags("onboarding-invitation");
    msp::MigrateAtStartup(config.database_url, "onboarding",
                          msp::onboarding::OnboardingSchemaMigrations(), std::chrono::seconds(60));
    msp::pg::Pool pool({config.database_url, config.db_pool_size, std::chrono::milliseconds(2000),
                        config.db_statement_timeout_ms, "onboarding, public"});
    msp::auth::TokenVerifier verifier(config.jwt);
    const msp::auth::ServiceToken service_token =
        msp::ServiceTokenFromConfig(config, msp::identity::kOnboardingInvitation);
    msp::redis::Client redis(msp::redis::OptionsFromAddress(config.redis_address));
    msp::onboarding::LinkTokens tokens(&redis, {});
    // The emails' tokens over a connection of their own: issuing one waits until a replica holds
    // it (redis::WriteReplicated), and the calls' token checks should not wait behind that.
    msp::redis::Client relay_redis(msp::redis::OptionsFromAddress(config.redis_address));
    msp::onboarding::LinkTokens relay_tokens(&relay_redis, {});

    msp::HostOptions options{"onboarding-invitation", config.server};
    options.error_domain = "onboarding.msp.v1";
    options.health_services = {"msp.onboarding.v1.OnboardingService"};
    msp::ServiceHost host(options);
    const std::string password_file = absl::GetFlag(FLAGS_smtp_password_file);
    auto mailer = std::make_unique<msp::mail::CountingMailer>(
        msp::mail::MailerFromUrl(absl::GetFlag(FLAGS_mail_url), absl::GetFlag(FLAGS_smtp_username),
                                 password_file.empty() ? "" : msp::auth::ReadKeyFile(password_file),
                                 absl::GetFlag(FLAGS_smtp_require_starttls)),
        &host.metrics().Counter(msp::metric_names::kEmailsSent, "Emails sent"),
        &host.metrics().Counter(msp::metric_names::kEmailsFailed,
                                "Emails that failed to send (each is retried)"));
    msp::onboarding::EmailSettings email;
    email.from = absl::GetFlag(FLAGS_mail_from);
    email.portal_url = absl::GetFlag(FLAGS_portal_url);
    email.msp_notify_address = absl::GetFlag(FLAGS_msp_notify_address);
    email.delink_link_ttl = std::chrono::hours(absl::GetFlag(FLAGS_delink_link_ttl_hours));

    msp::onboarding::CustomerLinks customers(
        msp::InternalChannel(absl::GetFlag(FLAGS_customer_address)), &service_token);
    msp::AssignmentClient assignments(msp::InternalChannel(absl::GetFlag(FLAGS_assignment_address)),
                                      &service_token);
    msp::outbox::RelayOptions relay_options = msp::outbox::RelayOptionsFromFlags();
    msp::outbox::Relay relay(
        &pool,
        {{msp::onboarding::kInvitationEmailTopic,
          msp::onboarding::InvitationEmailHandler(
              &pool, &relay_tokens, mailer.get(), email,
              &host.metrics().Counter(msp::metric_names::kInvitationsSent,
                                      "Invitation emails sent (reminders included)"))},
         {msp::onboarding::kAssignServicesTopic,
          msp::onboarding::AssignInvitedServicesHandler(&assignments)},
         {msp::onboarding::kEndServicesTopic,
          msp::onboarding::EndDelinkedServicesHandler(&assignments)},
         {msp::onboarding::kDelinkNoticeTopic,
          msp::onboarding::DelinkNoticeHandler(&pool, mailer.get(), email)}},
        relay_options);
    relay.Start();

    msp::onboarding::OnboardingSettings settings;
    settings.invitation_ttl = std::chrono::hours(absl::GetFlag(FLAGS_invitation_ttl_hours));
    settings.resend.min_interval = std::chrono::seconds(absl::GetFlag(FLAGS_resend_min_interval_s));
    settings.resend.max_per_day = absl::GetFlag(FLAGS_resend_max_per_day);
    settings.recipient.burst = absl::GetFlag(FLAGS_recipient_email_burst);
    settings.recipient.burst_window =
        std::chrono::seconds(absl::GetFlag(FLAGS_recipient_email_burst_window_s));
    settings.recipient.per_day = absl::GetFlag(FLAGS_recipient_emails_per_day);
    settings.remind_before = std::chrono::hours(absl::GetFlag(FLAGS_remind_before_hours));

    host.SetReadiness(msp::DatabaseReadiness(&pool, &host.metrics()));
    // One tenant cannot take the service's threads and connections from the others; its limits
    // hold for all the replicas together.
    const auto limiter = msp::TenantLimiterFromFlags(options.service_name, config.redis_address,
                                                     config.server.listen_address, &host.metrics());
    msp::RpcRuntime runtime(options.error_domain, &verifier,
                            msp::onboarding::OnboardingServiceImpl::Policy(), &host.metrics(),
                            limiter.get());
    msp::onboarding::OnboardingServiceImpl service(&pool, &runtime, &customers, &assignments,
                                                   &tokens, &relay, settings);
    host.AddService(&service);
    msp::PeriodicTask sweep("sweep-invitations",
                            std::chrono::seconds(absl::GetFlag(FLAGS_sweep_interval_s)),
                            [&service, &pool] {
                              // One replica at a time: the others skip the round.
                              msp::pg::RunExclusively(pool, "onboarding-invitation:sweep",
                                                      [&service] { service.Sweep(); });
                            });
    msp::PeriodicTask backlog("outbox-backlog", std::chrono::seconds(5), [&relay, &host] {
      const auto b = relay.CurrentBacklog();
      host.metrics().outbox_pending().Set(static_cast<double>(b.pending));
      host.metrics().outbox_oldest_age().Set(b.oldest_age_seconds);
    });
    return host.Run();
  } catch (const std::exception& e) {
    msp::log::Error("onboarding-invitation failed to start", {{"error", e.what()}});
    return 1;
  }
}
