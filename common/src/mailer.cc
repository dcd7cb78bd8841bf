#include "msp/common/mailer.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "msp/common/host.h"

namespace msp::mail {
namespace {

bool HasControl(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

void CheckAddress(const std::string& field, const std::string& address) {
  const auto at = address.find('@');
  if (address.empty() || HasControl(address) || at == std::string::npos || at == 0 ||
      at + 1 == address.size() || address.find('@', at + 1) != std::string::npos ||
      address.find_first_of("<>,;\" ") != std::string::npos) {
    throw std::invalid_argument(field + " is not a single bare address");
  }
}

bool IsAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 2047 "encoded-word" for a header value that is not plain ASCII.
std::string EncodeHeader(const std::string& value) {
  if (IsAscii(value)) return value;
  return absl::StrCat("=?UTF-8?B?", absl::Base64Escape(value), "?=");
}

// Quoted-printable (RFC 2045) with CRLF line ends and soft breaks before 76 characters.
std::string QuotedPrintable(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t line_len = 0;
  auto emit = [&](const std::string& piece) {
    if (line_len + piece.size() > 75) {
      out += "=\r\n";
      line_len = 0;
    }
    out += piece;
    line_len += piece.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      // Trailing spaces before a line break must be encoded.
      if (!out.empty() && (out.back() == ' ' || out.back() == '\t')) {
        const char last = out.back();
        out.pop_back();
        --line_len;
        emit(std::string("=") + kHex[last >> 4] + kHex[last & 15]);
      }
      out += "\r\n";
      line_len = 0;
    } else if (c == '\r') {
      continue;
    } else if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
      // A line starting with "." is safe: libcurl dot-stuffs the SMTP data.
      emit(std::string(1, static_cast<char>(c)));
    } else {
      emit(std::string("=") + kHex[c >> 4] + kHex[c & 15]);
    }
  }
  return out;
}

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->data->size() - upload->offset);
  std::memcpy(buffer, upload->data->data() + upload->offset, n);
  upload->offset += n;
  return n;
}

}  // namespace

void CheckEmail(const Email& email) {
  CheckAddress("from", email.from);
  CheckAddress("to", email.to);
  if (HasControl(email.subject) || HasControl(email.from_name)) {
    throw std::invalid_argument("header values must be one line");
  }
  if (email.message_id.empty() || HasControl(email.message_id) ||
      email.message_id.find_first_of("<> ") != std::string::npos ||
      email.message_id.find('@') == std::string::npos) {
    throw std::invalid_argument("message_id must be local@domain");
  }
}

namespace {

// Plain 7-bit text needs no encoding (and stays readable in a maildir file): ASCII, lines of
// at most 998 characters.
bool Is7BitText(const std::string& text) {
  size_t line = 0;
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\0') return false;
    line = c == '\n' ? 0 : line + 1;
    if (line > 998) return false;
  }
  return true;
}

std::string CrlfLines(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace

std::string Render(const Email& email, std::chrono::system_clock::time_point date) {
  CheckEmail(email);
  const bool plain = Is7BitText(email.text_body);
  const std::string from =
      email.from_name.empty()
          ? email.from
          : absl::StrCat(EncodeHeader(absl::StrReplaceAll(email.from_name, {{"\"", ""}})), " <",
                         email.from, ">");
  return absl::StrCat(
      "Date: ",
      absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::FromChrono(date), absl::UTCTimeZone()),
      "\r\n", "From: ", from, "\r\n", "To: ", email.to, "\r\n",
      "Subject: ", EncodeHeader(email.subject), "\r\n", "Message-ID: <", email.message_id, ">\r\n",
      "MIME-Version: 1.0\r\n", "Content-Type: text/plain; charset=utf-8\r\n",
      "Content-Transfer-Encoding: ", plain ? "7bit" : "quoted-printable", "\r\n", "\r\n",
      plain ? CrlfLines(email.text_body) : QuotedPrintable(email.text_body), "\r\n");
}

SmtpMailer::SmtpMailer(SmtpSettings settings) : settings_(std::move(settings)) {
  static const bool initialised = [] {
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  }();
  if (!initialised) throw std::runtime_error("curl_global_init failed");
}

void SmtpMailer::Send(const Email& email) {
  const std::string message = Render(email, std::chrono::system_clock::now());
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  char error[CURL_ERROR_SIZE] = {0};
  Upload upload{&message};
  const std::string from = absl::StrCat("<", email.from, ">");
  const std::string to = absl::StrCat("<", email.to, ">");
  curl_slist* recipients = curl_slist_append(nullptr, to.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> recipients_guard(recipients,
                                                                               curl_slist_free_all);
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, settings_.url.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
  if (settings_.require_starttls) curl_easy_setopt(h, CURLOPT_USE_SSL, CURLUSESSL_ALL);
  if (!settings_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  const CURLcode code = curl_easy_perform(h);
  if (code != CURLE_OK) {
    throw std::runtime_error(absl::StrCat("SMTP send failed: ", curl_easy_strerror(code),
                                          error[0] ? absl::StrCat(": ", error) : ""));
  }
}

MaildirMailer::MaildirMailer(std::string directory) : directory_(std::move(directory)) {
  for (const char* sub : {"tmp", "new", "cur"}) {
    std::filesystem::create_directories(std::filesystem::path(directory_) / sub);
  }
}

void MaildirMailer::Send(const Email& email) {
  static std::atomic<uint64_t> sequence{0};
  const std::string message = Render(email, std::chrono::system_clock::now());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  // Maildir's time.unique.host: replicas in containers share pid 1, so the host name (the pod's)
  // keeps two writers to one shared maildir apart.
  std::string host = HostName();
  if (host.empty()) host = "msp";
  const std::string name =
      absl::StrCat(std::chrono::duration_cast<std::chrono::microseconds>(now).count(), ".",
                   ::getpid(), "_", sequence.fetch_add(1), ".", host);
  const auto tmp = std::filesystem::path(directory_) / "tmp" / name;
  {
    std::ofstream out(tmp, std::ios::binary);
    out << message;
    out.flush();
    if (!out) throw std::runtime_error("could not write " + tmp.string());
  }
  std::filesystem::rename(tmp, std::filesystem::path(directory_) / "new" / name);
}

std::unique_ptr<Mailer> MailerFromUrl(const std::string& url, const std::string& username,
                                      const std::string& password, bool require_starttls) {
  if (absl::StartsWith(url, "maildir:")) {
    return std::make_unique<MaildirMailer>(url.substr(std::string("maildir:").size()));
  }
  if (absl::StartsWith(url, "smtp://") || absl::StartsWith(url, "smtps://")) {
    return std::make_unique<SmtpMailer>(
        SmtpSettings{url, username, password, require_starttls, std::chrono::milliseconds(10000)});
  }
  throw std::invalid_argument("mail URL must be smtp://, smtps:// or maildir:/path: " + url);
}

void CountingMailer::Send(const Email& email) {
  try {
    inner_->Send(email);
  } catch (...) {
    failed_->Increment();
    throw;
  }
  sent_->Increment();
}

}  // namespace msp::mail
