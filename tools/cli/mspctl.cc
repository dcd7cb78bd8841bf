// mspctl: the suite for a person at a terminal. Commands name what they do; answers print as
// tables (or proto3 JSON with --json); errors print their code, reason and every field
// violation. Configuration from flags or MSP_* environment variables (MSP_TOKEN, MSP_HOST, ...).
//
// Exit status: 0 done; 1 the service refused (an error answer); 2 usage; 3 the service could
// not be reached or did not answer in time.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/error_details.h>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bulk_import.h"
#include "connection.h"
#include "display_width.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "msp/assignment/v1/service_assignment.grpc.pb.h"
#include "msp/common/config.h"
#include "msp/common/knox_services.h"
#include "msp/common/metrics.h"
#include "msp/customer/v1/bulk_jobs.grpc.pb.h"
#include "msp/customer/v1/customer.grpc.pb.h"
#include "msp/onboarding/v1/onboarding.grpc.pb.h"
#include "msp/reporting/v1/reporting.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "proto_json.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "where the services run (ports 50051..50054)");
ABSL_FLAG(std::string, customer_address, "", "customer service host:port (default host:50051)");
ABSL_FLAG(std::string, assignment_address, "", "service-assignment host:port (default host:50052)");
ABSL_FLAG(std::string, onboarding_address, "", "onboarding service host:port (default host:50053)");
ABSL_FLAG(std::string, reporting_address, "", "reporting service host:port (default host:50054)");
ABSL_FLAG(std::string, token, "", "bearer token of an MSP admin (MSP_TOKEN)");
ABSL_FLAG(std::string, msp, "", "the MSP (default: the token's)");
ABSL_FLAG(bool, json, false, "print answers as proto3 JSON (the same as -o json)");
ABSL_FLAG(std::string, output, "table",
          "-o: table (aligned columns), json (the API's answer, every field), yaml (the same as "
          "YAML) or csv (the table's rows as CSV)");
ABSL_FLAG(int, timeout_s, 30, "deadline of each call");
// grpcurl's connection flags (mspctl speaks plaintext to the local suite unless one of the TLS
// flags is given).
ABSL_FLAG(bool, plaintext, false, "plaintext, no TLS");
ABSL_FLAG(bool, insecure, false, "TLS without checking the server's certificate");
ABSL_FLAG(std::string, cacert, "", "CA bundle (PEM) that verifies the servers: TLS");
ABSL_FLAG(std::string, cert, "", "client certificate (PEM), for mutual TLS");
ABSL_FLAG(std::string, key, "", "the client certificate's private key (PEM)");
ABSL_FLAG(std::string, authority, "",
          "the :authority of the calls, and the name the server's certificate must have");
// Command options.
ABSL_FLAG(std::string, name, "", "company name");
ABSL_FLAG(std::string, size, "",
          "company size: COMPANY_SIZE_0_19, COMPANY_SIZE_20_99, COMPANY_SIZE_100_249, "
          "COMPANY_SIZE_250_499, COMPANY_SIZE_500_999 or COMPANY_SIZE_1000_PLUS");
ABSL_FLAG(std::string, industries, "", "comma-separated Industry values (e.g. MANUFACTURING)");
ABSL_FLAG(std::string, country, "", "ISO 3166-1 alpha-2 country code");
ABSL_FLAG(std::string, address1, "", "address line 1");
ABSL_FLAG(std::string, address2, "", "address line 2");
ABSL_FLAG(std::string, city, "", "city");
ABSL_FLAG(std::string, state, "", "state or region");
ABSL_FLAG(std::string, zip, "", "ZIP code");
ABSL_FLAG(std::string, website, "", "website URL");
ABSL_FLAG(std::string, first_name, "", "contact first name");
ABSL_FLAG(std::string, last_name, "", "contact last name");
ABSL_FLAG(std::string, email, "", "contact work email");
ABSL_FLAG(std::string, phone, "", "contact phone");
ABSL_FLAG(std::string, job_title, "", "contact job title");
ABSL_FLAG(bool, jointly, false, "jointly managed (default fully managed)");
ABSL_FLAG(std::string, services, "",
          "comma-separated Knox services (knox-manage, KNOX_GUARD, ...)");
ABSL_FLAG(std::string, tenant_prefix, "", "Knox Manage tenant id prefix");
ABSL_FLAG(std::string, request_id, "",
          "a write's request id (default: a new one each run); the same id makes a repeated "
          "write return the first answer");
ABSL_FLAG(std::string, context, "",
          "the config file's context to use (default: its current_context)");
ABSL_FLAG(std::string, config, "",
          "the config file (default: $XDG_CONFIG_HOME/mspctl/config.json, else "
          "~/.config/mspctl/config.json)");
ABSL_FLAG(bool, all, false, "list and table show: every page, not only the first");
ABSL_FLAG(bool, local, false, "times in the local time zone (default: UTC), RFC 3339 either way");
ABSL_FLAG(bool, verbose, false, "print each write's request id and each retry on stderr");
ABSL_FLAG(std::string, filter, "", "list filter, e.g. 'state = PENDING'");
ABSL_FLAG(std::string, order_by, "",
          "sort key, optionally followed by desc: name, created, modified, customer_id (customers "
          "list and table show), service_status, management_type, total_devices, msp_linked "
          "(table show)");
ABSL_FLAG(std::string, search, "", "search text");
ABSL_FLAG(int, page_size, 0, "rows a page (0: the service's default)");
ABSL_FLAG(std::string, page_token, "", "the page to show (from a previous page)");
ABSL_FLAG(std::string, columns, "", "comma-separated table columns (NAME, CREATED, ...)");
ABSL_FLAG(std::string, out, "", "export: the file to write ('-': standard output)");
ABSL_FLAG(bool, dry_run, false, "customers|invitations import: check the file, write nothing");
ABSL_FLAG(std::string, result, "",
          "customers|invitations import: where the result CSV goes (default: FILE's name with "
          ".result.csv)");
ABSL_FLAG(std::string, return_uri, "http://localhost:8080/customers",
          "services launch: where the console returns to");

namespace {

namespace cv1 = msp::customer::v1;
namespace av1 = msp::assignment::v1;
namespace ov1 = msp::onboarding::v1;
namespace rv1 = msp::reporting::v1;

constexpr int kRefused = 1;
constexpr int kUsage = 2;
constexpr int kUnreachable = 3;

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* const kHelp = R"(usage: mspctl [flags] COMMAND ...
  customers add --name N --size S --industries I,.. --country CC --address1 A --city C
                --state S --zip Z --first_name F --last_name L --email E --phone P
                [--address2 --website --job_title --jointly --services a,b --tenant_prefix]
  customers get ID | list [--filter --order_by --search --page_size --all] | events ID
                --order_by name|created|modified|customer_id [desc]
                --filter 'state = ACTIVE AND management_type = JOINTLY_MANAGED'
  customers import FILE [--dry-run] [--result RESULT.csv]   (docs/bulk-import.md)
  customers update ID [--name --size --industries --country --address1 --address2 --city
                       --state --zip --website --first_name --last_name --email] | upgrade ID
  services assign ID SERVICE... | list ID | launch ID SERVICE [--return_uri U]
  invitations create CUSTOMER_ID [--jointly] --services a,b | resend ID | cancel ID | list
  invitations import FILE [--dry-run] [--result RESULT.csv]   (docs/bulk-import.md)
  delink request ID | resend ID | revoke ID
  table show [--columns --order_by --filter --search --page_size --all] | columns [COLUMN...]
                --order_by name|service_status|customer_id|management_type|total_devices|
                           modified|created|msp_linked [desc]
                --filter 'service = KNOX_MANAGE OR service = KNOX_GUARD' (state, management_type,
                         service)
  export csv --out FILE [--filter --search]
  completion bash|zsh   (source <(mspctl completion bash), or in ~/.zshrc for zsh)
Flags (or MSP_<FLAG> in the environment, or a context of the config file: --context, --config):
--token (MSP_TOKEN), --host, -o table|json|yaml|csv,
--timeout_s,
--verbose, --local (times in the local zone; default UTC). Flags may be kebab-case. A write
sends --request_id (default: a new one) and retries with it when the service is unreachable or
late. A flag the command does not send is refused.
Exit status: 0 done, 1 refused by the service, 2 usage, 3 service unreachable.
)";

// The flags of the request each command sends; any other of them given is refused (exit 2),
// never ignored. Connection and output flags (--token, --json, ...) apply to every command.
const std::map<std::string, std::set<std::string>>& CommandFlags() {
  static const auto* flags = new std::map<std::string, std::set<std::string>>{
      {"customers add",
       {"name", "size", "industries", "country", "address1", "address2", "city", "state", "zip",
        "website", "first_name", "last_name", "email", "phone", "job_title", "jointly", "services",
        "tenant_prefix", "request_id"}},
      {"customers update",
       {"name", "size", "industries", "country", "address1", "address2", "city", "state", "zip",
        "website", "first_name", "last_name", "email", "request_id"}},
      {"customers list", {"filter", "order_by", "search", "page_size", "page_token", "all"}},
      {"customers events", {"page_size"}},
      {"customers upgrade", {"request_id"}},
      {"customers import", {"dry_run", "result", "request_id"}},
      {"services assign", {"request_id", "tenant_prefix"}},
      {"services launch", {"return_uri"}},
      {"invitations create", {"jointly", "services", "request_id", "tenant_prefix"}},
      {"invitations list", {"page_size", "all"}},
      {"invitations import", {"dry_run", "result", "request_id"}},
      {"delink request", {"request_id"}},
      {"table show", {"columns", "filter", "order_by", "search", "page_size", "page_token", "all"}},
      {"export csv", {"out", "filter", "search"}},
  };
  return *flags;
}

// The commands and their verbs, for completion.
const std::vector<std::pair<std::string, std::vector<std::string>>>& Commands() {
  static const auto* commands = new std::vector<std::pair<std::string, std::vector<std::string>>>{
      {"customers", {"add", "get", "list", "update", "upgrade", "events", "import"}},
      {"services", {"assign", "list", "launch"}},
      {"invitations", {"create", "resend", "cancel", "list", "import"}},
      {"delink", {"request", "resend", "revoke"}},
      {"table", {"show", "columns"}},
      {"export", {"csv"}},
      {"completion", {"bash", "zsh"}},
      {"help", {}},
  };
  return *commands;
}

// `mspctl completion bash|zsh`: a completion script made from the command and flag tables, so
// it cannot fall behind them. zsh runs the bash function through bashcompinit.
std::string CompletionScript(const std::string& shell) {
  static const char* kGlobal =
      "--token --msp --host --customer_address --assignment_address --onboarding_address "
      "--reporting_address --json --output --timeout_s --verbose --local --plaintext --insecure "
      "--cacert "
      "--cert --key --authority --context --config --all --help --version";
  std::string out;
  if (shell == "zsh") out += "autoload -U +X bashcompinit && bashcompinit\n";
  out +=
      "_mspctl() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"\" sub=\"\" i w words=\"\"\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=\"${COMP_WORDS[i]}\"\n"
      "    [[ $w == -* ]] && continue\n"
      "    if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi\n"
      "  done\n"
      "  if [[ $cur == -* ]]; then\n"
      "    case \"$cmd $sub\" in\n";
  for (const auto& [command, flags] : CommandFlags()) {
    std::vector<std::string> names;
    for (const auto& f : flags) names.push_back("--" + f);
    out += "      \"" + command + "\") words=\"" + absl::StrJoin(names, " ") + "\" ;;\n";
  }
  out +=
      "    esac\n"
      "    COMPREPLY=($(compgen -W \"$words " +
      std::string(kGlobal) +
      "\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  if [[ -z $cmd ]]; then\n";
  std::vector<std::string> names;
  for (const auto& [command, verbs] : Commands()) names.push_back(command);
  out += "    COMPREPLY=($(compgen -W \"" + absl::StrJoin(names, " ") +
         "\" -- \"$cur\"))\n"
         "  elif [[ -z $sub ]]; then\n"
         "    case $cmd in\n";
  for (const auto& [command, verbs] : Commands()) {
    if (verbs.empty()) continue;
    out += "      " + command + ") COMPREPLY=($(compgen -W \"" + absl::StrJoin(verbs, " ") +
           "\" -- \"$cur\")) ;;\n";
  }
  out +=
      "    esac\n"
      "  fi\n"
      "}\n"
      "complete -F _mspctl mspctl\n";
  return out;
}

// A request field's path as the flag that sets it, for error messages ("company.address.zip_code"
// -> "--zip"); the path itself when no flag sets it.
std::string FlagOfField(const std::string& path) {
  static const auto* flags = new std::map<std::string, std::string>{
      {"company.display_name", "--name"},
      {"company.size", "--size"},
      {"company.industries", "--industries"},
      {"company.country_code", "--country"},
      {"company.address.address_line1", "--address1"},
      {"company.address.address_line2", "--address2"},
      {"company.address.city", "--city"},
      {"company.address.state", "--state"},
      {"company.address.zip_code", "--zip"},
      {"company.website_uri", "--website"},
      {"contact.first_name", "--first_name"},
      {"contact.last_name", "--last_name"},
      {"contact.work_email", "--email"},
      {"contact.phone", "--phone"},
      {"contact.job_title", "--job_title"},
      {"services", "--services"},
      {"knox_manage_tenant_prefix", "--tenant_prefix"},
      {"request_id", "--request_id"},
      {"filter", "--filter"},
      {"order_by", "--order_by"},
      {"page_size", "--page_size"},
      {"page_token", "--page_token"},
  };
  std::string field = path;
  for (const char* prefix : {"customer.", "invitation."}) {
    if (absl::StartsWith(field, prefix)) field = field.substr(std::string(prefix).size());
  }
  const auto it = flags->find(field);
  return it == flags->end() ? path : it->second;
}

std::string Address(const std::string& flag_value, int port) {
  return flag_value.empty() ? absl::StrCat(absl::GetFlag(FLAGS_host), ":", port) : flag_value;
}

// A string claim of a JWT's payload ("" when absent). Not verified here: the services verify
// the token; the CLI only needs to know which MSP and admin it names.
std::string ClaimOfToken(const std::string& token, const std::string& claim) {
  const std::vector<std::string> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return "";
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) return "";
  const std::string key = absl::StrCat("\"", claim, "\":\"");
  const auto at = payload.find(key);
  if (at == std::string::npos) return "";
  const auto start = at + key.size();
  return payload.substr(start, payload.find('"', start) - start);
}

// An enum's values but its UNSPECIFIED one, for usage errors: "A, B or C".
std::string ValuesOf(const google::protobuf::EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) names.push_back(type->value(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

void SetSize(const std::string& value, cv1::Company& company) {
  if (value.empty()) return;
  cv1::CompanySize size;
  if (!cv1::CompanySize_Parse(value, &size) || size == cv1::COMPANY_SIZE_UNSPECIFIED) {
    throw Usage("unknown --size " + value + "; one of " + ValuesOf(cv1::CompanySize_descriptor()));
  }
  company.set_size(size);
}

void SetIndustries(const std::string& value, cv1::Company& company) {
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    cv1::Industry industry;
    if (!cv1::Industry_Parse(std::string(part), &industry) ||
        industry == cv1::INDUSTRY_UNSPECIFIED) {
      throw Usage("unknown industry " + std::string(part) + "; one of " +
                  ValuesOf(cv1::Industry_descriptor()));
    }
    company.add_industries(industry);
  }
}

// One sort vocabulary for the CLI, the table's (name, created, modified): customers list takes
// it too and sends the list API's field names (company_name, create_time, update_time). The
// API's own names pass through.
std::string ListOrderBy(const std::string& order_by) {
  static const auto* names = new std::map<std::string, std::string>{
      {"name", "company_name"}, {"created", "create_time"}, {"modified", "update_time"}};
  const std::vector<std::string> words = absl::StrSplit(order_by, ' ', absl::SkipEmpty());
  if (words.empty()) return order_by;
  const auto it = names->find(words[0]);
  if (it == names->end()) return order_by;
  return words.size() > 1 ? it->second + " " + words[1] : it->second;
}

void AppendCustomers(cv1::ListCustomersResponse& page, cv1::ListCustomersResponse& all) {
  for (auto& c : *page.mutable_customers()) *all.add_customers() = std::move(c);
}

// A random UUID (version 4): a write's request id when none is given.
std::string NewRequestId() {
  std::random_device device;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 32; ++i) {
    int digit = hex(device);
    if (i == 12) digit = 4;
    if (i == 16) digit = 8 + (digit & 3);
    id.push_back("0123456789abcdef"[digit]);
    if (i == 7 || i == 11 || i == 15 || i == 19) id.push_back('-');
  }
  return id;
}

// The output of a context's token_command (its trailing whitespace trimmed).
std::string RunTokenCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw Usage("token_command could not be run: " + command);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  if (pclose(pipe) != 0) throw Usage("token_command failed: " + command);
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// The named context of the config file (--context, or its current_context): where the services
// are, how to reach them (TLS) and the token (or a command printing one), for every flag not
// given on the command line or as MSP_*. No file and no --context: nothing to do.
//   {"current_context": "dev",
//    "contexts": {"dev": {"host": "127.0.0.1", "token_command": "./tools/dev token --msp acme"},
//                 "prod": {"customer_address": "customers.example:443", "cacert": "ca.pem",
//                          "token_command": "vault read -field=token secret/mspctl"}}}
void ApplyContext(const std::set<std::string>& given) {
  std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (xdg != nullptr && *xdg != '\0') {
      path = std::string(xdg) + "/mspctl/config.json";
    } else if (home != nullptr) {
      path = std::string(home) + "/.config/mspctl/config.json";
    }
  }
  std::ifstream in(path);
  if (!in) {
    if (!absl::GetFlag(FLAGS_config).empty() || !absl::GetFlag(FLAGS_context).empty()) {
      throw Usage("no config file " + path);
    }
    return;
  }
  const auto config = nlohmann::json::parse(in, nullptr, false);
  if (config.is_discarded() || !config.is_object()) throw Usage(path + " is not a JSON object");
  std::string name = absl::GetFlag(FLAGS_context);
  if (name.empty()) name = config.value("current_context", "");
  if (name.empty()) return;
  const auto contexts = config.value("contexts", nlohmann::json::object());
  if (!contexts.contains(name) || !contexts[name].is_object()) {
    throw Usage("no context " + name + " in " + path);
  }
  static const std::set<std::string> kSettings = {"host",
                                                  "customer_address",
                                                  "assignment_address",
                                                  "onboarding_address",
                                                  "reporting_address",
                                                  "token",
                                                  "msp",
                                                  "timeout_s",
                                                  "plaintext",
                                                  "insecure",
                                                  "cacert",
                                                  "cert",
                                                  "key",
                                                  "authority",
                                                  "output",
                                                  "local"};
  for (const auto& [key, value] : contexts[name].items()) {
    if (key == "token_command") {
      if (given.count("token") == 0) {
        absl::SetFlag(&FLAGS_token, RunTokenCommand(value.get<std::string>()));
      }
      continue;
    }
    if (kSettings.count(key) == 0) throw Usage("context " + name + ": no setting " + key);
    if (given.count(key) != 0) continue;  // the command line and MSP_* win
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    std::string error;
    if (!absl::FindCommandLineFlag(key)->ParseFrom(text, &error)) {
      throw Usage("context " + name + ": " + key + ": " + error);
    }
  }
}

class Cli {
 public:
  Cli()
      : token_(absl::GetFlag(FLAGS_token)),
        json_(absl::GetFlag(FLAGS_json)),
        customers_(
            cv1::CustomerService::NewStub(Channel(absl::GetFlag(FLAGS_customer_address), 50051))),
        bulk_jobs_(
            cv1::BulkJobService::NewStub(Channel(absl::GetFlag(FLAGS_customer_address), 50051))),
        assignments_(av1::ServiceAssignmentService::NewStub(
            Channel(absl::GetFlag(FLAGS_assignment_address), 50052))),
        onboarding_(ov1::OnboardingService::NewStub(
            Channel(absl::GetFlag(FLAGS_onboarding_address), 50053))),
        reporting_(rv1::ReportingService::NewStub(
            Channel(absl::GetFlag(FLAGS_reporting_address), 50054))) {
    msp_ = absl::GetFlag(FLAGS_msp);
    if (msp_.empty()) msp_ = ClaimOfToken(token_, "msp_id");
    request_id_ = absl::GetFlag(FLAGS_request_id);
    if (request_id_.empty()) request_id_ = NewRequestId();
    admin_ = ClaimOfToken(token_, "sub");
  }

  // `given_flags`: the flags named on the command line or by an MSP_* variable.
  int Run(const std::vector<std::string>& words, const std::set<std::string>& given_flags);

 private:
  static std::shared_ptr<grpc::Channel> Channel(const std::string& flag, int port) {
    msp::cli::Connection connection;
    connection.plaintext = absl::GetFlag(FLAGS_plaintext);
    connection.insecure = absl::GetFlag(FLAGS_insecure);
    connection.cacert = absl::GetFlag(FLAGS_cacert);
    connection.cert = absl::GetFlag(FLAGS_cert);
    connection.key = absl::GetFlag(FLAGS_key);
    connection.authority = absl::GetFlag(FLAGS_authority);
    return msp::cli::Dial(Address(flag, port), connection, /*tls_by_default=*/false);
  }
  void Prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s)));
    if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
  }
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    Stub& stub, const Request& request, Response* response) const {
    grpc::ClientContext context;
    Prepare(context);
    return (stub.*method)(&context, request, response);
  }
  // A write: sent with the run's request id, and sent again with it (up to 4 times, backing off)
  // when the service could not be reached, did not answer in time, or was stopping (gRPC answers
  // CANCELLED for a call a stopping server received but never started: grpc/grpc#41785), which
  // a retry with the same id makes safe: the service answers a repeat with the first answer.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Write(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                     Stub& stub, const Request& request, Response* response) const {
    std::chrono::milliseconds backoff(200);
    for (int attempt = 1;; ++attempt) {
      const grpc::Status status = Call(method, stub, request, response);
      const bool retriable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                             status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                             status.error_code() == grpc::StatusCode::CANCELLED;
      if (!retriable || attempt == 4) return status;
      if (verbose_) {
        std::cerr << "mspctl: " << msp::StatusCodeName(status.error_code()) << "; retry " << attempt
                  << " with request id " << request_id_ << "\n";
      }
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }
  // A list call; with --all, the pages after the first too, appended to the first answer.
  template <typename Stub, typename Request, typename Response, typename Append>
  grpc::Status CallPages(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                      Response*),
                         Stub& stub, Request request, Response* out, Append append) const {
    grpc::Status status = Call(method, stub, request, out);
    while (status.ok() && absl::GetFlag(FLAGS_all) && !out->next_page_token().empty()) {
      Response page;
      request.set_page_token(out->next_page_token());
      status = Call(method, stub, request, &page);
      if (status.ok()) {
        append(page, *out);
        out->set_next_page_token(page.next_page_token());
      }
    }
    return status;
  }
  // The request id of this run's write (--request_id, or a new random one), printed once with
  // --verbose.
  const std::string& RequestId() const {
    if (verbose_) std::cerr << "mspctl: request id " << request_id_ << "\n";
    return request_id_;
  }
  std::string Parent() const {
    if (msp_.empty()) throw Usage("no MSP: pass --token (or MSP_TOKEN) of an MSP admin, or --msp");
    return "msps/" + msp_;
  }
  // A resource of the MSP by its short id, or by its full name.
  std::string NameOf(const std::string& collection, const std::string& id) const {
    return id.find('/') != std::string::npos ? id : Parent() + "/" + collection + "/" + id;
  }
  std::string CustomerName(const std::string& id) const { return NameOf("customers", id); }

  int Customers(const std::vector<std::string>& args);
  int Import(const std::vector<std::string>& args, cv1::BulkJob::Kind kind);
  int Services(const std::vector<std::string>& args);
  int Invitations(const std::vector<std::string>& args);
  int Delink(const std::vector<std::string>& args);
  int Table(const std::vector<std::string>& args);
  int Export(const std::vector<std::string>& args);

  int Show(const grpc::Status& status, const google::protobuf::Message& answer,
           const std::function<void()>& human) const;
  void PrintCustomers(const std::vector<const cv1::Customer*>& customers) const;

  std::string token_;
  bool json_;
  bool verbose_ = absl::GetFlag(FLAGS_verbose);
  std::string request_id_;
  std::string msp_;
  std::string admin_;
  std::unique_ptr<cv1::CustomerService::Stub> customers_;
  std::unique_ptr<cv1::BulkJobService::Stub> bulk_jobs_;
  std::unique_ptr<av1::ServiceAssignmentService::Stub> assignments_;
  std::unique_ptr<ov1::OnboardingService::Stub> onboarding_;
  std::unique_ptr<rv1::ReportingService::Stub> reporting_;
};

// Rows under a header, each column as wide as its widest cell.
// How answers print (-o): an aligned table, the answer as JSON or YAML, or the table as CSV.
enum class Output { kTable, kJson, kYaml, kCsv };

Output OutputMode() {
  if (absl::GetFlag(FLAGS_json)) return Output::kJson;
  const std::string o = absl::GetFlag(FLAGS_output);
  if (o == "table") return Output::kTable;
  if (o == "json") return Output::kJson;
  if (o == "yaml") return Output::kYaml;
  if (o == "csv") return Output::kCsv;
  throw Usage("-o " + o + ": one of table, json, yaml, csv");
}

// A line beside a table ("more: --page_token ..."): on standard error with -o csv, so that the
// output stays CSV.
std::ostream& Aside() { return OutputMode() == Output::kCsv ? std::cerr : std::cout; }

std::string CsvCell(const std::string& cell) {
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A JSON value as YAML (block style; strings quoted when YAML would read them otherwise).
void WriteYaml(const nlohmann::json& value, int indent, std::ostream& out) {
  const std::string pad(indent, ' ');
  auto scalar = [](const nlohmann::json& v) -> std::string {
    if (!v.is_string()) return v.dump();
    const std::string& text = v.get_ref<const std::string&>();
    static const std::set<std::string> kWords = {"",   "true", "false", "null", "yes",
                                                 "no", "on",   "off",   "~"};
    const bool plain = kWords.count(text) == 0 &&
                       text.find_first_of(":#{}[],&*!|>'\"%@`\n") == std::string::npos &&
                       text.front() != ' ' && text.back() != ' ' && text.front() != '-' &&
                       !std::isdigit(static_cast<unsigned char>(text.front())) &&
                       text.front() != '.';
    return plain ? text : nlohmann::json(text).dump();
  };
  if (value.is_object()) {
    if (value.empty()) {
      out << "{}\n";
      return;
    }
    for (const auto& [key, item] : value.items()) {
      out << pad << key << ":";
      if ((item.is_object() || item.is_array()) && !item.empty()) {
        out << "\n";
        WriteYaml(item, indent + 2, out);
      } else if (item.is_object() || item.is_array()) {
        out << (item.is_object() ? " {}\n" : " []\n");
      } else {
        out << " " << scalar(item) << "\n";
      }
    }
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_object() && !item.empty()) {
        // The first key on the dash's line, the others under it.
        std::ostringstream nested;
        WriteYaml(item, indent + 2, nested);
        std::string text = nested.str();
        out << pad << "- " << text.substr(indent + 2);
      } else if (item.is_array() && !item.empty()) {
        out << pad << "-\n";
        WriteYaml(item, indent + 2, out);
      } else {
        out << pad << "- " << scalar(item) << "\n";
      }
    }
  } else {
    out << pad << scalar(value) << "\n";
  }
}

// One time format everywhere: RFC 3339, in UTC ("2026-11-30T03:57:27Z") or with --local in
// the local time zone with its offset; "-" for no time.
std::string TimeCell(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  const absl::Time time = absl::FromUnixSeconds(t.seconds());
  return absl::GetFlag(FLAGS_local)
             ? absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", time, absl::LocalTimeZone())
             : absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  if (OutputMode() == Output::kCsv) {
    auto line = [](const std::vector<std::string>& cells) {
      std::vector<std::string> quoted;
      for (const auto& c : cells) quoted.push_back(CsvCell(c));
      std::cout << absl::StrJoin(quoted, ",") << "\r\n";
    };
    line(header);
    for (const auto& row : rows) line(row);
    return;
  }
  std::vector<size_t> width(header.size());
  // By the columns a cell takes on a terminal, not its bytes: non-ASCII names stay aligned.
  for (size_t c = 0; c < header.size(); ++c) width[c] = msp::cli::DisplayWidth(header[c]);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], msp::cli::DisplayWidth(row[c]));
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) {
        out += std::string(width[c] - msp::cli::DisplayWidth(cells[c]) + 2, ' ');
      }
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
}

// The error answer: code, reason, message, and each field violation / precondition.
int PrintError(const grpc::Status& status) {
  std::string reason;
  std::vector<std::string> lines;
  google::rpc::Status details;
  if (grpc::ExtractErrorDetails(status, &details).ok()) {
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      google::rpc::BadRequest bad;
      google::rpc::PreconditionFailure precondition;
      google::rpc::RetryInfo retry;
      if (any.UnpackTo(&info)) reason = info.reason();
      if (any.UnpackTo(&bad)) {
        for (const auto& v : bad.field_violations()) {
          lines.push_back(absl::StrCat("  ", FlagOfField(v.field()), ": ", v.description()));
        }
      }
      if (any.UnpackTo(&precondition)) {
        for (const auto& v : precondition.violations()) {
          lines.push_back(absl::StrCat("  ", v.type(), ": ", v.description()));
        }
      }
      if (any.UnpackTo(&retry)) {
        lines.push_back(absl::StrCat("  retry in ", retry.retry_delay().seconds(), " s"));
      }
    }
  }
  // With violations listed one a line, the message (which repeats them) is left out.
  std::cerr << "error: " << msp::StatusCodeName(status.error_code())
            << (reason.empty() ? "" : " " + reason)
            << (lines.empty() ? ": " + status.error_message() : std::string()) << "\n";
  for (const auto& l : lines) std::cerr << l << "\n";
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
             ? kUnreachable
             : kRefused;
}

int Cli::Show(const grpc::Status& status, const google::protobuf::Message& answer,
              const std::function<void()>& human) const {
  if (!status.ok()) return PrintError(status);
  switch (OutputMode()) {
    case Output::kJson:
      std::cout << ProtoJson(answer, /*emit_defaults=*/true);
      break;
    case Output::kYaml:
      WriteYaml(nlohmann::json::parse(ProtoJson(answer, /*emit_defaults=*/true)), 0, std::cout);
      break;
    case Output::kTable:
    case Output::kCsv:
      human();
      break;
  }
  return 0;
}

std::string ServicesCell(const google::protobuf::RepeatedPtrField<av1::AssignedService>& services) {
  std::vector<std::string> cells;
  for (const auto& s : services) {
    cells.push_back(absl::StrCat(
        std::string(msp::knox::ServiceId(static_cast<msp::knox::KnoxService>(s.service()))), ":",
        av1::AssignedService::State_Name(s.state())));
  }
  return cells.empty() ? "-" : absl::StrJoin(cells, ",");
}

void Cli::PrintCustomers(const std::vector<const cv1::Customer*>& customers) const {
  std::vector<std::vector<std::string>> rows;
  for (const auto* c : customers) {
    rows.push_back({c->customer_id(), c->company().display_name(), cv1::State_Name(c->state()),
                    cv1::ManagementType_Name(c->management_type()), c->contact().work_email(),
                    c->link().empty() ? "-" : c->link()});
  }
  PrintTable({"ID", "COMPANY", "STATE", "MANAGEMENT", "CONTACT", "LINK"}, rows);
}

std::vector<av1::KnoxService> ParseServices(const std::vector<std::string>& words) {
  std::vector<av1::KnoxService> out;
  for (const auto& w : words) {
    for (absl::string_view part : absl::StrSplit(w, ',', absl::SkipEmpty())) {
      std::string name(part);
      av1::KnoxService s;
      std::string upper = name;
      for (auto& ch : upper) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
      if (av1::KnoxService_Parse(upper, &s) && s != av1::KNOX_SERVICE_UNSPECIFIED) {
        out.push_back(s);
        continue;
      }
      bool found = false;
      for (auto k : msp::knox::AllServices()) {
        if (msp::knox::ServiceId(k) == name) {
          out.push_back(k);
          found = true;
        }
      }
      if (!found) throw Usage("unknown Knox service: " + name);
    }
  }
  return out;
}

int Cli::Customers(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  auto need_id = [&] {
    if (args.size() < 2) throw Usage("customers " + verb + " needs a customer id");
    return CustomerName(args[1]);
  };
  if (verb == "add") {
    cv1::CreateCustomerRequest request;
    request.set_parent(Parent());
    request.set_request_id(RequestId());
    auto* c = request.mutable_customer();
    auto* company = c->mutable_company();
    company->set_display_name(absl::GetFlag(FLAGS_name));
    // Nothing made up: a size or industry not given is left out, and the service says it is
    // required.
    SetSize(absl::GetFlag(FLAGS_size), *company);
    SetIndustries(absl::GetFlag(FLAGS_industries), *company);
    company->set_country_code(absl::GetFlag(FLAGS_country));
    company->mutable_address()->set_address_line1(absl::GetFlag(FLAGS_address1));
    company->mutable_address()->set_address_line2(absl::GetFlag(FLAGS_address2));
    company->mutable_address()->set_city(absl::GetFlag(FLAGS_city));
    company->mutable_address()->set_state(absl::GetFlag(FLAGS_state));
    company->mutable_address()->set_zip_code(absl::GetFlag(FLAGS_zip));
    company->set_website_uri(absl::GetFlag(FLAGS_website));
    auto* contact = c->mutable_contact();
    contact->set_first_name(absl::GetFlag(FLAGS_first_name));
    contact->set_last_name(absl::GetFlag(FLAGS_last_name));
    contact->set_work_email(absl::GetFlag(FLAGS_email));
    contact->set_phone(absl::GetFlag(FLAGS_phone));
    contact->set_job_title(absl::GetFlag(FLAGS_job_title));
    c->set_management_type(absl::GetFlag(FLAGS_jointly) ? cv1::JOINTLY_MANAGED
                                                        : cv1::FULLY_MANAGED);
    for (auto s : ParseServices({absl::GetFlag(FLAGS_services)})) request.add_services(s);
    request.set_knox_manage_tenant_prefix(absl::GetFlag(FLAGS_tenant_prefix));
    cv1::Customer out;
    return Show(Write(&cv1::CustomerService::Stub::CreateCustomer, *customers_, request, &out), out,
                [&] { PrintCustomers({&out}); });
  }
  if (verb == "import") return Import(args, cv1::BulkJob::CREATE_CUSTOMERS);
  if (verb == "get") {
    cv1::GetCustomerRequest request;
    request.set_name(need_id());
    request.set_view(cv1::FULL);
    cv1::Customer out;
    return Show(Call(&cv1::CustomerService::Stub::GetCustomer, *customers_, request, &out), out,
                [&] {
                  PrintCustomers({&out});
                  Aside() << "services: " << ServicesCell(out.services()) << "\n";
                });
  }
  if (verb == "list") {
    cv1::ListCustomersRequest request;
    request.set_parent(Parent());
    request.set_filter(absl::GetFlag(FLAGS_filter));
    request.set_order_by(ListOrderBy(absl::GetFlag(FLAGS_order_by)));
    request.set_search(absl::GetFlag(FLAGS_search));
    request.set_page_size(absl::GetFlag(FLAGS_page_size));
    request.set_page_token(absl::GetFlag(FLAGS_page_token));
    cv1::ListCustomersResponse out;
    return Show(CallPages(&cv1::CustomerService::Stub::ListCustomers, *customers_, request, &out,
                          AppendCustomers),
                out, [&] {
                  std::vector<const cv1::Customer*> list;
                  for (const auto& c : out.customers()) list.push_back(&c);
                  PrintCustomers(list);
                  if (!out.next_page_token().empty()) {
                    Aside() << "more: --page_token " << out.next_page_token() << "\n";
                  }
                });
  }
  if (verb == "update") {
    cv1::UpdateCustomerRequest request;
    request.mutable_customer()->set_name(need_id());
    auto set = [&](const std::string& value, const std::string& path,
                   const std::function<void(const std::string&)>& apply) {
      if (value.empty()) return;
      apply(value);
      request.mutable_update_mask()->add_paths(path);
    };
    auto* c = request.mutable_customer();
    auto* company = c->mutable_company();
    auto* address = company->mutable_address();
    auto* contact = c->mutable_contact();
    set(absl::GetFlag(FLAGS_name), "company.display_name",
        [&](const std::string& v) { company->set_display_name(v); });
    set(absl::GetFlag(FLAGS_size), "company.size",
        [&](const std::string& v) { SetSize(v, *company); });
    set(absl::GetFlag(FLAGS_industries), "company.industries",
        [&](const std::string& v) { SetIndustries(v, *company); });
    set(absl::GetFlag(FLAGS_country), "company.country_code",
        [&](const std::string& v) { company->set_country_code(v); });
    set(absl::GetFlag(FLAGS_address1), "company.address.address_line1",
        [&](const std::string& v) { address->set_address_line1(v); });
    set(absl::GetFlag(FLAGS_address2), "company.address.address_line2",
        [&](const std::string& v) { address->set_address_line2(v); });
    set(absl::GetFlag(FLAGS_city), "company.address.city",
        [&](const std::string& v) { address->set_city(v); });
    set(absl::GetFlag(FLAGS_state), "company.address.state",
        [&](const std::string& v) { address->set_state(v); });
    set(absl::GetFlag(FLAGS_zip), "company.address.zip_code",
        [&](const std::string& v) { address->set_zip_code(v); });
    set(absl::GetFlag(FLAGS_website), "company.website_uri",
        [&](const std::string& v) { company->set_website_uri(v); });
    set(absl::GetFlag(FLAGS_first_name), "contact.first_name",
        [&](const std::string& v) { contact->set_first_name(v); });
    set(absl::GetFlag(FLAGS_last_name), "contact.last_name",
        [&](const std::string& v) { contact->set_last_name(v); });
    set(absl::GetFlag(FLAGS_email), "contact.work_email",
        [&](const std::string& v) { contact->set_work_email(v); });
    if (request.update_mask().paths().empty()) {
      throw Usage("customers update needs a field to change (--name, --zip, ...)");
    }
    request.set_request_id(RequestId());
    cv1::Customer out;
    return Show(Write(&cv1::CustomerService::Stub::UpdateCustomer, *customers_, request, &out), out,
                [&] { PrintCustomers({&out}); });
  }
  if (verb == "upgrade") {
    cv1::UpgradeToJointlyManagedRequest request;
    request.set_name(need_id());
    request.set_request_id(RequestId());
    cv1::Customer out;
    return Show(
        Write(&cv1::CustomerService::Stub::UpgradeToJointlyManaged, *customers_, request, &out),
        out, [&] { PrintCustomers({&out}); });
  }
  if (verb == "events") {
    cv1::ListCustomerEventsRequest request;
    request.set_parent(need_id());
    request.set_page_size(absl::GetFlag(FLAGS_page_size));
    cv1::ListCustomerEventsResponse out;
    return Show(Call(&cv1::CustomerService::Stub::ListCustomerEvents, *customers_, request, &out),
                out, [&] {
                  std::vector<std::vector<std::string>> rows;
                  for (const auto& e : out.events()) {
                    rows.push_back({TimeCell(e.create_time()), e.action(), e.actor(),
                                    absl::StrJoin(e.changed_fields(), ",")});
                  }
                  PrintTable({"TIME", "ACTION", "ACTOR", "FIELDS"}, rows);
                });
  }
  throw Usage("customers add|get|list|update|upgrade|events");
}

// `customers import FILE` and `invitations import FILE`: the dry run's findings as a table, or
// the run to its end (a progress bar on a terminal) and the result file. Exit 1 when a row has a
// problem or failed.
int Cli::Import(const std::vector<std::string>& args, cv1::BulkJob::Kind kind) {
  const bool invitations = kind == cv1::BulkJob::INVITE_CUSTOMERS;
  if (args.size() != 2) {
    throw Usage(absl::StrCat(invitations ? "invitations" : "customers",
                             " import FILE [--dry-run] [--result RESULT.csv]"));
  }
  msp::cli::ImportSettings settings;
  settings.kind = kind;
  settings.parent = Parent();
  settings.file = args[1];
  settings.dry_run = absl::GetFlag(FLAGS_dry_run);
  settings.result_file = absl::GetFlag(FLAGS_result);
  if (settings.result_file.empty()) settings.result_file = msp::cli::ResultFileFor(args[1]);
  if (!settings.dry_run) settings.request_id = RequestId();
  settings.progress = isatty(STDERR_FILENO) != 0 && OutputMode() == Output::kTable;
  settings.prepare = [this](grpc::ClientContext& context) { Prepare(context); };
  msp::cli::ImportOutcome outcome;
  try {
    outcome = msp::cli::ImportCustomers(*bulk_jobs_, settings, std::cerr);
  } catch (const std::runtime_error& e) {
    throw Usage(e.what());
  }
  const cv1::BulkJob& job = outcome.job;
  const int shown = Show(outcome.status, job, [&] {
    if (settings.dry_run) {
      std::cout << job.row_count() << " rows, " << job.invalid_row_count()
                << " with problems; nothing written\n";
    } else {
      std::cout << job.name() << ": " << cv1::BulkJob::State_Name(job.state()) << ", "
                << job.rows_created() << (invitations ? " invited, " : " created, ")
                << job.rows_failed() << " failed; result in " << settings.result_file << "\n";
    }
    if (job.problems_size() == 0) return;
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : job.problems()) {
      rows.push_back({std::to_string(p.row()), std::to_string(p.line()),
                      p.field().empty() ? "-" : p.field(), p.reason()});
    }
    PrintTable({"ROW", "LINE", "COLUMN", "PROBLEM"}, rows);
    if (job.problems_size() < job.invalid_row_count()) {
      std::cout << "(the first " << job.problems_size() << " problems; the result file has all)\n";
    }
  });
  if (shown != 0) return shown;
  return job.invalid_row_count() > 0 || job.rows_failed() > 0 ? kRefused : 0;
}

int Cli::Services(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (args.size() < 2) throw Usage("services assign|list|launch CUSTOMER_ID ...");
  const std::string customer = CustomerName(args[1]);
  auto print = [](const google::protobuf::RepeatedPtrField<av1::AssignedService>& services) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : services) {
      rows.push_back(
          {std::string(msp::knox::ServiceId(static_cast<msp::knox::KnoxService>(s.service()))),
           av1::AssignedService::State_Name(s.state()), std::to_string(s.device_count()),
           std::to_string(s.devices_needing_attention()),
           s.knox_manage_tenant_id().empty() ? "-" : s.knox_manage_tenant_id()});
    }
    PrintTable({"SERVICE", "STATE", "DEVICES", "ATTENTION", "TENANT"}, rows);
  };
  if (verb == "assign") {
    av1::AssignServicesRequest request;
    request.set_parent(customer);
    for (auto s : ParseServices({args.begin() + 2, args.end()})) request.add_services(s);
    request.set_knox_manage_tenant_prefix(absl::GetFlag(FLAGS_tenant_prefix));
    request.set_request_id(RequestId());
    av1::AssignServicesResponse out;
    return Show(
        Write(&av1::ServiceAssignmentService::Stub::AssignServices, *assignments_, request, &out),
        out, [&] { print(out.services()); });
  }
  if (verb == "list") {
    av1::ListCustomerServicesRequest request;
    request.set_parent(customer);
    av1::ListCustomerServicesResponse out;
    return Show(Call(&av1::ServiceAssignmentService::Stub::ListCustomerServices, *assignments_,
                     request, &out),
                out, [&] { print(out.services()); });
  }
  if (verb == "launch") {
    if (args.size() < 3) throw Usage("services launch CUSTOMER_ID SERVICE");
    const auto services = ParseServices({args[2]});
    av1::LaunchServiceConsoleRequest request;
    request.set_name(
        absl::StrCat(customer, "/services/", std::string(msp::knox::ServiceId(services[0]))));
    request.set_return_uri(absl::GetFlag(FLAGS_return_uri));
    av1::LaunchServiceConsoleResponse out;
    return Show(Call(&av1::ServiceAssignmentService::Stub::LaunchServiceConsole, *assignments_,
                     request, &out),
                out, [&] { std::cout << out.launch_uri() << "\n"; });
  }
  throw Usage("services assign|list|launch");
}

int Cli::Invitations(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  auto print = [](const ov1::Invitation& i) {
    PrintTable({"INVITATION", "CUSTOMER", "STATE", "SENT", "COUNT"},
               {{i.name(), i.customer_id(), ov1::Invitation::State_Name(i.state()),
                 TimeCell(i.last_send_time()), std::to_string(i.send_count())}});
  };
  if (verb == "create") {
    if (args.size() < 2) throw Usage("invitations create CUSTOMER_ID --services a,b [--jointly]");
    ov1::CreateInvitationRequest request;
    request.set_parent(Parent());
    request.set_customer_id(args[1]);
    request.set_management_type(absl::GetFlag(FLAGS_jointly) ? cv1::JOINTLY_MANAGED
                                                             : cv1::FULLY_MANAGED);
    for (auto s : ParseServices({absl::GetFlag(FLAGS_services)})) request.add_services(s);
    request.set_knox_manage_tenant_prefix(absl::GetFlag(FLAGS_tenant_prefix));
    request.set_request_id(RequestId());
    ov1::Invitation out;
    return Show(Write(&ov1::OnboardingService::Stub::CreateInvitation, *onboarding_, request, &out),
                out, [&] { print(out); });
  }
  if (verb == "resend" || verb == "cancel") {
    if (args.size() < 2) throw Usage("invitations " + verb + " ID (or its full name)");
    ov1::Invitation out;
    grpc::Status status;
    if (verb == "resend") {
      ov1::ResendInvitationRequest request;
      request.set_name(NameOf("invitations", args[1]));
      status = Call(&ov1::OnboardingService::Stub::ResendInvitation, *onboarding_, request, &out);
    } else {
      ov1::CancelInvitationRequest request;
      request.set_name(NameOf("invitations", args[1]));
      status = Call(&ov1::OnboardingService::Stub::CancelInvitation, *onboarding_, request, &out);
    }
    return Show(status, out, [&] { print(out); });
  }
  if (verb == "list") {
    // Invited customers, with the invitation their state belongs to.
    cv1::ListCustomersRequest request;
    request.set_parent(Parent());
    request.set_filter(
        "state = PENDING OR state = REJECTED OR state = CANCELED OR state = EXPIRED");
    request.set_page_size(absl::GetFlag(FLAGS_page_size));
    cv1::ListCustomersResponse out;
    return Show(CallPages(&cv1::CustomerService::Stub::ListCustomers, *customers_, request, &out,
                          AppendCustomers),
                out, [&] {
                  std::vector<const cv1::Customer*> list;
                  for (const auto& c : out.customers()) list.push_back(&c);
                  PrintCustomers(list);
                });
  }
  if (verb == "import") return Import(args, cv1::BulkJob::INVITE_CUSTOMERS);
  throw Usage("invitations create|resend|cancel|list|import");
}

int Cli::Delink(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "" : args[0];
  if (args.size() < 2) throw Usage("delink request CUSTOMER_ID | resend NAME | revoke NAME");
  ov1::DelinkRequest out;
  grpc::Status status;
  if (verb == "request") {
    ov1::RequestDelinkRequest request;
    request.set_customer(CustomerName(args[1]));
    request.set_request_id(RequestId());
    status = Write(&ov1::OnboardingService::Stub::RequestDelink, *onboarding_, request, &out);
  } else if (verb == "resend") {
    ov1::ResendDelinkEmailRequest request;
    request.set_name(NameOf("delinkRequests", args[1]));
    status = Call(&ov1::OnboardingService::Stub::ResendDelinkEmail, *onboarding_, request, &out);
  } else if (verb == "revoke") {
    ov1::RevokeDelinkRequest request;
    request.set_name(NameOf("delinkRequests", args[1]));
    status = Call(&ov1::OnboardingService::Stub::RevokeDelink, *onboarding_, request, &out);
  } else {
    throw Usage("delink request|resend|revoke");
  }
  return Show(status, out, [&] {
    PrintTable({"DELINK REQUEST", "CUSTOMER", "STATE"},
               {{out.name(), out.customer(), ov1::DelinkRequest::State_Name(out.state())}});
  });
}

std::vector<rv1::Column> ParseColumns(const std::vector<std::string>& words) {
  std::vector<rv1::Column> out;
  for (const auto& w : words) {
    for (absl::string_view part : absl::StrSplit(w, ',', absl::SkipEmpty())) {
      std::string upper(part);
      for (auto& ch : upper) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
      rv1::Column c;
      if (!rv1::Column_Parse(upper, &c) || c == rv1::COLUMN_UNSPECIFIED) {
        throw Usage("unknown column " + std::string(part) +
                    " (NAME, SERVICE_STATUS, CUSTOMER_ID, MANAGEMENT_TYPE, TOTAL_DEVICES, "
                    "MODIFIED, CREATED, MSP_LINKED)");
      }
      out.push_back(c);
    }
  }
  return out;
}

std::string Cell(const rv1::TableRow& row, rv1::Column column) {
  auto time = [](const google::protobuf::Timestamp& t) { return TimeCell(t); };
  switch (column) {
    case rv1::NAME:
      return row.company_name();
    case rv1::SERVICE_STATUS:
      return ServicesCell(row.services());
    case rv1::CUSTOMER_ID:
      return row.customer_id();
    case rv1::MANAGEMENT_TYPE:
      return cv1::ManagementType_Name(row.management_type());
    case rv1::TOTAL_DEVICES:
      return absl::StrCat(row.total_devices(), " / ",
                          row.has_knox_manage_devices() ? std::to_string(row.knox_manage_devices())
                                                        : std::string("-"));
    case rv1::MODIFIED:
      return time(row.update_time());
    case rv1::CREATED:
      return time(row.create_time());
    case rv1::MSP_LINKED:
      return time(row.msp_link_time());
    default:
      return "";
  }
}

int Cli::Table(const std::vector<std::string>& args) {
  const std::string verb = args.empty() ? "show" : args[0];
  const std::string preferences = absl::StrCat(Parent(), "/admins/", admin_, "/tablePreferences");
  if (verb == "show") {
    rv1::QueryCustomerTableRequest request;
    request.set_parent(Parent());
    for (auto c : ParseColumns({absl::GetFlag(FLAGS_columns)})) request.add_columns(c);
    request.set_order_by(absl::GetFlag(FLAGS_order_by));
    request.set_filter(absl::GetFlag(FLAGS_filter));
    request.set_search(absl::GetFlag(FLAGS_search));
    request.set_page_size(absl::GetFlag(FLAGS_page_size));
    request.set_page_token(absl::GetFlag(FLAGS_page_token));
    rv1::QueryCustomerTableResponse out;
    return Show(
        CallPages(&rv1::ReportingService::Stub::QueryCustomerTable, *reporting_, request, &out,
                  [](rv1::QueryCustomerTableResponse& page, rv1::QueryCustomerTableResponse& all) {
                    for (auto& row : *page.mutable_rows()) *all.add_rows() = std::move(row);
                  }),
        out, [&] {
          std::vector<std::string> header = {"STATE"};
          for (int c : out.columns())
            header.push_back(rv1::Column_Name(static_cast<rv1::Column>(c)));
          std::vector<std::vector<std::string>> rows;
          for (const auto& row : out.rows()) {
            std::vector<std::string> cells = {cv1::State_Name(row.state())};
            for (int c : out.columns()) cells.push_back(Cell(row, static_cast<rv1::Column>(c)));
            rows.push_back(std::move(cells));
          }
          PrintTable(header, rows);
          if (!out.next_page_token().empty()) {
            Aside() << "more: --page_token " << out.next_page_token() << "\n";
          }
        });
  }
  if (verb == "columns") {
    rv1::TablePreferences out;
    grpc::Status status;
    if (args.size() > 1) {
      rv1::UpdateTablePreferencesRequest request;
      request.mutable_preferences()->set_name(preferences);
      for (auto c : ParseColumns({args.begin() + 1, args.end()})) {
        request.mutable_preferences()->add_columns(c);
      }
      status =
          Call(&rv1::ReportingService::Stub::UpdateTablePreferences, *reporting_, request, &out);
    } else {
      rv1::GetTablePreferencesRequest request;
      request.set_name(preferences);
      status = Call(&rv1::ReportingService::Stub::GetTablePreferences, *reporting_, request, &out);
    }
    return Show(status, out, [&] {
      std::vector<std::string> names;
      for (int c : out.columns()) names.push_back(rv1::Column_Name(static_cast<rv1::Column>(c)));
      std::cout << absl::StrJoin(names, " ") << "\n";
    });
  }
  throw Usage("table show|columns");
}

int Cli::Export(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "csv") throw Usage("export csv --out FILE");
  const std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty()) throw Usage("export csv needs --out FILE ('-' for standard output)");
  std::ofstream file;
  if (path != "-") {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) throw Usage("cannot write " + path);
  }
  std::ostream& out = path == "-" ? std::cout : file;
  // A progress line on a terminal only: scripts and pipes get the file and nothing else.
  const bool progress = isatty(STDERR_FILENO) != 0;
  rv1::ExportCustomersCsvRequest request;
  request.set_parent(Parent());
  request.set_filter(absl::GetFlag(FLAGS_filter));
  request.set_search(absl::GetFlag(FLAGS_search));
  grpc::ClientContext context;
  Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
  const auto start = std::chrono::steady_clock::now();
  auto reader = reporting_->ExportCustomersCsv(&context, request);
  rv1::CsvChunk chunk;
  int64_t rows = -1;  // the header is not a row
  int64_t bytes = 0;
  auto report = [&](bool done) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cerr << "\r" << std::max<int64_t>(rows, 0) << " rows, " << bytes / 1024 << " KiB, "
              << static_cast<int64_t>(static_cast<double>(std::max<int64_t>(rows, 0)) /
                                      std::max(seconds, 1e-3))
              << " rows/s" << (done ? "\n" : "") << std::flush;
  };
  while (reader->Read(&chunk)) {
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    bytes += static_cast<int64_t>(chunk.data().size());
    rows += std::count(chunk.data().begin(), chunk.data().end(), '\n');
    if (progress) report(false);
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return PrintError(status);
  out.flush();
  if (progress) report(true);
  if (json_) {
    std::cout << "{\"rows\": " << std::max<int64_t>(rows, 0) << ", \"bytes\": " << bytes << "}\n";
  }
  return 0;
}

int Cli::Run(const std::vector<std::string>& words, const std::set<std::string>& given_flags) {
  if (words.empty() || words[0] == "help") {
    std::cout << kHelp;
    return words.empty() ? kUsage : 0;
  }
  const std::vector<std::string> args(words.begin() + 1, words.end());
  (void)OutputMode();  // a bad -o is a usage error before any call
  // A request flag the command does not send is refused, not ignored.
  const std::string command = words[0] + (args.empty() ? "" : " " + args[0]);
  std::set<std::string> request_flags;
  for (const auto& [name, flags] : CommandFlags()) request_flags.insert(flags.begin(), flags.end());
  const auto own = CommandFlags().find(command);
  for (const auto& flag : given_flags) {
    if (request_flags.count(flag) == 0) continue;
    if (own == CommandFlags().end() || own->second.count(flag) == 0) {
      throw Usage("--" + flag + " does not apply to " + command +
                  (command == "customers update" ? "" : " (mspctl " + words[0] + " --help)"));
    }
  }
  if (words[0] == "customers") return Customers(args);
  if (words[0] == "services") return Services(args);
  if (words[0] == "invitations") return Invitations(args);
  if (words[0] == "delink") return Delink(args);
  if (words[0] == "table") return Table(args);
  if (words[0] == "export") return Export(args);
  if (words[0] == "completion") {
    if (args.size() != 1 || (args[0] != "bash" && args[0] != "zsh")) {
      throw Usage("completion bash|zsh");
    }
    std::cout << CompletionScript(args[0]);
    return 0;
  }
  throw Usage("unknown command " + words[0]);
}

}  // namespace

// `mspctl [COMMAND] --help`: the usage of that command (or of all), exit 0. (Abseil's own
// --help would list every flag and exit 1; --helpfull still does.)
bool PrintedHelp(int argc, char** argv) {
  std::string command;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (command.empty() && !arg.empty() && arg[0] != '-') {
      command = arg;
    }
  }
  if (!help) return false;
  std::istringstream lines(kHelp);
  bool in_command = false;
  for (std::string line; std::getline(lines, line);) {
    // A command's lines: those starting with it, and the indented ones that continue them.
    if (line.rfind("  ", 0) == 0 && line.rfind("   ", 0) != 0) {
      in_command = command.empty() || line.rfind("  " + command + " ", 0) == 0;
    } else if (line.rfind("   ", 0) != 0) {
      in_command = true;  // the header and the closing notes
    }
    if (in_command) std::cout << line << "\n";
  }
  return true;
}

// Edits (insertions, deletions, substitutions) from a to b.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The command line with kebab-case flags as the snake_case they are (--first-name is
// --first_name), and the flags it names (--nojson names json). A flag mspctl does not have is a
// usage error naming the nearest it has (Abseil would exit 1 on it: usage is 2).
struct CommandLine {
  std::vector<std::string> args;
  std::set<std::string> flags;
};
CommandLine NormalizedArgs(int argc, char** argv) {
  CommandLine line;
  std::vector<std::string>& out = line.args;
  out.push_back(argv[0]);
  bool value_next = false;  // the previous word was a flag waiting for its value
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (value_next || arg == "--" || arg.size() < 2 || arg[0] != '-') {
      value_next = false;
      out.push_back(arg);
      if (arg == "--") out.insert(out.end(), argv + i + 1, argv + argc);
      if (arg == "--") break;
      continue;
    }
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    const size_t eq = arg.find('=');
    std::string name = arg.substr(dashes, eq == std::string::npos ? eq : eq - dashes);
    std::replace(name.begin(), name.end(), '-', '_');
    if (name == "o") name = "output";  // -o json, as kubectl and gcloud take it
    // Abseil's own (--help, --helpfull, --version, ...) are its to handle.
    static const std::set<std::string> kAbseilFlags = {
        "help",    "helpfull",        "helpshort", "helppackage", "helpon",     "helpmatch",
        "version", "only_check_args", "flagfile",  "fromenv",     "tryfromenv", "undefok"};
    if (kAbseilFlags.count(name) != 0) {
      out.push_back(arg);
      continue;
    }
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    const bool negated = flag == nullptr && name.rfind("no", 0) == 0 &&
                         absl::FindCommandLineFlag(name.substr(2)) != nullptr &&
                         absl::FindCommandLineFlag(name.substr(2))->IsOfType<bool>();
    if (flag == nullptr && !negated) {
      std::string nearest;
      size_t best = 4;
      for (const auto& [known, unused] : absl::GetAllFlags()) {
        const size_t d = EditDistance(name, std::string(known));
        if (d < best) {
          best = d;
          nearest = std::string(known);
        }
      }
      throw Usage("unknown flag --" + name +
                  (nearest.empty() ? "" : "; did you mean --" + nearest + "?"));
    }
    value_next = flag != nullptr && !flag->IsOfType<bool>() && eq == std::string::npos;
    line.flags.insert(negated ? name.substr(2) : name);
    out.push_back(std::string(dashes, '-') + name +
                  (eq == std::string::npos ? "" : arg.substr(eq)));
  }
  return line;
}

int main(int argc, char** argv) {
  if (PrintedHelp(argc, argv)) return 0;
  absl::SetProgramUsageMessage(kHelp);
  CommandLine line;
  try {
    line = NormalizedArgs(argc, argv);
  } catch (const Usage& e) {
    std::cerr << "mspctl: " << e.what() << "\n(mspctl --helpfull: every flag)\n";
    return kUsage;
  }
  std::vector<char*> normalized;
  for (auto& a : line.args) normalized.push_back(a.data());
  // The flags given, by name: on the command line or as MSP_*.
  std::set<std::string> given_flags = std::move(line.flags);
  for (char** env = environ; *env != nullptr; ++env) {
    const std::string entry = *env;
    if (entry.rfind("MSP_", 0) != 0) continue;
    std::string name(entry.substr(4, entry.find('=') - 4));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    given_flags.insert(name);
  }
  const std::vector<char*> positional =
      msp::ParseFlagsWithEnvFallback(static_cast<int>(normalized.size()), normalized.data());
  std::vector<std::string> words(positional.begin() + 1, positional.end());
  try {
    ApplyContext(given_flags);
    Cli cli;
    return cli.Run(words, given_flags);
  } catch (const Usage& e) {
    std::cerr << "mspctl: " << e.what() << "\n(mspctl help: every command)\n";
    return kUsage;
  }
}
