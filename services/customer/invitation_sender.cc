#include "invitation_sender.h"

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "msp/common/channels.h"
#include "msp/common/errors.h"
#include "msp/common/resource_names.h"

namespace msp::customer {
namespace {

bool RowCannotChangeIt(grpc::StatusCode code) {
  return IsPermanentRefusal(code) || code == grpc::StatusCode::NOT_FOUND ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// The refusal as the row's result reads it: the fields it names, or its reason.
ApiError RefusalOf(const grpc::Status& status) {
  std::vector<FieldViolation> violations;
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::BadRequest bad;
      if (!any.UnpackTo(&bad)) continue;
      for (const auto& v : bad.field_violations()) {
        violations.push_back({v.field(), v.description()});
      }
    }
  }
  if (!violations.empty()) return ApiError::InvalidArgument(std::move(violations));
  return ApiError(status.error_code(), ErrorReasonOf(status), status.error_message());
}

}  // namespace

InvitationSender::InvitationSender(std::shared_ptr<grpc::Channel> onboarding,
                                   const auth::ServiceToken* token)
    : stub_(onboarding::v1::OnboardingService::NewStub(std::move(onboarding))), token_(token) {}

void InvitationSender::Send(const std::string& actor,
                            onboarding::v1::CreateInvitationRequest request, Done done) {
  struct Call {
    grpc::ClientContext context;
    onboarding::v1::CreateInvitationRequest request;
    onboarding::v1::Invitation response;
    Done done;
  };
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->done = std::move(done);
  const auto msp = ParseResourceName("msps/{msp}", call->request.parent());
  PrepareInternalCall(call->context, *token_, std::chrono::seconds(10),
                      auth::OnBehalfOfActor(actor, msp ? (*msp)[0] : "", ""));
  stub_->async()->CreateInvitation(
      &call->context, &call->request, &call->response, [call](const grpc::Status& status) {
        if (status.ok()) {
          call->done(call->response, nullptr);
        } else if (RowCannotChangeIt(status.error_code())) {
          call->done(call->response, std::make_exception_ptr(RefusalOf(status)));
        } else {
          call->done(
              call->response,
              std::make_exception_ptr(std::runtime_error(absl::StrCat(
                  "CreateInvitation: code ", status.error_code(), ": ", status.error_message()))));
        }
      });
}

}  // namespace msp::customer
