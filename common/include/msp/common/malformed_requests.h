#pragma once

#include <memory>
#include <string>

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/server_interceptor.h>

// Requests gRPC cannot parse never reach a handler: a proto3 string field holding invalid UTF-8
// made gRPC answer UNIMPLEMENTED (callback handlers) or INTERNAL (sync handlers), without
// ErrorInfo. This server interceptor turns such an answer into INVALID_ARGUMENT in the
// google.rpc.Status model, naming the field when protobuf said which one.
namespace msp {

// Routes protobuf's own log lines into the JSON log (they were raw "[libprotobuf ERROR ...]"
// lines on stderr) and remembers, per thread, which string field a failed parse found invalid.
// Idempotent; called by ServiceHost before serving.
void RouteProtobufLogs();

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MalformedRequestInterceptorFactory(std::string error_domain);

// The request field path ("customer.company.address.city") of the field whose full name
// protobuf reports ("msp.customer.v1.PostalAddress.city"), searched breadth first from the
// request type; "" when the request has no such field. Exposed for tests.
std::string RequestFieldPath(const google::protobuf::Descriptor* request,
                             const std::string& full_field_name);

}  // namespace msp
