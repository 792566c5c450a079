// Schema migrations: schema/NNN_name.sql files applied in numeric order, each once, each in its
// own transaction, recorded in framefarm.schema_migrations. Safe to run concurrently (an
// advisory lock serialises migrators) and repeatedly (already-applied files are skipped).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace ff::dispatcher {

struct MigrationFile {
  int version = 0;             // NNN
  std::string name;            // file name, e.g. "001_jobs.sql"
  std::filesystem::path path;
};

struct MigrateReport {
  std::vector<std::string> applied;  // files applied by this call, in order
  std::vector<std::string> skipped;  // files already applied before
};

// Schema directory of the source tree this binary was built from (compile definition).
std::filesystem::path default_schema_dir();

// Lists NNN_*.sql files of `dir` sorted by version; throws std::runtime_error naming the bad
// file on duplicates or malformed names, or if dir does not exist.
std::vector<MigrationFile> list_migrations(const std::filesystem::path& dir);

// Applies the pending migrations of `dir` on `conn` (caller's thread); throws on SQL errors with
// the file name in the message (that file's transaction is rolled back).
MigrateReport migrate(pqxx::connection& conn, const std::filesystem::path& dir);

// Convenience: connects to `url` ("" = libpq environment) and migrates.
MigrateReport migrate(const std::string& url, const std::filesystem::path& dir);

}  // namespace ff::dispatcher
