#include "msp/common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

namespace msp {
namespace {

// Seconds since the epoch at which the machine booted (/proc/stat's btime).
double BootTime() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double value = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> value;
      return value;
    }
    stat.ignore(1 << 20, '\n');
  }
  return 0;
}

double CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double n = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory stream's own descriptor
}

prometheus::MetricFamily Family(const std::string& name, const std::string& help,
                                prometheus::MetricType type, double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return {name, help, type, {metric}};
}

}  // namespace

ProcessFacts ReadProcessFacts() {
  ProcessFacts facts;
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;
    std::string field;
    while (fields >> field) f.push_back(field);
    // f[0] is field 3 (state): utime 14, stime 15, num_threads 20, starttime 22, vsize 23,
    // rss 24 (pages).
    if (f.size() > 21) {
      const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      facts.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      facts.threads = std::stod(f[17]);
      facts.start_time_seconds = BootTime() + std::stod(f[19]) / ticks;
      facts.virtual_bytes = std::stod(f[20]);
      facts.resident_bytes = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
    }
  }
  facts.open_fds = CountOpenFds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) facts.max_fds = static_cast<double>(limit.rlim_cur);
  return facts;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  const ProcessFacts f = ReadProcessFacts();
  using prometheus::MetricType;
  return {
      Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, f.cpu_seconds),
      Family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             f.resident_bytes),
      Family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             f.virtual_bytes),
      Family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, f.start_time_seconds),
      Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, f.open_fds),
      Family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             f.max_fds),
      Family("process_threads", "Number of OS threads in the process.", MetricType::Gauge,
             f.threads),
  };
}

}  // namespace msp
