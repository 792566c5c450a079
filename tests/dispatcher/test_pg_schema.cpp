// pg: migrations and the jobs table's rules.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "common/job_state.hpp"
#include "dispatcher/migrate.hpp"
#include "tests/support/pg_cluster.hpp"

namespace {
ff::test::PgCluster& cluster() {
  static ff::test::PgCluster c;
  static bool migrated = [] {
    ff::dispatcher::migrate(c.url(), ff::dispatcher::default_schema_dir());
    return true;
  }();
  (void)migrated;
  return c;
}
}  // namespace

TEST_CASE("migrate applies every file once and is idempotent") {
  auto& c = cluster();
  auto r = ff::dispatcher::migrate(c.url(), ff::dispatcher::default_schema_dir());
  CHECK(r.applied.empty());
  CHECK(r.skipped.size() >= 2);
  pqxx::connection conn(c.url());
  pqxx::work tx(conn);
  CHECK(tx.exec1("SELECT count(*) FROM framefarm.schema_migrations")[0].as<int>() ==
        static_cast<int>(r.skipped.size()));
}

TEST_CASE("state enum in SQL equals common/job_state.hpp, in order") {
  pqxx::connection conn(cluster().url());
  pqxx::work tx(conn);
  auto rows = tx.exec("SELECT unnest(enum_range(NULL::framefarm.job_state))::text");
  REQUIRE(rows.size() == ff::kJobStateNames.size());
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i][0].as<std::string>() == ff::kJobStateNames[i]);
}

TEST_CASE("a prompt alone is a valid job") {
  pqxx::connection conn(cluster().url());
  pqxx::work tx(conn);
  auto r = tx.exec1("INSERT INTO framefarm.jobs (prompt) VALUES ('a cat') RETURNING state::text, attempts, max_attempts");
  CHECK(r[0].as<std::string>() == "queued");
  CHECK(r[1].as<int>() == 0);
  CHECK(r[2].as<int>() == 3);
}
