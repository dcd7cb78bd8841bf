// Applying change events to a read-model row, and what the table derives from it.
#include "domain/read_model.h"

#include <gtest/gtest.h>

#include "msp/common/timestamps.h"

namespace msp::reporting {
namespace {

using assignment::v1::AssignedService;

events::v1::CustomerChanged Account(int64_t version, const std::string& msp,
                                    const std::string& company = "Acme GmbH") {
  events::v1::CustomerChanged e;
  e.set_customer_id("c0000000001");
  e.set_msp_id(msp);
  e.set_version(version);
  e.mutable_customer()->set_customer_id("c0000000001");
  e.mutable_customer()->set_state(customer::v1::ACTIVE);
  e.mutable_customer()->mutable_company()->set_display_name(company);
  e.mutable_customer()->mutable_contact()->set_first_name("Ada");
  e.mutable_customer()->mutable_contact()->set_last_name("Lovelace");
  e.mutable_customer()->mutable_contact()->set_work_email("Ada@Acme.example");
  SetTimestampMicros(e.mutable_change_time(), version * 1000);
  return e;
}

AssignedService Service(const std::string& msp, assignment::v1::KnoxService service,
                        AssignedService::State state, int64_t devices) {
  AssignedService s;
  s.set_name("msps/" + msp + "/customers/c0000000001/services/x");
  s.set_service(service);
  s.set_state(state);
  s.set_device_count(devices);
  return s;
}

events::v1::CustomerServicesChanged Services(int64_t version, const std::string& msp,
                                             std::vector<AssignedService> services) {
  events::v1::CustomerServicesChanged e;
  e.set_customer_id("c0000000001");
  e.set_msp_id(msp);
  e.set_version(version);
  for (auto& s : services) *e.add_services() = s;
  SetTimestampMicros(e.mutable_change_time(), version * 1000);
  return e;
}

TEST(ReadModel, KeepsTheHighestVersionWhateverTheOrder) {
  ReadModelRow row;
  EXPECT_TRUE(ApplyCustomerChanged(row, Account(2, "m1", "Second")));
  EXPECT_FALSE(ApplyCustomerChanged(row, Account(1, "m1", "First")));   // late
  EXPECT_FALSE(ApplyCustomerChanged(row, Account(2, "m1", "Second")));  // repeat
  EXPECT_EQ(row.account.company().display_name(), "Second");
  EXPECT_TRUE(ApplyCustomerChanged(row, Account(3, "m1", "Third")));
  EXPECT_EQ(row.account.company().display_name(), "Third");
  EXPECT_EQ(row.change_time_micros, 3000);
}

TEST(ReadModel, ServicesBeforeTheAccountAreKept) {
  ReadModelRow row;
  EXPECT_TRUE(ApplyServicesChanged(
      row,
      Services(1, "m1", {Service("m1", assignment::v1::KNOX_GUARD, AssignedService::ACTIVE, 4)})));
  EXPECT_EQ(row.customer_version, 0);  // not shown yet
  EXPECT_TRUE(ApplyCustomerChanged(row, Account(1, "m1")));
  const TableFacts facts = DeriveFacts(row);
  ASSERT_EQ(facts.services.size(), 1u);
  EXPECT_EQ(facts.total_devices, 4);
}

TEST(ReadModel, FactsSplitKnoxManageAndSkipEndedAndOtherMsps) {
  ReadModelRow row;
  ApplyCustomerChanged(row, Account(1, "m2"));
  ApplyServicesChanged(
      row,
      Services(5, "m2",
               {Service("m2", assignment::v1::KNOX_MOBILE_ENROLLMENT, AssignedService::ACTIVE, 10),
                Service("m2", assignment::v1::KNOX_MANAGE, AssignedService::ACTIVE, 0),
                Service("m2", assignment::v1::KNOX_GUARD, AssignedService::ENDED, 7),
                // Left behind under the MSP it was delinked from.
                Service("m1", assignment::v1::KNOX_EFOTA, AssignedService::ENDED, 99)}));
  const TableFacts facts = DeriveFacts(row);
  ASSERT_EQ(facts.services.size(), 3u);
  EXPECT_EQ(facts.total_devices, 10);
  ASSERT_TRUE(facts.knox_manage_devices.has_value());
  EXPECT_EQ(*facts.knox_manage_devices, 0);  // uses Knox Manage, no devices: 0, not "-"
  EXPECT_EQ(facts.service_mask,
            (1 << assignment::v1::KNOX_MOBILE_ENROLLMENT) | (1 << assignment::v1::KNOX_MANAGE));
  EXPECT_EQ(facts.search_text, "acme gmbh c0000000001 ada lovelace ada@acme.example");
}

TEST(ReadModel, RequestedServicesShowUntilAssigned) {
  ReadModelRow row;
  auto account = Account(1, "m1");
  *account.mutable_customer()->add_services() =
      Service("m1", assignment::v1::KNOX_MANAGE, AssignedService::PROVISIONING, 0);
  *account.mutable_customer()->add_services() =
      Service("m1", assignment::v1::KNOX_GUARD, AssignedService::PROVISIONING, 0);
  ApplyCustomerChanged(row, account);
  TableFacts facts = DeriveFacts(row);
  ASSERT_EQ(facts.services.size(), 2u);
  EXPECT_FALSE(facts.knox_manage_devices.has_value() && *facts.knox_manage_devices != 0);
  ApplyServicesChanged(
      row,
      Services(1, "m1", {Service("m1", assignment::v1::KNOX_MANAGE, AssignedService::ACTIVE, 3)}));
  facts = DeriveFacts(row);
  ASSERT_EQ(facts.services.size(), 2u);
  EXPECT_EQ(facts.services[0].service(), assignment::v1::KNOX_MANAGE);
  EXPECT_EQ(facts.services[0].state(), AssignedService::ACTIVE);
  EXPECT_EQ(facts.services[1].state(), AssignedService::PROVISIONING);
  EXPECT_EQ(facts.service_key, "knox-manage:ACTIVE,knox-guard:PROVISIONING");
}

TEST(ReadModel, NoKnoxManageMeansNoKnoxManageCount) {
  ReadModelRow row;
  ApplyCustomerChanged(row, Account(1, "m1"));
  ApplyServicesChanged(
      row,
      Services(1, "m1", {Service("m1", assignment::v1::KNOX_MANAGE, AssignedService::ENDED, 3)}));
  EXPECT_FALSE(DeriveFacts(row).knox_manage_devices.has_value());
}

// The rule for every state of Knox Manage: a number only while it is ACTIVE (0 included);
// "-" (unset) when requested, awaiting the customer, failed or ended. The same for the other
// services' devices: only ACTIVE services count.
TEST(ReadModel, KnoxManageShowsANumberOnlyWhileActive) {
  const std::vector<std::pair<AssignedService::State, bool>> cases = {
      {AssignedService::PROVISIONING, false},
      {AssignedService::PENDING_CUSTOMER_APPROVAL, false},
      {AssignedService::PROVISIONING_FAILED, false},
      {AssignedService::ENDED, false},
      {AssignedService::ACTIVE, true}};
  for (const auto& [state, shown] : cases) {
    ReadModelRow row;
    ApplyCustomerChanged(row, Account(1, "m1"));
    ApplyServicesChanged(row, Services(1, "m1",
                                       {Service("m1", assignment::v1::KNOX_MANAGE, state, 0),
                                        Service("m1", assignment::v1::KNOX_GUARD, state, 5)}));
    const TableFacts facts = DeriveFacts(row);
    EXPECT_EQ(facts.knox_manage_devices.has_value(), shown) << AssignedService::State_Name(state);
    EXPECT_EQ(facts.total_devices, shown ? 5 : 0) << AssignedService::State_Name(state);
  }
  // Requested at creation and failed before any assignment (the account's own list).
  ReadModelRow failed;
  auto account = Account(1, "m1");
  *account.mutable_customer()->add_services() =
      Service("m1", assignment::v1::KNOX_MANAGE, AssignedService::PROVISIONING_FAILED, 0);
  ApplyCustomerChanged(failed, account);
  EXPECT_FALSE(DeriveFacts(failed).knox_manage_devices.has_value());
}

// An invited customer that has not consented (or refused) is kept without the account details
// the MSP may not see: they never reach the table, details, export or search.
TEST(ReadModel, AnUnconsentedCustomerIsKeptWithoutItsAccountDetails) {
  for (auto state : {customer::v1::PENDING, customer::v1::REJECTED, customer::v1::CANCELED,
                     customer::v1::EXPIRED}) {
    ReadModelRow row;
    auto event = Account(1, "m1");
    event.mutable_customer()->set_state(state);
    event.mutable_customer()->mutable_company()->mutable_address()->set_city("Berlin");
    event.mutable_customer()->mutable_contact()->set_phone("+49301234567");
    ApplyCustomerChanged(row, event);
    EXPECT_EQ(row.account.contact().work_email(), "") << customer::v1::State_Name(state);
    EXPECT_EQ(row.account.contact().phone(), "");
    EXPECT_FALSE(row.account.company().has_address());
    EXPECT_EQ(row.account.contact().last_name(), "Lovelace");
    EXPECT_EQ(DeriveFacts(row).search_text, "acme gmbh c0000000001 ada lovelace ");
  }
}

}  // namespace
}  // namespace msp::reporting
