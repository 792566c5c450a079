#include "dispatcher/migrate.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "dispatcher/queries.hpp"

#ifndef FF_SCHEMA_DIR
#error "FF_SCHEMA_DIR must be defined by dispatcher/CMakeLists.txt"
#endif

namespace ff::dispatcher {

std::filesystem::path default_schema_dir() { return FF_SCHEMA_DIR; }

std::vector<MigrationFile> list_migrations(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir))
    throw std::runtime_error("schema directory " + dir.string() + " does not exist");
  static const std::regex re(R"(^([0-9]{3})_[A-Za-z0-9_]+\.sql$)");
  std::map<int, MigrationFile> by_version;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (e.path().extension() != ".sql") continue;
    std::smatch m;
    if (!std::regex_match(name, m, re))
      throw std::runtime_error("schema file " + name + " is not named NNN_name.sql");
    int v = std::stoi(m[1].str());
    if (by_version.count(v))
      throw std::runtime_error("schema files " + by_version[v].name + " and " + name +
                               " share version " + m[1].str());
    by_version[v] = MigrationFile{v, name, e.path()};
  }
  std::vector<MigrationFile> out;
  for (auto& [v, f] : by_version) out.push_back(f);
  return out;
}

MigrateReport migrate(pqxx::connection& conn, const std::filesystem::path& dir) {
  auto files = list_migrations(dir);
  MigrateReport report;
  {
    pqxx::work tx(conn);
    tx.exec(sql::kMigrationsBootstrap);
    tx.commit();
  }
  for (const auto& f : files) {
    std::ifstream in(f.path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + f.path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    pqxx::work tx(conn);
    tx.exec(sql::kMigrationsLock);  // serialise concurrent migrators
    auto done = tx.exec_params(sql::kMigrationApplied, f.version);
    if (!done.empty()) {
      std::string applied_name = done[0][0].as<std::string>();
      if (applied_name != f.name)
        throw std::runtime_error("schema version " + std::to_string(f.version) + " was applied as " +
                                 applied_name + " but the file is now " + f.name);
      report.skipped.push_back(f.name);
      continue;  // tx rolls back (nothing done)
    }
    try {
      tx.exec(ss.str());
    } catch (const pqxx::sql_error& e) {
      throw std::runtime_error("migration " + f.name + " failed: " + e.what());
    }
    tx.exec_params(sql::kMigrationRecord, f.version, f.name);
    tx.commit();
    report.applied.push_back(f.name);
  }
  return report;
}

MigrateReport migrate(const std::string& url, const std::filesystem::path& dir) {
  pqxx::connection conn(url);
  return migrate(conn, dir);
}

}  // namespace ff::dispatcher
