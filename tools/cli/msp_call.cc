// Calls one method of this project's contracts (unary or streaming either way), the grpcurl way,
// with the contracts compiled in (grpcurl itself is not packaged for Debian):
//
//   msp_call [-plaintext | -insecure | -cacert FILE] [-cert FILE -key FILE] [-authority NAME]
//            [-H 'name: value']... [-d '<request JSON>' | -d @] [-v] [-format json]
//            host:port pkg.Service/Method
//
//   msp_call [connection flags] host:port list [SERVICE]
//   msp_call [connection flags] host:port describe [SYMBOL]
//
// list and describe read the server's own contracts through server reflection. `-d @` reads
// the request from standard input; as with grpcurl, the data of a client-streaming call is its
// messages one after another (JSON objects, whitespace between); `-v` also prints the method, the
// request metadata, the response headers and trailers and the message counts, as grpcurl does.
//
// As with grpcurl, a call uses TLS (verified with the system's roots, or -cacert's) unless
// -plaintext says otherwise.
// The request is proto3 JSON; the answer is printed as proto3 JSON (as grpcurl prints it), an
// error as its code, message and google.rpc.Status details. Exit status: 0 OK, 1 an error
// answer, 2 a usage error.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/error_details.h>
#include <grpcpp/support/sync_stream.h>

#include <google/protobuf/util/json_util.h>

#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "connection.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "msp/assignment/v1/service_assignment.pb.h"
#include "msp/customer/v1/bulk_jobs.pb.h"
#include "msp/customer/v1/customer.pb.h"
#include "msp/onboarding/v1/onboarding.pb.h"
#include "msp/reporting/v1/reporting.pb.h"
#include "proto_json.h"
#include "server_contracts.h"

namespace {

const char kCodeNames[][20] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

// The JSON objects of `data`, one after another (grpcurl's stream of request messages).
std::vector<std::string> JsonObjects(const std::string& data) {
  std::vector<std::string> out;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t start = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      if (depth++ == 0) start = i;
    } else if (c == '}' && depth > 0 && --depth == 0) {
      out.push_back(data.substr(start, i - start + 1));
    }
  }
  return out;
}

int Usage() {
  std::cerr << "usage: msp_call [-plaintext | -insecure | -cacert FILE] [-cert FILE -key FILE] "
               "[-authority NAME] [-H 'name: value']... [-d JSON | -d @] [-v] [-format json] "
               "host:port pkg.Service/Method\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // The contracts must be linked in for their descriptors to be found by name.
  (void)msp::customer::v1::Customer::descriptor();
  (void)msp::customer::v1::BulkJob::descriptor();
  (void)msp::assignment::v1::AssignedService::descriptor();
  (void)msp::onboarding::v1::Invitation::descriptor();
  (void)msp::reporting::v1::TableRow::descriptor();
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  (void)google::rpc::ErrorInfo::descriptor();

  std::vector<std::pair<std::string, std::string>> headers;
  std::string data = "{}";
  std::vector<std::string> positional;
  msp::cli::Connection connection;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-v") {
      verbose = true;
      continue;
    }
    if (arg == "-format" && i + 1 < argc) {
      // grpcurl's default; its `text` format is not offered here.
      if (std::string(argv[++i]) != "json") return Usage();
      continue;
    }
    if (arg == "-plaintext" || arg == "-insecure") {
      (arg == "-plaintext" ? connection.plaintext : connection.insecure) = true;
      continue;
    }
    if ((arg == "-cacert" || arg == "-cert" || arg == "-key" || arg == "-authority") &&
        i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "-cacert") connection.cacert = value;
      if (arg == "-cert") connection.cert = value;
      if (arg == "-key") connection.key = value;
      if (arg == "-authority") connection.authority = value;
      continue;
    }
    if ((arg == "-H" || arg == "-d") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "-d") {
        if (value == "@") {
          std::stringstream in;
          in << std::cin.rdbuf();
          data = in.str();
        } else {
          data = value;
        }
        continue;
      }
      const auto colon = value.find(':');
      if (colon == std::string::npos) return Usage();
      std::string name = value.substr(0, colon);
      std::string v = value.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers.emplace_back(name, v);
      continue;
    }
    if (!arg.empty() && arg[0] == '-') return Usage();
    positional.push_back(arg);
  }
  if (positional.size() >= 2 && (positional[1] == "list" || positional[1] == "describe")) {
    if (positional.size() > 3) return Usage();
    try {
      msp::cli::ServerContracts contracts(
          msp::cli::Dial(positional[0], connection, /*tls_by_default=*/true));
      const std::vector<std::string> services = contracts.Services();
      if (positional[1] == "list" && positional.size() == 2) {
        for (const auto& service : services) std::cout << service << "\n";
      } else if (positional[1] == "list") {
        // grpcurl's `list SERVICE`: its methods.
        const std::string described = contracts.Describe(positional[2]);
        std::istringstream lines(described);
        for (std::string line; std::getline(lines, line);) {
          const auto rpc = line.find("rpc ");
          if (rpc == std::string::npos) continue;
          const auto open = line.find('(', rpc);
          std::cout << positional[2] << "." << line.substr(rpc + 4, open - rpc - 4) << "\n";
        }
      } else if (positional.size() == 3) {
        std::cout << contracts.Describe(positional[2]);
      } else {
        for (const auto& service : services) std::cout << contracts.Describe(service) << "\n";
      }
    } catch (const std::exception& e) {
      std::cerr << "Failed: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  if (positional.size() != 2) return Usage();
  std::string method_name = positional[1];
  const auto slash = method_name.rfind('/');
  if (slash == std::string::npos) return Usage();
  const std::string dotted = method_name.substr(0, slash) + "." + method_name.substr(slash + 1);
  const auto* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(dotted);
  if (method == nullptr || (method->client_streaming() && method->server_streaming())) {
    std::cerr << "no unary, client- or server-streaming method " << method_name
              << " in the compiled-in contracts\n";
    return 2;
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<google::protobuf::Message> request(
      factory->GetPrototype(method->input_type())->New());
  std::unique_ptr<google::protobuf::Message> response(
      factory->GetPrototype(method->output_type())->New());
  // A client stream's messages; any other call has one.
  std::vector<std::unique_ptr<google::protobuf::Message>> stream;
  for (const std::string& json :
       method->client_streaming() ? JsonObjects(data) : std::vector<std::string>{data}) {
    auto& message = stream.emplace_back(factory->GetPrototype(method->input_type())->New());
    const auto parsed = google::protobuf::util::JsonStringToMessage(json, message.get());
    if (!parsed.ok()) {
      std::cerr << "bad request JSON: " << parsed.ToString() << "\n";
      return 2;
    }
  }
  if (!method->client_streaming()) request = std::move(stream.front());

  std::shared_ptr<grpc::Channel> channel;
  try {
    channel = msp::cli::Dial(positional[0], connection, /*tls_by_default=*/true);
  } catch (const std::exception& e) {
    std::cerr << "msp_call: " << e.what() << "\n";
    return 2;
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  for (const auto& [name, value] : headers) context.AddMetadata(name, value);
  const std::string path = "/" + method->service()->full_name() + "/" + method->name();
  if (verbose) {
    std::cout << "\nResolved method descriptor:\n"
              << method->DebugString() << "\nRequest metadata to send:\n";
    for (const auto& [name, value] : headers) std::cout << name << ": " << value << "\n";
    if (headers.empty()) std::cout << "(empty)\n";
  }
  int received = 0;
  auto print_answer_metadata = [&] {
    if (!verbose) return;
    auto print = [](const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
      if (metadata.empty()) std::cout << "(empty)\n";
      for (const auto& [name, value] : metadata) {
        std::cout << std::string(name.data(), name.size()) << ": "
                  << std::string(value.data(), value.size()) << "\n";
      }
    };
    std::cout << "\nResponse headers received:\n";
    print(context.GetServerInitialMetadata());
    std::cout << "\nResponse trailers received:\n";
    print(context.GetServerTrailingMetadata());
    std::cout << "Sent " << (method->client_streaming() ? stream.size() : 1) << " request"
              << (method->client_streaming() && stream.size() != 1 ? "s" : "") << " and received "
              << received << " response" << (received == 1 ? "" : "s") << "\n";
  };
  grpc::Status status;
  if (method->client_streaming()) {
    grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::CLIENT_STREAMING,
                                  channel);
    std::unique_ptr<grpc::ClientWriter<google::protobuf::Message>> writer(
        grpc::internal::ClientWriterFactory<google::protobuf::Message>::Create(
            channel.get(), rpc, &context, response.get()));
    for (const auto& message : stream) {
      if (!writer->Write(*message)) break;  // the answer says why
    }
    writer->WritesDone();
    status = writer->Finish();
    if (status.ok()) {
      received = 1;
      if (verbose) std::cout << "\nResponse contents:\n";
      std::cout << ProtoJson(*response);
    }
  } else if (method->server_streaming()) {
    // Like grpcurl: one JSON document per streamed message.
    grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING,
                                  channel);
    std::unique_ptr<grpc::ClientReader<google::protobuf::Message>> reader(
        grpc::internal::ClientReaderFactory<google::protobuf::Message>::Create(channel.get(), rpc,
                                                                               &context, *request));
    if (verbose) std::cout << "\nResponse contents:\n";
    while (reader->Read(response.get())) {
      ++received;
      std::cout << ProtoJson(*response);
    }
    status = reader->Finish();
  } else {
    grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel);
    status =
        grpc::internal::BlockingUnaryCall<google::protobuf::Message, google::protobuf::Message>(
            channel.get(), rpc, &context, *request, response.get());
    if (status.ok()) {
      received = 1;
      if (verbose) std::cout << "\nResponse contents:\n";
      std::cout << ProtoJson(*response);
    }
  }
  print_answer_metadata();
  if (status.ok()) return 0;
  std::cout << "ERROR:\n  Code: " << kCodeNames[std::min(16, static_cast<int>(status.error_code()))]
            << "\n  Message: " << status.error_message() << "\n";
  google::rpc::Status details;
  if (grpc::ExtractErrorDetails(status, &details).ok() && details.details_size() > 0) {
    std::cout << "  Details:\n";
    for (int i = 0; i < details.details_size(); ++i) {
      std::string json = ProtoJson(details.details(i));
      while (!json.empty() && json.back() == '\n') json.pop_back();
      std::cout << "  " << (i + 1) << ")\t";
      for (char c : json) {
        std::cout << c;
        if (c == '\n') std::cout << "    \t";
      }
      std::cout << "\n";
    }
  }
  return 1;
}
