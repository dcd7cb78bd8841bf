#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <vector>

// Sending email: an SMTP client on libcurl (STARTTLS and login optional), and a maildir writer
// for local development, behind one interface. Messages carry a Message-ID chosen by the
// caller (derived from the outbox message), so a duplicate sent after a crash is recognisable.
namespace msp::mail {

struct Email {
  std::string from;        // bare address: noreply@msp.example
  std::string from_name;   // display name, optional
  std::string to;          // bare address
  std::string subject;     // UTF-8
  std::string text_body;   // UTF-8, lines separated by \n
  std::string message_id;  // without angle brackets: <local>@<domain> becomes local@domain
};

// Throws std::invalid_argument for addresses or headers that could inject other headers or
// recipients (CR, LF, NUL, angle brackets, several @).
void CheckEmail(const Email& email);

// The message as sent on the wire: RFC 5322 headers (Subject RFC 2047-encoded when not ASCII),
// a UTF-8 text/plain body in quoted-printable, CRLF line ends. `date` is the Date header.
std::string Render(const Email& email, std::chrono::system_clock::time_point date);

class Mailer {
 public:
  virtual ~Mailer() = default;
  // Sends or throws std::runtime_error (the outbox relay retries).
  virtual void Send(const Email& email) = 0;
};

struct SmtpSettings {
  std::string url;  // smtp://host:port or smtps://host:port
  std::string username;
  std::string password;
  bool require_starttls = false;  // refuse to send over a connection that did not upgrade
  std::chrono::milliseconds timeout{10000};
};

class SmtpMailer final : public Mailer {
 public:
  explicit SmtpMailer(SmtpSettings settings);
  void Send(const Email& email) override;

 private:
  SmtpSettings settings_;
};

// Delivers into a maildir (tmp/ then rename into new/), which mail readers and tests open.
class MaildirMailer final : public Mailer {
 public:
  explicit MaildirMailer(std::string directory);
  void Send(const Email& email) override;

 private:
  std::string directory_;
};

// Counts what another mailer sends and fails to send (msp_emails_sent_total,
// msp_emails_failed_total); a failure still throws, for the relay to retry.
class CountingMailer : public Mailer {
 public:
  CountingMailer(std::unique_ptr<Mailer> inner, prometheus::Counter* sent,
                 prometheus::Counter* failed)
      : inner_(std::move(inner)), sent_(sent), failed_(failed) {}
  void Send(const Email& email) override;

 private:
  std::unique_ptr<Mailer> inner_;
  prometheus::Counter* sent_;
  prometheus::Counter* failed_;
};

// "smtp://..." / "smtps://..." -> SmtpMailer, "maildir:/path" -> MaildirMailer.
std::unique_ptr<Mailer> MailerFromUrl(const std::string& url, const std::string& username = "",
                                      const std::string& password = "",
                                      bool require_starttls = false);

}  // namespace msp::mail
