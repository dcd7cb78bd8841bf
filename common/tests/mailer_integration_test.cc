// The mailer against a real SMTP server (python3-aiosmtpd on loopback) and a maildir.
#include "msp/common/mailer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "processes.h"

namespace msp::mail {
namespace {

Email Sample(const std::string& id) {
  Email e;
  e.from = "noreply@msp.example";
  e.from_name = "Acme IT Services";
  e.to = "admin@contoso.example";
  e.subject = "Einladung von Acme – bitte bestätigen";
  e.text_body =
      "Hello,\n\nAccept: https://portal.example/invitations/abc?token=Zm9vYmFy&x=1\n"
      ".a line starting with a dot\nTrailing space \n" +
      std::string(120, 'x') + "\n";
  e.message_id = id + "@msp.example";
  return e;
}

TEST(Mailer, SendsOverSmtpWithHeadersTheRecipientAndAnIntactBody) {
  testing::SmtpSink sink;
  SmtpMailer mailer({sink.url(), "", "", false, std::chrono::milliseconds(5000)});
  mailer.Send(Sample("invitation-1"));
  const auto messages = sink.WaitForMessages(1, std::chrono::seconds(10));
  ASSERT_EQ(messages.size(), 1u);
  const std::string& m = messages[0];
  EXPECT_NE(m.find("X-RcptTo: admin@contoso.example"), std::string::npos) << m;
  EXPECT_NE(m.find("X-MailFrom: noreply@msp.example"), std::string::npos) << m;
  EXPECT_NE(m.find("Message-ID: <invitation-1@msp.example>"), std::string::npos) << m;
  EXPECT_NE(m.find("Subject: =?UTF-8?B?"), std::string::npos) << m;
  const std::string body = testing::EmailBody(m);
  EXPECT_NE(body.find("https://portal.example/invitations/abc?token=Zm9vYmFy&x=1"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("\n.a line starting with a dot"), std::string::npos) << body;
  EXPECT_NE(body.find(std::string(120, 'x')), std::string::npos) << body;
}

TEST(Mailer, NonAsciiBodiesTravelQuotedPrintable) {
  testing::SmtpSink sink;
  SmtpMailer mailer({sink.url(), "", "", false, std::chrono::milliseconds(5000)});
  auto email = Sample("umlaut-1");
  email.text_body = "Grüße aus Köln,\nlink: https://portal.example/x?a=1&token=AB12\n";
  mailer.Send(email);
  const auto messages = sink.WaitForMessages(1, std::chrono::seconds(10));
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  const std::string body = testing::EmailBody(messages[0]);
  EXPECT_NE(body.find("Grüße aus Köln"), std::string::npos) << body;
  EXPECT_NE(body.find("?a=1&token=AB12"), std::string::npos) << body;
}

TEST(Mailer, AnUnreachableServerIsAnErrorToRetry) {
  const int port = testing::FreePort();
  SmtpMailer mailer(
      {"smtp://127.0.0.1:" + std::to_string(port), "", "", false, std::chrono::milliseconds(2000)});
  EXPECT_THROW(mailer.Send(Sample("unreachable")), std::runtime_error);
}

TEST(Mailer, StartTlsRequiredRefusesAPlainServer) {
  testing::SmtpSink sink;  // offers no STARTTLS
  SmtpMailer mailer({sink.url(), "", "", true, std::chrono::milliseconds(5000)});
  EXPECT_THROW(mailer.Send(Sample("plain")), std::runtime_error);
  EXPECT_TRUE(sink.Messages().empty());
}

TEST(Mailer, RefusesHeaderInjection) {
  auto e = Sample("inject");
  e.subject = "Hi\r\nBcc: victim@example.com";
  EXPECT_THROW(CheckEmail(e), std::invalid_argument);
  e = Sample("inject");
  e.to = "a@example.com, b@example.com";
  EXPECT_THROW(CheckEmail(e), std::invalid_argument);
  e = Sample("inject");
  e.to = "a@example.com>\r\nRCPT TO:<b@example.com";
  EXPECT_THROW(CheckEmail(e), std::invalid_argument);
  e = Sample("inject");
  e.message_id = "no-domain";
  EXPECT_THROW(CheckEmail(e), std::invalid_argument);
}

TEST(Mailer, MaildirDeliveryIsOneCompleteFilePerMessage) {
  testing::TempDir dir;
  auto mailer = MailerFromUrl("maildir:" + dir.path() + "/mail");
  mailer->Send(Sample("local-1"));
  mailer->Send(Sample("local-2"));
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(dir.path()) / "mail" / "new")) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("Message-ID: <local-"), std::string::npos);
    ++files;
  }
  EXPECT_EQ(files, 2);
  EXPECT_TRUE(std::filesystem::is_empty(std::filesystem::path(dir.path()) / "mail" / "tmp"));
  EXPECT_THROW(MailerFromUrl("ftp://x"), std::invalid_argument);
}

}  // namespace
}  // namespace msp::mail
