// pg: migrations, the jobs table's rules (each rejected INSERT with its message), state enum
// parity with common/job_state.hpp, the submitter role.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <pqxx/pqxx>

#include "common/job_params.hpp"
#include "common/job_state.hpp"
#include "common/protocol.hpp"
#include "dispatcher/migrate.hpp"
#include "dispatcher/queries.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/support/pg_cluster.hpp"

namespace {
// Runs an INSERT expected to fail; returns the error's first line.
std::string rejected(const std::string& sql) {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  try {
    tx.exec(sql);
  } catch (const pqxx::sql_error& e) {
    std::string s = e.what();
    return s.substr(0, s.find('\n'));
  }
  return "ACCEPTED";
}
}  // namespace

TEST_CASE("migrate applies every file once and is idempotent") {
  auto& c = ff::test::migrated_cluster();
  auto r = ff::dispatcher::migrate(c.url(), ff::dispatcher::default_schema_dir());
  CHECK(r.applied.empty());
  CHECK(r.skipped.size() >= 2);
  pqxx::connection conn(c.url());
  pqxx::work tx(conn);
  CHECK(tx.exec1("SELECT count(*) FROM framefarm.schema_migrations")[0].as<int>() ==
        static_cast<int>(r.skipped.size()));
  CHECK(tx.exec1("SELECT name FROM framefarm.schema_migrations WHERE version = 1")[0].as<std::string>() ==
        "001_jobs.sql");
}

TEST_CASE("migrate rejects a badly named schema file and a missing directory") {
  auto dir = std::filesystem::temp_directory_path() / "ff-bad-schema";
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "1_x.sql") << "SELECT 1;"; }
  CHECK_THROWS_WITH_AS(ff::dispatcher::list_migrations(dir), doctest::Contains("is not named NNN_name.sql"),
                       std::runtime_error);
  std::filesystem::remove_all(dir);
  CHECK_THROWS_WITH_AS(ff::dispatcher::list_migrations(dir), doctest::Contains("does not exist"),
                       std::runtime_error);
}

TEST_CASE("state enum in SQL equals common/job_state.hpp, in order") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  auto rows = tx.exec("SELECT unnest(enum_range(NULL::framefarm.job_state))::text");
  REQUIRE(rows.size() == ff::kJobStateNames.size());
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i][0].as<std::string>() == ff::kJobStateNames[i]);
}

TEST_CASE("a prompt alone is a valid job with defaults") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  auto r = tx.exec1(
      "INSERT INTO framefarm.jobs (prompt) VALUES ('a cat') RETURNING state::text, attempts, "
      "max_attempts, priority, negative_prompt, model, params::text, run_after <= now()");
  CHECK(r[0].as<std::string>() == "queued");
  CHECK(r[1].as<int>() == 0);
  CHECK(r[2].as<int>() == 3);
  CHECK(r[3].as<int>() == 0);
  CHECK(r[4].as<std::string>().rfind("has_subtitles, has_blurbox", 0) == 0);  // LTX-2.3's default negative
  CHECK(r[5].as<std::string>() == "");
  CHECK(r[6].as<std::string>() == "{}");
  CHECK(r[7].as<bool>());
}

TEST_CASE("bad rows are rejected at INSERT with a readable message") {
  using doctest::Contains;
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES ('')") ==
        "ERROR:  framefarm.jobs: prompt must not be empty");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES (NULL)") ==
        "ERROR:  framefarm.jobs: prompt is required");
  std::string big(ff::proto::kMaxPromptBytes + 1, 'a');
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES ('" + big + "')") ==
        "ERROR:  framefarm.jobs: prompt is 8193 bytes, the maximum is 8192 bytes of UTF-8");
  // exactly the limit is fine
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES ('" + std::string(8192, 'a') + "')") == "ACCEPTED");
  // multi-byte characters count as bytes: 2731 x 3 bytes = 8193
  std::string euros;
  for (int i = 0; i < 2731; ++i) euros += "\xE2\x82\xAC";
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES ('" + euros + "')").find("8193 bytes") !=
        std::string::npos);
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, negative_prompt) VALUES ('a', '" + big + "')") ==
        "ERROR:  framefarm.jobs: negative_prompt is 8193 bytes, the maximum is 8192 bytes of UTF-8");
  // non-UTF-8 bytes never reach the table (database encoding UTF8)
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES (convert_from('\\xff61'::bytea, 'UTF8'))") ==
        "ERROR:  invalid byte sequence for encoding \"UTF8\": 0xff");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt) VALUES (convert_from('\\xc328'::bytea, 'UTF8'))")
            .find("invalid byte sequence for encoding \"UTF8\"") != std::string::npos);
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"widht\": 512}')") ==
        "ERROR:  framefarm.jobs: unknown key \"widht\" in params (allowed: " + ff::params::allowed_keys() + ")");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"width\": 8}')") ==
        "ERROR:  framefarm.jobs: params.width = 8 is out of range [64, 4096]");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"height\": 100000}')") ==
        "ERROR:  framefarm.jobs: params.height = 100000 is out of range [64, 4096]");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"num_frames\": 0}')") ==
        "ERROR:  framefarm.jobs: params.num_frames = 0 is out of range [1, 1025]");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"num_inference_steps\": 501}')") ==
        "ERROR:  framefarm.jobs: params.num_inference_steps = 501 is out of range [1, 500]");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"num_frames\": 2.5}')") ==
        "ERROR:  framefarm.jobs: params.num_frames must be a JSON integer, got 2.5");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '{\"width\": \"512\"}')") ==
        "ERROR:  framefarm.jobs: params.width must be a JSON integer, got \"512\"");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', '[1,2]')") ==
        "ERROR:  framefarm.jobs: params must be a JSON object, got [1, 2]");
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, max_attempts) VALUES ('a', 0)")
            .find("jobs_max_attempts_1_to_100") != std::string::npos);
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, params) VALUES ('a', "
                 "'{\"width\": 512, \"height\": 320, \"num_frames\": 9, \"frame_rate\": 24, "
                 "\"num_inference_steps\": 4, \"video_cfg\": 3.5, \"seed\": 7}')") == "ACCEPTED");
}

TEST_CASE("idempotency key is unique") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  {
    pqxx::work tx(conn);
    tx.exec("INSERT INTO framefarm.jobs (prompt, idempotency_key) VALUES ('a', 'key-1')");
    tx.commit();
  }
  CHECK(rejected("INSERT INTO framefarm.jobs (prompt, idempotency_key) VALUES ('b', 'key-1')")
            .find("jobs_idempotency_key_idx") != std::string::npos);
}

TEST_CASE("an insert NOTIFYs framefarm_jobs") {
  pqxx::connection listener(ff::test::migrated_cluster().url());
  struct R : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    int n = 0;
    void operator()(const std::string&, int) override { ++n; }
  } r(listener, "framefarm_jobs");
  pqxx::connection conn(ff::test::migrated_cluster().url());
  {
    pqxx::work tx(conn);
    tx.exec("INSERT INTO framefarm.jobs (prompt) SELECT 'p' || g FROM generate_series(1, 5) g");
    tx.commit();
  }
  listener.await_notification(5, 0);
  CHECK(r.n == 1);  // one per statement
}

TEST_CASE("the submitter role may insert, read and cancel but not lease or update") {
  auto& c = ff::test::migrated_cluster();
  c.psql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alice') THEN "
         "CREATE ROLE alice LOGIN IN ROLE framefarm_submitter; END IF; END $$");
  pqxx::connection conn(c.url("postgres", "alice"));
  int64_t id = 0;
  {
    pqxx::work tx(conn);
    id = tx.exec1("INSERT INTO framefarm.jobs (prompt, priority) VALUES ('from alice', 5) RETURNING id")[0].as<int64_t>();
    tx.commit();
  }
  {
    pqxx::work tx(conn);
    CHECK(tx.exec1("SELECT state::text FROM framefarm.jobs WHERE id = " + std::to_string(id))[0].as<std::string>() ==
          "queued");
  }
  ff::dispatcher::sql::prepare_all(conn);
  {
    pqxx::work tx(conn);
    CHECK_THROWS_WITH_AS(tx.exec_prepared(ff::dispatcher::sql::kClaimJobs, "alice-dispatcher", 10, "{}", 1000, "{}"),
                         doctest::Contains("permission denied for table jobs"), pqxx::insufficient_privilege);
  }
  {
    pqxx::work tx(conn);
    CHECK_THROWS_AS(tx.exec("UPDATE framefarm.jobs SET state = 'succeeded' WHERE id = " + std::to_string(id)),
                    pqxx::insufficient_privilege);
  }
  {
    pqxx::work tx(conn);
    CHECK_THROWS_AS(tx.exec("INSERT INTO framefarm.jobs (prompt, state) VALUES ('x', 'succeeded')"),
                    pqxx::insufficient_privilege);
  }
  {
    pqxx::work tx(conn);
    CHECK(tx.exec1("SELECT framefarm.request_cancel(" + std::to_string(id) + ")::text")[0].as<std::string>() ==
          "cancelled");
    tx.commit();
  }
}
