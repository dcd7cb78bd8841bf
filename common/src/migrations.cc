#include "msp/common/migrations.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "msp/common/log.h"

namespace msp {

std::vector<Migration> CombineMigrations(std::vector<Migration> own,
                                         const std::vector<Migration>& shared) {
  own.insert(own.end(), shared.begin(), shared.end());
  std::sort(own.begin(), own.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < own.size(); ++i) {
    if (own[i].version == own[i - 1].version) {
      throw std::logic_error(absl::StrCat("two migrations with version ", own[i].version, ": ",
                                          own[i - 1].name, " and ", own[i].name));
    }
  }
  return own;
}

int ApplyMigrations(pg::Connection& conn, const std::string& schema,
                    const std::vector<Migration>& migrations) {
  for (char c : schema) {
    if (!(std::islower(static_cast<unsigned char>(c)) || c == '_')) {
      throw std::invalid_argument("schema names are lower case letters and underscores");
    }
  }
  // One lock for every service's migrations, not one per schema: they share the database's
  // objects (CREATE EXTENSION pg_trgm races between services started at once otherwise), and
  // they take milliseconds.
  const std::string lock_key = "msp-migrations";
  conn.Exec("SELECT pg_advisory_lock(hashtext($1))", {lock_key});
  int applied = 0;
  try {
    conn.ExecScript(absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", schema,
                                 "; CREATE TABLE IF NOT EXISTS ", schema,
                                 ".schema_migrations (version integer PRIMARY KEY, name text NOT "
                                 "NULL, applied_at timestamptz NOT NULL DEFAULT now())"));
    std::set<int> done;
    auto rows = conn.Exec(absl::StrCat("SELECT version FROM ", schema, ".schema_migrations"));
    for (int i = 0; i < rows.rows(); ++i) done.insert(static_cast<int>(rows.Int64(i, 0)));
    int newest_known = 0;
    for (const auto& m : migrations) newest_known = std::max(newest_known, m.version);
    if (!done.empty() && *done.rbegin() > newest_known) {
      log::Warn(
          "database schema is newer than this binary",
          {{"schema", schema}, {"db_version", *done.rbegin()}, {"binary_version", newest_known}});
    }
    for (const auto& m : migrations) {
      if (done.count(m.version) != 0) continue;
      conn.ExecScript(absl::StrCat("BEGIN; SET LOCAL search_path TO ", schema, ", public;\n", m.sql,
                                   "\n;INSERT INTO ", schema,
                                   ".schema_migrations (version, name) VALUES (", m.version, ", '",
                                   m.name, "'); COMMIT;"));
      log::Info("applied migration",
                {{"schema", schema}, {"version", m.version}, {"name", m.name}});
      ++applied;
    }
  } catch (...) {
    try {
      conn.ExecScript("ROLLBACK");
    } catch (...) {
    }
    conn.Exec("SELECT pg_advisory_unlock(hashtext($1))", {lock_key});
    throw;
  }
  conn.Exec("SELECT pg_advisory_unlock(hashtext($1))", {lock_key});
  return applied;
}

}  // namespace msp
