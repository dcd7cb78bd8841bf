// The customer service's request validation (CreateCustomer, UpdateCustomer): whatever the
// fields hold, it refuses with INVALID_ARGUMENT naming a field or FAILED_PRECONDITION naming a
// rule, never crashes, and what it accepts can be stored (valid UTF-8, no NUL) and passes again.
#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/str_split.h"
#include "domain/customer_rules.h"
#include "fuzz_support.h"
#include "testdata/sample_customers.h"

namespace {

namespace cv1 = msp::customer::v1;
using msp::fuzz::Check;

// The fields of a customer, one per input line.
cv1::Customer CustomerFrom(const std::vector<std::string>& f) {
  cv1::Customer c;
  auto* company = c.mutable_company();
  company->set_display_name(f[0]);
  company->set_size(static_cast<cv1::CompanySize>(f[1].empty() ? 0 : f[1][0] % 9));
  for (char industry : f[2]) company->add_industries(static_cast<cv1::Industry>(industry % 40));
  company->set_country_code(f[3]);
  company->mutable_address()->set_address_line1(f[4]);
  company->mutable_address()->set_address_line2(f[5]);
  company->mutable_address()->set_city(f[6]);
  company->mutable_address()->set_state(f[7]);
  company->mutable_address()->set_zip_code(f[8]);
  company->set_website_uri(f[9]);
  auto* contact = c.mutable_contact();
  contact->set_first_name(f[10]);
  contact->set_last_name(f[11]);
  contact->set_work_email(f[12]);
  contact->set_phone(f[13]);
  contact->set_job_title(f[14]);
  c.set_management_type(static_cast<cv1::ManagementType>(f[15].empty() ? 1 : f[15][0] % 4));
  return c;
}

void CheckStorable(const cv1::Customer& c) {
  const auto& co = c.company();
  const auto& ct = c.contact();
  for (const std::string* s :
       {&co.display_name(), &co.country_code(), &co.address().address_line1(),
        &co.address().address_line2(), &co.address().city(), &co.address().state(),
        &co.address().zip_code(), &co.website_uri(), &ct.first_name(), &ct.last_name(),
        &ct.work_email(), &ct.phone(), &ct.job_title()}) {
    Check(msp::fuzz::StorableText(*s), "an accepted field is not storable text: " + *s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  const auto fields = msp::fuzz::Fields(data, size, 18);
  static const msp::customer::FreeMailDomains free_mail;

  // CreateCustomer: normalise, then validate.
  cv1::Customer customer = CustomerFrom(fields);
  msp::customer::Normalize(customer);
  cv1::Customer again = customer;
  msp::customer::Normalize(again);
  Check(google::protobuf::util::MessageDifferencer::Equals(again, customer),
        "Normalize is not idempotent");
  bool refused = false;
  try {
    msp::customer::ValidateNewCustomer(customer, free_mail);
  } catch (const msp::ApiError& e) {
    refused = true;
    Check(e.code() == grpc::StatusCode::INVALID_ARGUMENT ||
              e.code() == grpc::StatusCode::FAILED_PRECONDITION,
          "CreateCustomer refused with an unexpected code: " + e.message());
    Check(e.code() != grpc::StatusCode::INVALID_ARGUMENT || !e.field_violations().empty(),
          "INVALID_ARGUMENT without a field");
    Check(e.code() != grpc::StatusCode::FAILED_PRECONDITION || !e.reason().empty(),
          "FAILED_PRECONDITION without a rule");
  }
  if (!refused) {
    CheckStorable(customer);
    Check(msp::customer::ValidateCustomerFields(customer, "customer.").empty(),
          "ValidateNewCustomer passed what ValidateCustomerFields refuses");
  }

  // UpdateCustomer: a valid stored customer, the fuzzed one as the patch, a fuzzed mask.
  cv1::Customer current = msp::customer::testdata::ValidCustomer();
  msp::customer::Normalize(current);
  current.set_state(cv1::ACTIVE);
  const std::vector<std::string> mask = absl::StrSplit(fields[16], ',', absl::SkipEmpty());
  cv1::Customer patch = CustomerFrom(fields);
  try {
    const auto plan = msp::customer::PlanUpdate(current, patch, mask);
    CheckStorable(plan.updated);
    Check(msp::customer::ValidateCustomerFields(plan.updated, "customer.").empty(),
          "PlanUpdate produced a customer that does not validate");
    Check(plan.updated.management_type() == current.management_type(),
          "an update changed the management type");
  } catch (const msp::ApiError& e) {
    Check(e.code() == grpc::StatusCode::INVALID_ARGUMENT ||
              e.code() == grpc::StatusCode::FAILED_PRECONDITION,
          "UpdateCustomer refused with an unexpected code: " + e.message());
  }
  return 0;
}
