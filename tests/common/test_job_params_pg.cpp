// pg: the bounds and defaults of a job, defined once in common/job_params.hpp, agree with the
// schema a real PostgreSQL holds after `migrate` and with `framefarm-dispatcher submit`:
// - each bounded column of framefarm.jobs (priority, max_attempts, prompt, negative_prompt,
//   model, idempotency_key) accepts its C++ min and max and refuses one past them with a CHECK
//   violation, and its DEFAULT is the C++ default; submit accepts and refuses the same values
//   before connecting, and a submit without the flag carries the same default;
// - every params key's default in framefarm.job_param_keys is the one `submit --help` shows and
//   the protocol's JobParams{} carries (the table's other columns: test_pg_params.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <variant>

#include <pqxx/pqxx>

#include "common/job_params.hpp"
#include "common/protocol.hpp"
#include "dispatcher/cli.hpp"
#include "dispatcher/migrate.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/support/pg_cluster.hpp"

namespace params = ff::params;
using ff::config::UsageError;
using ff::dispatcher::parse_cli;

namespace {

// INSERT of one job with `column` = `value` (text, cast by PostgreSQL): "ACCEPTED"; for a
// check_violation (SQLSTATE 23514: a CHECK constraint, or the INSERT trigger's readable refusal
// of the same rule) "CHECK " + the constraint's name or the message; else the error's first line.
std::string insert_with(const std::string& column, const std::string& value) {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);  // rolled back
  const std::string prompt = column == "prompt" ? "" : ", prompt";
  try {
    tx.exec_params("INSERT INTO framefarm.jobs (" + column + prompt + ") VALUES ($1" +
                       (prompt.empty() ? "" : ", 'p'") + ")",
                   value);
  } catch (const pqxx::check_violation& e) {
    std::string s = e.what();
    const auto q = s.find("constraint \"");
    return "CHECK " + (q == std::string::npos ? s.substr(0, s.find('\n'))
                                              : s.substr(q + 12, s.find('"', q + 12) - q - 12));
  } catch (const pqxx::sql_error& e) {
    std::string s = e.what();
    return s.substr(0, s.find('\n'));
  }
  return "ACCEPTED";
}

// `submit p --<flag> <value>`'s verdict: "ACCEPTED" or the usage error.
std::string submit_with(const std::string& flag, const std::string& value) {
  try {
    parse_cli({"submit", "p", "--" + flag, value});
  } catch (const UsageError& e) {
    return e.what();
  }
  return "ACCEPTED";
}

// JobParams has no operator==: compare the members the specs name.
bool same_params(const ff::proto::JobParams& a, const ff::proto::JobParams& b) {
  bool same = true;
  for (const auto& s : params::specs()) std::visit([&](auto m) { same = same && a.*m == b.*m; }, s.member);
  return same;
}

const char* value_name(params::Kind k) {
  switch (k) {
    case params::Kind::kInteger: return "N";
    case params::Kind::kNumber: return "X";
    case params::Kind::kBoolean: return "BOOL";
    case params::Kind::kString: return "TEXT";
  }
  return "?";
}

}  // namespace

TEST_CASE("integer columns: the schema's CHECK bounds and DEFAULT are job_params' and submit's") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  const auto row = tx.exec1("INSERT INTO framefarm.jobs (prompt) VALUES ('p') RETURNING priority, max_attempts");
  const auto defaults = parse_cli({"submit", "p"}).submit;
  CHECK(row["priority"].as<int64_t>() == params::kPriority.default_value);
  CHECK(defaults.priority == params::kPriority.default_value);
  CHECK(row["max_attempts"].as<int64_t>() == params::kMaxAttempts.default_value);
  CHECK(defaults.max_attempts == params::kMaxAttempts.default_value);
  for (const auto& col : params::kRowInts) {
    const std::string column(col.column);
    std::string flag = column;
    std::replace(flag.begin(), flag.end(), '_', '-');
    INFO("column ", column);
    for (int64_t v : {col.min, col.max}) {
      CHECK(insert_with(column, std::to_string(v)) == "ACCEPTED");
      CHECK(submit_with(flag, std::to_string(v)) == "ACCEPTED");
    }
    for (int64_t v : {col.min - 1, col.max + 1}) {
      CHECK(insert_with(column, std::to_string(v)).rfind("CHECK ", 0) == 0);
      CHECK(submit_with(flag, std::to_string(v)) ==
            "--" + flag + ": " + std::to_string(v) + " is out of range [" + std::to_string(col.min) + ", " +
                std::to_string(col.max) + "]");
    }
  }
}

TEST_CASE("text columns: the schema's byte bounds are job_params' and submit's") {
  CHECK(params::kPrompt.max_bytes == ff::proto::kMaxPromptBytes);  // what a worker accepts
  const std::map<std::string, std::string> flag_of = {
      {"negative_prompt", "negative"}, {"model", "model"}, {"idempotency_key", "idempotency-key"}};
  for (const auto& col : params::kRowTexts) {
    const std::string column(col.column);
    INFO("column ", column);
    // multi-byte text: the bounds are bytes (octet_length), not characters
    const std::string at_max = std::string(col.max_bytes % 2, 'a') + [&] {
      std::string s;
      for (size_t i = 0; i < col.max_bytes / 2; ++i) s += "\xC3\xA9";
      return s;
    }();
    REQUIRE(at_max.size() == col.max_bytes);
    CHECK(insert_with(column, at_max) == "ACCEPTED");
    CHECK(insert_with(column, at_max + "a").rfind("CHECK ", 0) == 0);
    if (col.min_bytes > 0) CHECK(insert_with(column, "").rfind("CHECK ", 0) == 0);
    else CHECK(insert_with(column, "") == "ACCEPTED");
    if (column == "prompt") {
      CHECK_NOTHROW(parse_cli({"submit", at_max}));
      CHECK_THROWS_WITH_AS(parse_cli({"submit", at_max + "a"}), doctest::Contains("the maximum is"), UsageError);
      CHECK_THROWS_WITH_AS(parse_cli({"submit", ""}), doctest::Contains("must not be empty"), UsageError);
      continue;
    }
    const std::string flag = flag_of.at(column);
    CHECK(submit_with(flag, at_max) == "ACCEPTED");
    CHECK(submit_with(flag, at_max + "a") == "--" + flag + ": " + std::to_string(col.max_bytes + 1) +
                                                 " bytes is out of range [" + std::to_string(col.min_bytes) + ", " +
                                                 std::to_string(col.max_bytes) + "]");
    CHECK((submit_with(flag, "") == "ACCEPTED") == (col.min_bytes == 0));
  }
}

TEST_CASE("params defaults: framefarm.job_param_keys, the protocol's JobParams{} and submit --help agree") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  const std::string help = ff::dispatcher::cli_help("submit");
  const auto empty = params::decode("{}");  // what a job without params runs with
  const ff::proto::JobParams protocol{};
  CHECK(same_params(empty, protocol));
  int checked = 0;
  for (const auto& row : tx.exec("SELECT key, default_value::text FROM framefarm.job_param_keys ORDER BY key")) {
    const auto* spec = params::find(row["key"].as<std::string>());
    REQUIRE_MESSAGE(spec, "framefarm.job_param_keys has ", row["key"].c_str(), ", job_params does not");
    const std::string db_default = row["default_value"].as<std::string>();
    INFO("key ", spec->key, " database default ", db_default);
    CHECK(db_default == params::default_json(*spec));
    // `submit --help`: "--<flag> <N|X|BOOL|TEXT>=<default>"
    CHECK(help.find("--" + std::string(spec->flag) + " " + value_name(spec->kind) + "=" + db_default + " ") !=
          std::string::npos);
    // the protocol decodes the database default to the JobParams{} member
    const auto one = params::decode("{\"" + std::string(spec->key) + "\": " + db_default + "}");
    CHECK(same_params(one, protocol));
    ++checked;
  }
  CHECK(checked == static_cast<int>(params::specs().size()));
}
