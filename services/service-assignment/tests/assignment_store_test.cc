// The assignment store against a real PostgreSQL.
#include "store/assignment_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "processes.h"

namespace msp::assignment {
namespace {

class AssignmentStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    conninfo_ = new std::string(testing::NewDatabase("assignment_store"));
    pg::Connection conn(*conninfo_, 10000);
    ApplyMigrations(conn, "assignment", AssignmentSchemaMigrations());
    pool_ =
        new pg::Pool({*conninfo_, 8, std::chrono::milliseconds(2000), 5000, "assignment, public"});
  }
  static void TearDownTestSuite() {
    delete pool_;
    delete conninfo_;
  }

  static inline std::string* conninfo_ = nullptr;
  static inline pg::Pool* pool_ = nullptr;
  AssignmentStore store_;
};

google::protobuf::Timestamp At(int64_t seconds) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  return ts;
}

TEST_F(AssignmentStoreTest, AssigningIsANoOpForServicesAlreadyThere) {
  auto conn = pool_->Acquire();
  EXPECT_EQ(store_.Assign(*conn, "m1", "aaaaaaaaa1", {v1::KNOX_MANAGE, v1::KNOX_GUARD}).size(), 2u);
  const auto again = store_.Assign(*conn, "m1", "aaaaaaaaa1", {v1::KNOX_GUARD, v1::KNOX_EFOTA});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0], v1::KNOX_EFOTA);
  const auto services = store_.List(*conn, "m1", "aaaaaaaaa1");
  ASSERT_EQ(services.size(), 3u);
  EXPECT_EQ(services[0].service(), v1::KNOX_MANAGE);  // in service order
  EXPECT_EQ(services[0].name(), "msps/m1/customers/aaaaaaaaa1/services/knox-manage");
  EXPECT_EQ(services[0].state(), v1::AssignedService::ACTIVE);
  // Another MSP sees none of them.
  EXPECT_TRUE(store_.List(*conn, "m2", "aaaaaaaaa1").empty());
  EXPECT_TRUE(store_.ListMany(*conn, "m2", {"aaaaaaaaa1"}).empty());
  EXPECT_EQ(
      store_.ListMany(*conn, "m1", {"aaaaaaaaa1", "zzzzzzzzz9"}).at("aaaaaaaaa1").services.size(),
      3u);
}

TEST_F(AssignmentStoreTest, EndedServicesComeBackOnlyWhenAddedAgain) {
  auto conn = pool_->Acquire();
  store_.Assign(*conn, "m1", "bbbbbbbbb1", {v1::KNOX_CONFIGURE});
  const auto ended = store_.EndAll(*conn, "m1", "bbbbbbbbb1", "DELINKED");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].state(), v1::AssignedService::ENDED);
  // Re-added by the MSP that manages the customer now.
  ASSERT_EQ(store_.Assign(*conn, "m3", "bbbbbbbbb1", {v1::KNOX_CONFIGURE}).size(), 1u);
  EXPECT_TRUE(store_.List(*conn, "m1", "bbbbbbbbb1").empty());
  EXPECT_EQ(store_.List(*conn, "m3", "bbbbbbbbb1")[0].state(), v1::AssignedService::ACTIVE);
}

TEST_F(AssignmentStoreTest, ConcurrentTransactionsCreateATenantIdOnce) {
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      pg::WithTransaction(*pool_, [&](pg::Transaction& tx) {
        const bool ok = store_.CreateTenant(tx.conn(), "race.example.de",
                                            "cccccccc" + std::to_string(10 + i), "m1");
        // Hold the transaction open a little so the others queue on the key.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        tx.Commit();
        if (ok) ++created;
        return 0;
      });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  auto conn = pool_->Acquire();
  EXPECT_EQ(store_.TakenTenantIds(*conn, {"race.example.de", "free.example.de"}),
            std::set<std::string>{"race.example.de"});
}

TEST_F(AssignmentStoreTest, DeviceCountsApplyOnlyWhenNewer) {
  auto conn = pool_->Acquire();
  store_.Assign(*conn, "m1", "ddddddddd1", {v1::KNOX_MOBILE_ENROLLMENT});
  v1::ReportDeviceCountsRequest request;
  auto* r = request.add_reports();
  r->set_customer_id("ddddddddd1");
  r->set_service(v1::KNOX_MOBILE_ENROLLMENT);
  r->set_device_count(50);
  *r->mutable_observe_time() = At(2000);
  auto* older_in_batch = request.add_reports();
  *older_in_batch = *r;
  older_in_batch->set_device_count(1);
  *older_in_batch->mutable_observe_time() = At(1000);
  auto* missing = request.add_reports();
  *missing = *r;
  missing->set_customer_id("eeeeeeeee1");
  const auto results = store_.ApplyDeviceCounts(*conn, request, {true, false, true});
  EXPECT_EQ(results,
            (std::vector<v1::ReportDeviceCountsResponse::Result>{
                v1::ReportDeviceCountsResponse::APPLIED, v1::ReportDeviceCountsResponse::STALE,
                v1::ReportDeviceCountsResponse::UNKNOWN_SERVICE}));
  // The same report again, and an older one, are stale.
  v1::ReportDeviceCountsRequest replay;
  *replay.add_reports() = *r;
  *replay.add_reports() = *older_in_batch;
  EXPECT_EQ(store_.ApplyDeviceCounts(*conn, replay, {true, true}),
            (std::vector<v1::ReportDeviceCountsResponse::Result>{
                v1::ReportDeviceCountsResponse::STALE, v1::ReportDeviceCountsResponse::STALE}));
  const auto services = store_.List(*conn, "m1", "ddddddddd1");
  EXPECT_EQ(services[0].device_count(), 50);
  EXPECT_EQ(services[0].device_counts_observe_time().seconds(), 2000);
}

TEST_F(AssignmentStoreTest, EveryChangeOfServicesBumpsTheVersionAndQueuesAChangeEvent) {
  auto conn = pool_->Acquire();
  auto events = [&] {
    // The trigger's topic (migrations/0004 spells it in SQL) is the relay's.
    return conn
        ->Exec(
            "SELECT message_key FROM outbox WHERE topic = $1 AND message_key LIKE 'fffffffff1:%' "
            "ORDER BY id",
            {kServicesChangedTopic})
        .rows();
  };
  // One statement adding two services: one version, one event.
  store_.Assign(*conn, "m1", "fffffffff1", {v1::KNOX_MANAGE, v1::KNOX_GUARD});
  EXPECT_EQ(events(), 1);
  auto snapshots = store_.Snapshots(*conn, {"fffffffff1", "nosuchcust"});
  ASSERT_EQ(snapshots.size(), 1u);  // a customer without services has no snapshot
  const auto& snapshot = snapshots.at("fffffffff1");
  EXPECT_EQ(snapshot.version, 1);
  EXPECT_EQ(snapshot.msp_id, "m1");
  EXPECT_EQ(snapshot.services.size(), 2u);
  // Nothing added: no change, no event.
  store_.Assign(*conn, "m1", "fffffffff1", {v1::KNOX_GUARD});
  EXPECT_EQ(events(), 1);
  v1::ReportDeviceCountsRequest request;
  auto* r = request.add_reports();
  r->set_customer_id("fffffffff1");
  r->set_service(v1::KNOX_GUARD);
  r->set_device_count(12);
  *r->mutable_observe_time() = At(5000);
  store_.ApplyDeviceCounts(*conn, request, {true});
  EXPECT_EQ(events(), 2);
  EXPECT_EQ(store_.Snapshots(*conn, {"fffffffff1"}).at("fffffffff1").version, 2);
  EXPECT_EQ(store_.ListMany(*conn, "m1", {"fffffffff1"}).at("fffffffff1").version, 2);
}

}  // namespace
}  // namespace msp::assignment
