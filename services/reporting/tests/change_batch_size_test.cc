// How the change consumer sizes its reads to the backlog (the policy alone; the consumer runs
// against Redis and PostgreSQL in the e2e and fault suites).
#include <gtest/gtest.h>

#include "change_consumer.h"

namespace msp::reporting {
namespace {

TEST(ChangeBatchSize, GrowsWhileReadsComeBackFullAndShrinksBackAfter) {
  ChangeConsumer::Options options;
  options.batch_size = 500;
  options.max_batch_size = 4000;
  int asked = options.batch_size;
  // A backlog: every read full.
  std::vector<int> sizes;
  for (int i = 0; i < 5; ++i) {
    asked = ChangeConsumer::NextReadCount(options, asked, asked);
    sizes.push_back(asked);
  }
  EXPECT_EQ(sizes, (std::vector<int>{1000, 2000, 4000, 4000, 4000}));
  // Caught up: reads come back short, and the size goes back down by halves, not below.
  sizes.clear();
  for (int i = 0; i < 5; ++i) {
    asked = ChangeConsumer::NextReadCount(options, asked, 3);
    sizes.push_back(asked);
  }
  EXPECT_EQ(sizes, (std::vector<int>{2000, 1000, 500, 500, 500}));
}

}  // namespace
}  // namespace msp::reporting
