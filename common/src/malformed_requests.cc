#include "msp/common/malformed_requests.h"

#include <google/protobuf/stubs/logging.h>

#include <deque>
#include <mutex>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "msp/common/errors.h"
#include "msp/common/log.h"

namespace msp {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The string field protobuf last found invalid on this thread ("" when none): gRPC parses a
// request and runs the interceptors' POST_RECV_MESSAGE on the same thread.
thread_local std::string invalid_utf8_field;

void ProtobufLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                        const std::string& message) {
  constexpr std::string_view kInvalidUtf8 = "String field '";
  if (message.rfind(kInvalidUtf8, 0) == 0 && message.find("invalid UTF-8") != std::string::npos) {
    const size_t start = kInvalidUtf8.size();
    const size_t end = message.find('\'', start);
    invalid_utf8_field = message.substr(start, end == std::string::npos ? 0 : end - start);
    // A client's bad input, answered as INVALID_ARGUMENT: not the server's error.
    log::Debug("request with invalid UTF-8", {{"field", invalid_utf8_field}});
    return;
  }
  const nlohmann::json fields = {{"source", "protobuf"}, {"file", filename}, {"line", line}};
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      log::Info(message, fields);
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      log::Warn(message, fields);
      break;
    default:
      log::Error(message, fields);
  }
}

std::string MethodFullName(const char* path) {
  // "/pkg.Service/Method" -> "pkg.Service.Method"
  std::string name = path != nullptr && path[0] == '/' ? path + 1 : (path ? path : "");
  const size_t slash = name.rfind('/');
  if (slash != std::string::npos) name[slash] = '.';
  return name;
}

class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(grpc::experimental::ServerRpcInfo* info, const std::string* domain)
      : info_(info), domain_(domain) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // Only methods with one request message: a stream's end also reads no message.
    const bool one_request =
        info_->type() == grpc::experimental::ServerRpcInfo::Type::UNARY ||
        info_->type() == grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING;
    if (one_request &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      malformed_ = methods->GetRecvMessage() == nullptr;
      field_ = std::exchange(invalid_utf8_field, "");
    }
    if (malformed_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(StatusForMalformedRequest());
    }
    methods->Proceed();
  }

 private:
  grpc::Status StatusForMalformedRequest() const {
    const auto* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
        MethodFullName(info_->method()));
    const std::string path =
        method != nullptr && !field_.empty() ? RequestFieldPath(method->input_type(), field_) : "";
    if (!field_.empty()) {
      return ApiError::InvalidArgument({{path.empty() ? field_ : path, "must be UTF-8 text"}},
                                       "INVALID_UTF8")
          .ToStatus(*domain_);
    }
    return ApiError(grpc::StatusCode::INVALID_ARGUMENT, "MALFORMED_REQUEST",
                    absl::StrCat("the request is not a valid ",
                                 method != nullptr ? method->input_type()->full_name()
                                                   : std::string("request"),
                                 " message"))
        .ToStatus(*domain_);
  }

  grpc::experimental::ServerRpcInfo* info_;
  const std::string* domain_;
  bool malformed_ = false;
  std::string field_;
};

class MalformedRequestInterceptorFactoryImpl final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MalformedRequestInterceptorFactoryImpl(std::string domain)
      : domain_(std::move(domain)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MalformedRequestInterceptor(info, &domain_);
  }

 private:
  std::string domain_;
};

}  // namespace

void RouteProtobufLogs() {
  static std::once_flag once;
  std::call_once(once, [] { google::protobuf::SetLogHandler(&ProtobufLogHandler); });
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MalformedRequestInterceptorFactory(std::string error_domain) {
  return std::make_unique<MalformedRequestInterceptorFactoryImpl>(std::move(error_domain));
}

std::string RequestFieldPath(const google::protobuf::Descriptor* request,
                             const std::string& full_field_name) {
  if (request == nullptr) return "";
  std::deque<std::pair<const google::protobuf::Descriptor*, std::string>> queue = {{request, ""}};
  std::set<const google::protobuf::Descriptor*> seen = {request};
  while (!queue.empty()) {
    auto [type, prefix] = queue.front();
    queue.pop_front();
    for (int i = 0; i < type->field_count(); ++i) {
      const auto* field = type->field(i);
      const std::string path =
          prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
      if (field->full_name() == full_field_name) return path;
      const auto* message = field->message_type();
      if (message != nullptr && seen.insert(message).second) queue.push_back({message, path});
    }
  }
  return "";
}

}  // namespace msp
