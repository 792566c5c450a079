// pg: the job params, defined once. framefarm.job_param_keys (schema/003_ltx23_params.sql) equals
// the C++ table (common/job_params.hpp) row for row; for every key and a set of probe values the
// INSERT trigger, the C++ check and `submit`'s flag check accept or reject alike, with the same
// message; the default negative prompt is the reference's; migration 003 rewrites old rows; the
// dispatcher's claim decodes params (and ends a row with bad params dead as bad_input).
#include <doctest/doctest.h>

#include <filesystem>
#include <map>

#include <pqxx/pqxx>

#include "common/config.hpp"
#include "common/job_params.hpp"
#include "common/json_fields.hpp"
#include "dispatcher/cli.hpp"
#include "dispatcher/job_store.hpp"
#include "dispatcher/migrate.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/support/pg_cluster.hpp"

namespace params = ff::params;
namespace fs = std::filesystem;

namespace {
// The trigger's verdict on one params value: "ACCEPTED" or the message without "ERROR:  ".
std::string insert_params(const std::string& params_json) {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  try {
    tx.exec_params("INSERT INTO framefarm.jobs (prompt, params) VALUES ('p', $1::jsonb)", params_json);
  } catch (const pqxx::sql_error& e) {
    std::string s = e.what();
    s = s.substr(0, s.find('\n'));
    return s.rfind("ERROR:  ", 0) == 0 ? s.substr(8) : s;
  }
  return "ACCEPTED";
}

// `submit --<flag> <text>`'s verdict: "ACCEPTED" or the UsageError message.
std::string submit_flag(const params::ParamSpec& s, const std::string& text) {
  try {
    (void)ff::dispatcher::parse_cli({"submit", "p", "--" + std::string(s.flag), text}).submit;
  } catch (const ff::config::UsageError& e) {
    return e.what();
  }
  return "ACCEPTED";
}

std::string sha256_hex(pqxx::work& tx, const std::string& text) {
  return tx.exec_params1("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", text)[0].as<std::string>();
}
}  // namespace

TEST_CASE("framefarm.job_param_keys equals the C++ table") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  auto rows = tx.exec(
      "SELECT key, kind, coalesce(min_value::text, ''), coalesce(max_value::text, ''), coalesce(step, 0), "
      "step_offset, step_reason, coalesce(array_to_string(choices, ', '), ''), default_value::text, doc "
      "FROM framefarm.job_param_keys");
  std::map<std::string, pqxx::row> by_key;
  for (const auto& r : rows) by_key.emplace(r[0].as<std::string>(), r);
  CHECK(by_key.size() == params::specs().size());
  for (const auto& s : params::specs()) {
    auto it = by_key.find(std::string(s.key));
    REQUIRE_MESSAGE(it != by_key.end(), "key ", s.key, " is missing in framefarm.job_param_keys");
    const auto& r = it->second;
    INFO("key ", s.key);
    CHECK(r[1].as<std::string>() == params::kind_name(s.kind));
    CHECK(r[2].as<std::string>() == s.min);
    CHECK(r[3].as<std::string>() == s.max);
    CHECK(r[4].as<int64_t>() == s.step);
    CHECK(r[5].as<int64_t>() == s.step_offset);
    CHECK(r[6].as<std::string>() == s.step_reason);
    CHECK(r[7].as<std::string>() == s.choices);
    CHECK(r[8].as<std::string>() == params::default_json(s));
    CHECK(r[9].as<std::string>() == s.doc);
  }
}

TEST_CASE("trigger, C++ check and submit flags give the same verdict and message") {
  int compared = 0;
  for (const auto& s : params::specs()) {
    std::vector<std::string> probes = {params::default_json(s), "\"x\"", "true", "2.5", "-1"};
    if (!s.min.empty()) {
      for (auto b : {s.min, s.max}) probes.push_back(std::string(b));
      if (s.kind == params::Kind::kInteger) {
        probes.push_back(std::to_string(std::stoll(std::string(s.min)) - 1));
        if (s.max != "9223372036854775807") probes.push_back(std::to_string(std::stoll(std::string(s.max)) + 1));
        else probes.push_back("9223372036854775808");
      } else {
        probes.push_back(std::string(s.max) + ".5");
      }
    }
    if (s.step > 0) {
      const int64_t d = std::stoll(params::default_json(s));
      probes.push_back(std::to_string(d + 1));
      probes.push_back(std::to_string(d + s.step));
      probes.push_back(std::to_string(d - s.step));
    }
    for (const auto& text : probes) {
      INFO("key ", s.key, " value ", text);
      const std::string sql = insert_params("{\"" + std::string(s.key) + "\": " + text + "}");
      auto cpp = params::check(s, ff::json::parse(text, "probe"), text);
      CHECK(sql == (cpp ? "framefarm.jobs: " + *cpp : "ACCEPTED"));
      // submit reads the flag's text as JSON where it parses (a string value as such); a string
      // key's flag text is the string itself, so only string probes apply to it.
      const ff::json::Json probe = ff::json::parse(text, "probe");
      if (s.kind != params::Kind::kString || probe.is_string()) {
        const std::string flag_text = probe.is_string() ? probe.get<std::string>() : text;
        CHECK(submit_flag(s, flag_text) == (cpp ? "--" + std::string(s.flag) + ": " + *cpp : "ACCEPTED"));
      }
      ++compared;
    }
  }
  CHECK(compared > 100);
}

TEST_CASE("bad rows are rejected at INSERT naming the rule") {
  CHECK(insert_params(R"({"num_frames": 10})") ==
        "framefarm.jobs: params.num_frames = 10 must be 8k+1 (e.g. 121): the video VAE encodes 1 + 8k frames");
  CHECK(insert_params(R"({"width": 1000})") ==
        "framefarm.jobs: params.width = 1000 must be a multiple of 64 (e.g. 1536): stage 1 runs at half "
        "size on 32-px latent cells");
  CHECK(insert_params(R"({"num_inference_steps": -5})") ==
        "framefarm.jobs: params.num_inference_steps = -5 is out of range [1, 500]");
  CHECK(insert_params(R"({"guidance_scale": 3})") ==
        "framefarm.jobs: unknown key \"guidance_scale\" in params (allowed: " + params::allowed_keys() + ")");
  CHECK(insert_params(R"({"video_rescale": 1.01})") ==
        "framefarm.jobs: params.video_rescale = 1.01 is out of range [0, 1]");
  CHECK(insert_params(R"({"width": 768, "height": 512, "num_frames": 9, "frame_rate": 24, "seed": 1,
                         "num_inference_steps": 4, "video_cfg": 3.5, "audio_cfg": 7, "audio_rescale": 0})") ==
        "ACCEPTED");
}

TEST_CASE("later migrations add keys by inserting rows: boolean and string kinds") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);  // rolled back
  tx.exec("INSERT INTO framefarm.job_param_keys (key, kind, choices, default_value, doc) VALUES "
          "('zz_flag', 'boolean', NULL, 'true', 'd'), ('zz_preset', 'string', '{fast,veryfast}', '\"veryfast\"', 'd')");
  auto verdict = [&](const std::string& p) {
    tx.exec("SAVEPOINT s");
    try {
      tx.exec_params("INSERT INTO framefarm.jobs (prompt, params) VALUES ('p', $1::jsonb)", p);
    } catch (const pqxx::sql_error& e) {
      tx.exec("ROLLBACK TO SAVEPOINT s");
      std::string s = e.what();
      return s.substr(0, s.find('\n'));
    }
    return std::string("ACCEPTED");
  };
  CHECK(verdict(R"({"zz_flag": false, "zz_preset": "fast"})") == "ACCEPTED");
  CHECK(verdict(R"({"zz_flag": 1})") == "ERROR:  framefarm.jobs: params.zz_flag must be a JSON boolean, got 1");
  CHECK(verdict(R"({"zz_preset": "slow"})") ==
        "ERROR:  framefarm.jobs: params.zz_preset = \"slow\" is not one of fast, veryfast");
  CHECK(verdict(R"({"zz_preset": 3})") == "ERROR:  framefarm.jobs: params.zz_preset must be a JSON string, got 3");
  // The same rows in C++ give the same messages.
  const params::ParamSpec preset{"zz_preset", "zz-preset", params::Kind::kString, "", "", 0, 0, "",
                                 "fast, veryfast", "d", {}};
  CHECK("ERROR:  framefarm.jobs: " + params::check(preset, ff::json::Json("slow")).value() ==
        verdict(R"({"zz_preset": "slow"})"));
}

TEST_CASE("the negative prompt defaults to LTX-2.3's and an empty one stays empty") {
  pqxx::connection conn(ff::test::migrated_cluster().url());
  pqxx::work tx(conn);
  auto absent = tx.exec1("INSERT INTO framefarm.jobs (prompt) VALUES ('a') RETURNING negative_prompt")[0].as<std::string>();
  auto null = tx.exec1("INSERT INTO framefarm.jobs (prompt, negative_prompt) VALUES ('a', NULL) RETURNING negative_prompt")[0]
                  .as<std::string>();
  auto empty = tx.exec1("INSERT INTO framefarm.jobs (prompt, negative_prompt) VALUES ('a', '') RETURNING negative_prompt")[0]
                   .as<std::string>();
  // ltx-pipelines utils/constants.py DEFAULT_NEGATIVE_PROMPT: 1171 bytes, this sha256.
  CHECK(absent.size() == 1171);
  CHECK(sha256_hex(tx, absent) == "5d3fc170ddbab647fd3baf4694dfcca44dd817fe489bc3ab0684e12505472be4");
  CHECK(absent.rfind("has_subtitles, has_blurbox, transition from black", 0) == 0);
  CHECK(null == absent);
  CHECK(empty.empty());
  CHECK(tx.exec1("SELECT framefarm.default_negative_prompt()")[0].as<std::string>() == absent);
  // submit without --negative sends NULL (the default), with --negative '' an empty one.
  CHECK(!ff::dispatcher::parse_cli({"submit", "p"}).submit.negative_prompt);
  CHECK(ff::dispatcher::parse_cli({"submit", "p", "--negative", ""}).submit.negative_prompt ==
        std::optional<std::string>(""));
}

TEST_CASE("migration 003 rewrites rows written under 001") {
  auto& c = ff::test::migrated_cluster();
  c.psql("CREATE DATABASE old_rows");
  const std::string url = c.url("old_rows");
  auto old_dir = fs::temp_directory_path() / "ff-schema-001-002";
  fs::remove_all(old_dir);
  fs::create_directories(old_dir);
  for (auto f : {"001_jobs.sql", "002_prompt_embeddings.sql"})
    fs::copy_file(ff::dispatcher::default_schema_dir() / f, old_dir / f);
  ff::dispatcher::migrate(url, old_dir);
  fs::remove_all(old_dir);
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("INSERT INTO framefarm.jobs (id, prompt, params) VALUES "
            "(1, 'ok', '{\"width\": 768, \"guidance_scale\": 4.5}'), "
            "(2, 'too small', '{\"width\": 32, \"num_frames\": 9}'), "
            "(3, 'history', '{\"width\": 32}')");
    tx.exec("UPDATE framefarm.jobs SET state = 'succeeded' WHERE id = 3");
    tx.commit();
  }
  ff::dispatcher::migrate(url, ff::dispatcher::default_schema_dir());
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  auto r = tx.exec("SELECT id, state::text, params::text, coalesce(error_kind, ''), coalesce(error, '') "
                   "FROM framefarm.jobs ORDER BY id");
  REQUIRE(r.size() == 3);
  CHECK(r[0][1].as<std::string>() == "queued");
  CHECK(r[0][2].as<std::string>() == "{\"width\": 768, \"video_cfg\": 4.5}");
  CHECK(r[1][1].as<std::string>() == "dead");
  CHECK(r[1][3].as<std::string>() == "bad_input");
  CHECK(r[1][4].as<std::string>() == "003_ltx23_params: params.width = 32 is out of range [64, 4096]");
  CHECK(r[2][1].as<std::string>() == "succeeded");
  CHECK(r[2][2].as<std::string>() == "{\"width\": 32}");
  // the old key table is gone; the trigger uses the new one
  CHECK(tx.exec1("SELECT to_regclass('framefarm.job_param_limits') IS NULL")[0].as<bool>());
}

TEST_CASE("the dispatcher's claim decodes params and ends a row with bad params dead as bad_input") {
  auto& c = ff::test::migrated_cluster();
  c.psql("CREATE DATABASE claims");
  const std::string url = c.url("claims");
  ff::dispatcher::migrate(url, ff::dispatcher::default_schema_dir());
  {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    tx.exec("INSERT INTO framefarm.jobs (id, prompt, params, priority) VALUES "
            "(1, 'given', '{\"width\": 768, \"height\": 512, \"num_frames\": 9, \"seed\": 77, "
            "\"video_cfg\": 4.5, \"audio_rescale\": 0}', 2), (2, 'defaults', '{}', 1)");
    // written around the trigger (as a restore or a hand edit could)
    tx.exec("ALTER TABLE framefarm.jobs DISABLE TRIGGER jobs_validate");
    tx.exec("INSERT INTO framefarm.jobs (id, prompt, params) VALUES (3, 'bad', '{\"num_frames\": 10}')");
    tx.exec("ALTER TABLE framefarm.jobs ENABLE TRIGGER jobs_validate");
    tx.commit();
  }
  ff::dispatcher::JobStore store(url, [] {}, [](int64_t) {});
  auto claimed = store.claim("d1", 10, {""}, 30000, {});
  REQUIRE(claimed.size() == 2);
  std::map<int64_t, ff::proto::JobParams> by_id;
  for (const auto& j : claimed) by_id[j.job.job_id] = j.job.params;
  REQUIRE(by_id.count(1));
  REQUIRE(by_id.count(2));
  const auto& g = by_id[1];
  CHECK(g.width == 768);
  CHECK(g.height == 512);
  CHECK(g.num_frames == 9);
  CHECK(g.seed == 77);
  CHECK(g.video_cfg == 4.5);
  CHECK(g.audio_rescale == 0.0);
  CHECK(g.audio_cfg == 7.0);
  CHECK(g.num_inference_steps == 30);
  const auto& d = by_id[2];
  CHECK(d.width == 1536);
  CHECK(d.height == 1024);
  CHECK(d.seed == 10);
  CHECK(d.video_rescale == 0.7);
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  auto bad = tx.exec1("SELECT state::text, error_kind, error FROM framefarm.jobs WHERE id = 3");
  CHECK(bad[0].as<std::string>() == "dead");
  CHECK(bad[1].as<std::string>() == "bad_input");
  CHECK(bad[2].as<std::string>().rfind("params.num_frames = 10 must be 8k+1", 0) == 0);
}
