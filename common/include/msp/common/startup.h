#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "msp/common/migrations.h"
#include "msp/common/pg.h"

namespace msp {

// Connects (retrying while the database comes up, for at most `timeout`) and applies the
// service's migrations. Throws when the database stays unreachable.
void MigrateAtStartup(const std::string& conninfo, const std::string& schema,
                      const std::vector<Migration>& migrations, std::chrono::seconds timeout);

}  // namespace msp
