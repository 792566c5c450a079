#include "dispatcher/queries.hpp"

#include <pqxx/pqxx>

namespace ff::dispatcher::sql {

const char* const kMigrationsBootstrap = R"SQL(
CREATE SCHEMA IF NOT EXISTS framefarm;
CREATE TABLE IF NOT EXISTS framefarm.schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))SQL";

const char* const kMigrationsLock = "SELECT pg_advisory_xact_lock(7142003)";
const char* const kMigrationApplied =
    "SELECT name FROM framefarm.schema_migrations WHERE version = $1";
const char* const kMigrationRecord =
    "INSERT INTO framefarm.schema_migrations (version, name) VALUES ($1, $2)";

void prepare_all(pqxx::connection& conn) { (void)conn; }

}  // namespace ff::dispatcher::sql
