// Redis addresses: a plain host:port, or the Sentinels and the master's name.
#include <gtest/gtest.h>

#include <stdexcept>

#include "msp/common/redis.h"

namespace msp::redis {
namespace {

TEST(RedisOptions, APlainAddressIsOneServer) {
  const Options options = OptionsFromAddress("redis.msp.svc:6380");
  EXPECT_EQ(options.host, "redis.msp.svc");
  EXPECT_EQ(options.port, 6380);
  EXPECT_TRUE(options.sentinels.empty());
  EXPECT_EQ(OptionsFromAddress("redis").port, 6379);
}

TEST(RedisOptions, ASentinelAddressNamesTheSentinelsAndTheMaster) {
  const Options options =
      OptionsFromAddress("sentinel://sentinel-0:26380,sentinel-1,10.0.0.3:26381/msp-redis");
  EXPECT_EQ(options.master_name, "msp-redis");
  ASSERT_EQ(options.sentinels.size(), 3u);
  EXPECT_EQ(options.sentinels[0].host, "sentinel-0");
  EXPECT_EQ(options.sentinels[0].port, 26380);
  EXPECT_EQ(options.sentinels[1].host, "sentinel-1");
  EXPECT_EQ(options.sentinels[1].port, 26379);  // Sentinel's own default
  EXPECT_EQ(options.sentinels[2].host, "10.0.0.3");
  EXPECT_EQ(options.sentinels[2].port, 26381);
}

TEST(RedisOptions, ASentinelAddressWithoutSentinelsOrMasterIsRefused) {
  EXPECT_THROW(OptionsFromAddress("sentinel://s1:26379"), std::invalid_argument);
  EXPECT_THROW(OptionsFromAddress("sentinel://s1:26379/"), std::invalid_argument);
  EXPECT_THROW(OptionsFromAddress("sentinel:///msp-redis"), std::invalid_argument);
}

}  // namespace
}  // namespace msp::redis
