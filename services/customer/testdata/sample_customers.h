#pragma once

#include <string>

#include "msp/customer/v1/customer.pb.h"

namespace msp::customer::testdata {

// A complete, valid new customer: tests change one thing at a time, the load generator varies
// the company and email.
inline v1::Customer ValidCustomer(const std::string& company = "Example GmbH",
                                  const std::string& email = "erika@example.de",
                                  v1::ManagementType type = v1::FULLY_MANAGED) {
  v1::Customer c;
  auto* company_msg = c.mutable_company();
  company_msg->set_display_name(company);
  company_msg->set_size(v1::COMPANY_SIZE_100_249);
  company_msg->add_industries(v1::MANUFACTURING);
  company_msg->add_industries(v1::RETAIL);
  company_msg->set_country_code("DE");
  auto* address = company_msg->mutable_address();
  address->set_address_line1("Hauptstr. 1");
  address->set_city("Berlin");
  address->set_state("Berlin");
  address->set_zip_code("10115");
  company_msg->set_website_uri("https://example.de");
  auto* contact = c.mutable_contact();
  contact->set_first_name("Erika");
  contact->set_last_name("Mustermann");
  contact->set_work_email(email);
  contact->set_phone("+49 30 1234567");
  contact->set_job_title("IT lead");
  c.set_management_type(type);
  return c;
}

}  // namespace msp::customer::testdata
