#include "msp/common/startup.h"

#include <thread>

#include "msp/common/log.h"

namespace msp {

void MigrateAtStartup(const std::string& conninfo, const std::string& schema,
                      const std::vector<Migration>& migrations, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    try {
      pg::Connection conn(conninfo, 600000);
      ApplyMigrations(conn, schema, migrations);
      return;
    } catch (const pg::PgError& e) {
      if (!e.connection_lost() || std::chrono::steady_clock::now() > deadline) throw;
      log::Warn("database not reachable yet; retrying", {{"error", e.what()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

}  // namespace msp
