#pragma once

#include <string>
#include <vector>

#include "msp/common/pg.h"

namespace msp {

// One versioned SQL file of a service (migrations/NNNN_name.sql), compiled into the binary.
struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Brings `schema` up to the newest migration. Several replicas may start at once: a
// PostgreSQL advisory lock keyed by the schema lets one apply and the others wait, then find
// nothing left to do. Each migration commits together with its row in schema_migrations.
// Returns how many migrations were applied.
// A service's own migrations (its migrations/ folder) together with the common tables it uses
// (outbox, idempotency keys), ordered by version. Throws std::logic_error when two share a
// version: each shared table takes a version number the folder leaves out.
std::vector<Migration> CombineMigrations(std::vector<Migration> own,
                                         const std::vector<Migration>& shared);

int ApplyMigrations(pg::Connection& conn, const std::string& schema,
                    const std::vector<Migration>& migrations);

}  // namespace msp
