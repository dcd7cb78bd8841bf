#pragma once

#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace msp {

// The process_* metrics Prometheus' client libraries export (CPU, memory, file descriptors,
// start time, threads), read from /proc/self at each scrape, so that standard dashboards and
// alerts work on these processes as on any other.
class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// The parsed /proc/self facts behind them; exposed for tests.
struct ProcessFacts {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double open_fds = 0;
  double max_fds = 0;
  double threads = 0;
};
ProcessFacts ReadProcessFacts();

}  // namespace msp
