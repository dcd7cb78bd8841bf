#include "domain/table_columns.h"

#include <gtest/gtest.h>

#include "msp/common/errors.h"

namespace msp::reporting {
namespace {

google::protobuf::RepeatedField<int> Of(std::initializer_list<int> values) {
  google::protobuf::RepeatedField<int> out;
  for (int v : values) out.Add(v);
  return out;
}

TEST(TableColumns, DefaultsAreTheDomainsInOrder) {
  EXPECT_EQ(DefaultColumns(),
            (std::vector<v1::Column>{v1::NAME, v1::SERVICE_STATUS, v1::CUSTOMER_ID,
                                     v1::MANAGEMENT_TYPE, v1::TOTAL_DEVICES, v1::MODIFIED}));
}

TEST(TableColumns, UnknownAndRepeatedColumnsAreNamed) {
  EXPECT_EQ(ParseColumns("columns", Of({v1::CREATED, v1::NAME})),
            (std::vector<v1::Column>{v1::CREATED, v1::NAME}));
  try {
    ParseColumns("preferences.columns", Of({v1::NAME, 0, v1::NAME, 42}));
    FAIL();
  } catch (const ApiError& e) {
    std::vector<std::string> fields;
    for (const auto& v : e.field_violations()) fields.push_back(v.field);
    EXPECT_EQ(fields, (std::vector<std::string>{"preferences.columns[1]", "preferences.columns[2]",
                                                "preferences.columns[3]"}));
  }
}

TEST(TableColumns, RequestBeatsPreferenceBeatsDefaults) {
  const std::vector<v1::Column> mine = {v1::CUSTOMER_ID, v1::CREATED};
  EXPECT_EQ(EffectiveColumns({v1::NAME}, mine), std::vector<v1::Column>{v1::NAME});
  EXPECT_EQ(EffectiveColumns({}, mine), mine);
  EXPECT_EQ(EffectiveColumns({}, std::nullopt), DefaultColumns());
}

TEST(TableColumns, ARowCarriesOnlyTheColumnsAskedFor) {
  v1::TableRow full;
  full.set_customer("msps/acme/customers/7hq2m4xk9d");
  full.set_state(customer::v1::PENDING);
  full.set_company_name("Contoso");
  full.set_customer_id("7hq2m4xk9d");
  full.set_management_type(customer::v1::JOINTLY_MANAGED);
  full.set_total_devices(12);
  full.mutable_update_time()->set_seconds(100);
  full.mutable_create_time()->set_seconds(50);
  const auto row = ProjectRow(full, {v1::CUSTOMER_ID, v1::CREATED});
  EXPECT_EQ(row.customer(), full.customer());
  EXPECT_EQ(row.state(), customer::v1::PENDING);
  EXPECT_TRUE(row.has_customer_id());
  EXPECT_TRUE(row.has_create_time());
  EXPECT_FALSE(row.has_company_name());
  EXPECT_FALSE(row.has_management_type());
  EXPECT_FALSE(row.has_total_devices());
  EXPECT_FALSE(row.has_update_time());
}

}  // namespace
}  // namespace msp::reporting
