#pragma once

#include <string>
#include <vector>

#include "domain/customer_rules.h"
#include "msp/common/knox_services.h"
#include "msp/customer/v1/customer.pb.h"
#include "store/customer_creator.h"

// CreateCustomer's write path up to the store, shared by the RPC and a bulk job's rows: the
// request checked as CreateCustomer checks it, the customer to insert, and what depends on its
// id (its services' names, the outbox messages that assign them and send a jointly managed
// account its set-up email).
namespace msp::customer {

struct PreparedCustomer {
  NewCustomer customer;
  CustomerCreator::WithId with_id;
};

// Normalises and checks `request` (throws ApiError INVALID_ARGUMENT naming the field) for MSP
// `msp_id`; `request_id` (may be empty) makes the write idempotent.
PreparedCustomer PrepareCreate(const std::string& msp_id, const std::string& actor,
                               const std::string& request_id,
                               const v1::CreateCustomerRequest& request,
                               const FreeMailDomains& free_mail);

// The outbox message that has the onboarding service send a jointly managed customer its
// account-set-up email (request id: one email per customer and occasion).
std::string AccountSetupPayload(const std::string& customer_name, const std::string& request_id);

}  // namespace msp::customer
