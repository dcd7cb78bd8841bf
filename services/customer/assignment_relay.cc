#include "assignment_relay.h"

#include "absl/strings/str_cat.h"
#include "msp/common/auth.h"
#include "msp/common/errors.h"
#include "msp/common/identities.h"
#include "msp/common/knox_services.h"
#include "msp/common/log.h"
#include "msp/common/tenancy.h"
#include "store/customer_store.h"

namespace msp::customer {

bool IsFinalAssignmentRefusal(const grpc::Status& status) {
  return IsPermanentRefusal(status.error_code()) &&
         ErrorReasonOf(status) != "CUSTOMER_DELINK_REQUESTED";
}

outbox::Handler AssignServicesHandler(AssignmentClient* client, pg::Pool* pool) {
  return [client, pool](const outbox::Message& message) {
    assignment::v1::AssignServicesRequest request;
    if (!request.ParseFromString(message.payload)) {
      throw std::runtime_error("unreadable assign-services payload");
    }
    // For the admin who created the customer (message_key is the customer id).
    const auto on_behalf_of =
        auth::OnBehalfOfActor(message.on_behalf_of, message.msp_id, message.key);
    assignment::v1::AssignServicesResponse response;
    const grpc::Status status = client->AssignServices(request, on_behalf_of, &response);
    if (status.ok()) return;
    if (!IsFinalAssignmentRefusal(status)) {
      throw std::runtime_error(
          absl::StrCat("AssignServices: code ", status.error_code(), ": ", status.error_message()));
    }
    std::string reason = ErrorReasonOf(status);
    if (reason.empty()) reason = "ASSIGNMENT_REFUSED";
    // A taken tenant id concerns Knox Manage only: the other services are assigned (with a
    // request id of their own), and only Knox Manage shows PROVISIONING_FAILED.
    if (reason == "KNOX_MANAGE_TENANT_ID_TAKEN" && request.services_size() > 1) {
      assignment::v1::AssignServicesRequest others = request;
      others.clear_services();
      for (int s : request.services()) {
        if (s != assignment::v1::KNOX_MANAGE) {
          others.add_services(static_cast<knox::KnoxService>(s));
        }
      }
      others.clear_knox_manage_tenant_prefix();
      others.set_request_id(request.request_id() + "-without-km");
      assignment::v1::AssignServicesResponse others_response;
      const grpc::Status others_status =
          client->AssignServices(others, on_behalf_of, &others_response);
      if (!others_status.ok() && !IsFinalAssignmentRefusal(others_status)) {
        throw std::runtime_error(absl::StrCat("AssignServices without Knox Manage: code ",
                                              others_status.error_code(), ": ",
                                              others_status.error_message()));
      }
    }
    log::Warn(
        "service assignment refused",
        {{"customer", request.parent()}, {"reason", reason}, {"detail", status.error_message()}});
    // message_key is the customer id; msp_id is the customer's MSP. The failure is in the
    // customer's trail too, with whom the assignment was for.
    pg::WithTransaction(*pool, [&](pg::Transaction& tx) {
      CustomerStore store;
      store.SetServicesError(tx.conn(), message.msp_id, message.key, reason);
      store.AppendEvent(tx.conn(), message.msp_id, message.key, "SERVICES_PROVISIONING_FAILED",
                        auth::ServiceActor(identity::kCustomer, on_behalf_of), {"services_error"},
                        request.request_id());
      tx.Commit();
    });
  };
}

}  // namespace msp::customer
