// pg: framefarm-dispatcher's read commands against a real database, text and --json: every
// column the CLI reads by name (dispatcher/cli_jobs.cpp, cli_admin.cpp) reaches the output with
// the row's value, for status, list, workers, cancel and retry.
#include <doctest/doctest.h>

#include <sstream>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "dispatcher/cli.hpp"
#include "dispatcher/migrate.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace ff::dispatcher;
using Json = nlohmann::ordered_json;

namespace {

struct Run {
  int rc;
  std::string out, err;
};

Run cli(std::vector<std::string> args) {
  args.push_back("--database");
  args.push_back(ff::test::migrated_cluster().url());
  std::ostringstream out, err;
  const int rc = cli_main(args, out, err);
  return {rc, out.str(), err.str()};
}

}  // namespace

TEST_CASE("status, list: every job column by name, in text and JSON") {
  pqxx::connection c(ff::test::migrated_cluster().url());
  pqxx::work tx(c);
  const int64_t id = tx.exec1(
                           "INSERT INTO framefarm.jobs (prompt, negative_prompt, model, params, priority, "
                           "idempotency_key, max_attempts) VALUES ('a fox\tin snow', '', 'm1', "
                           "'{\"width\": 768}', 7, 'key-1', 4) RETURNING id")[0]
                         .as<int64_t>();
  tx.exec_params(
      "UPDATE framefarm.jobs SET state = 'succeeded', attempts = 1, lease_worker = 'w-9', lease_owner = 'd-1', "
      "phase = 'done', step = 8, total_steps = 8, started_at = now(), finished_at = now(), "
      "result = '{\"media\": {\"mp4_path\": \"/o/1.mp4\", \"poster_path\": \"/o/1.png\", \"width\": 768, "
      "\"height\": 512, \"frames\": 9, \"fps\": 25, \"duration_s\": 0.36, \"bytes\": 1234, "
      "\"audio_channels\": 2, \"audio_sample_rate\": 48000}}' WHERE id = $1",
      id);
  tx.commit();

  const Run js = cli({"status", std::to_string(id), "--json"});
  REQUIRE(js.rc == kExitOk);
  const Json j = Json::parse(js.out);
  CHECK(j["id"] == id);
  CHECK(j["state"] == "succeeded");
  CHECK(j["priority"] == 7);
  CHECK(j["prompt"] == "a fox\tin snow");
  CHECK(j["negative_prompt"] == "");
  CHECK(j["model"] == "m1");
  CHECK(j["params"] == Json{{"width", 768}});
  CHECK(j["idempotency_key"] == "key-1");
  CHECK(j["attempts"] == 1);
  CHECK(j["max_attempts"] == 4);
  CHECK(j["lease_owner"] == "d-1");
  CHECK(j["lease_worker"] == "w-9");
  CHECK(j["cancel_requested"] == false);
  CHECK(j["phase"] == "done");
  CHECK(j["step"] == 8);
  CHECK(j["total_steps"] == 8);
  CHECK(j["error"].is_null());
  CHECK(j["result"]["media"]["bytes"] == 1234);
  CHECK(j.begin().key() == "id");  // the documented column order
  CHECK(j.size() == 26);

  const Run text = cli({"status", std::to_string(id)});
  REQUIRE(text.rc == kExitOk);
  CHECK(text.out.find("state: succeeded\n") != std::string::npos);
  CHECK(text.out.find("model: m1\n") != std::string::npos);
  CHECK(text.out.find("params: {\"width\":768}\n") != std::string::npos);
  CHECK(text.out.find("error:") == std::string::npos);  // NULLs are left out
  CHECK(text.out.find("mp4: /o/1.mp4\n") != std::string::npos);
  CHECK(text.out.find("video: 768x512, 9 frames at 25 fps, 0.360 s, 1234 bytes\n") != std::string::npos);
  CHECK(text.out.find("audio: AAC 48000 Hz, 2 channels\n") != std::string::npos);

  const Run list = cli({"list", "--state", "succeeded"});
  REQUIRE(list.rc == kExitOk);
  char line[128];
  std::snprintf(line, sizeof line, "%-9lld %-11s %d/%-7d %-21s a fox in snow\n", static_cast<long long>(id),
                "succeeded", 1, 4, "w-9");
  CHECK(list.out.find(line) != std::string::npos);
  const Run list_json = cli({"list", "--limit", "1", "--json"});
  REQUIRE(list_json.rc == kExitOk);
  CHECK(Json::parse(list_json.out).at(0)["id"] == id);
}

TEST_CASE("workers: every worker column by name, in text and JSON") {
  pqxx::connection c(ff::test::migrated_cluster().url());
  pqxx::work tx(c);
  tx.exec(
      "INSERT INTO framefarm.workers (worker_id, dispatcher_id, status, gpu_name, model, vram_total_bytes, "
      "vram_budget_bytes, max_encode_batch, encoder_fingerprint, components_resident, credit, jobs_in_flight, "
      "last_seen_at) VALUES ('node-1/cuda:0', 'disp-a', 'alive', 'H200', 'ltx-2.3', 150000000000, 90000000000, "
      "8, 'fp-1', '{text_encoder,stage1}', 3, 2, now() - interval '2 seconds'), "
      "('node-2/cuda:0', 'disp-a', 'dead', 'H100', 'ltx-2.3', 1, 1, 1, '', '{}', 0, 0, now())");
  tx.commit();
  const Run js = cli({"workers", "--json"});
  REQUIRE(js.rc == kExitOk);
  const Json a = Json::parse(js.out);
  REQUIRE(a.size() == 1);  // alive only without --all
  const Json& w = a[0];
  CHECK(w["worker_id"] == "node-1/cuda:0");
  CHECK(w["dispatcher_id"] == "disp-a");
  CHECK(w["status"] == "alive");
  CHECK(w["gpu_name"] == "H200");
  CHECK(w["model"] == "ltx-2.3");
  CHECK(w["vram_total_bytes"] == 150000000000);
  CHECK(w["vram_budget_bytes"] == 90000000000);
  CHECK(w["max_encode_batch"] == 8);
  CHECK(w["encoder_fingerprint"] == "fp-1");
  CHECK(w["components_resident"] == "text_encoder,stage1");
  CHECK(w["credit"] == 3);
  CHECK(w["jobs_in_flight"] == 2);
  CHECK(w["last_seen_ms_ago"].get<int64_t>() >= 2000);
  CHECK(w["last_seen_ms_ago"].get<int64_t>() < 60000);
  CHECK(Json::parse(cli({"workers", "--all", "--json"}).out).size() == 2);

  const Run text = cli({"workers"});
  REQUIRE(text.rc == kExitOk);
  const auto row = text.out.find("node-1/cuda:0");
  REQUIRE(row != std::string::npos);
  const std::string line = text.out.substr(row, text.out.find('\n', row) - row);
  CHECK(line.find("alive") != std::string::npos);
  CHECK(line.find("H200") != std::string::npos);
  CHECK(line.rfind("disp-a") == line.size() - 6);  // the dispatcher last
  CHECK(text.out.find("node-2/cuda:0") == std::string::npos);
}

TEST_CASE("cancel and retry report the state they read") {
  pqxx::connection c(ff::test::migrated_cluster().url());
  pqxx::work tx(c);
  const int64_t id = tx.exec1("INSERT INTO framefarm.jobs (prompt) VALUES ('p') RETURNING id")[0].as<int64_t>();
  tx.commit();
  const Run cancel = cli({"cancel", std::to_string(id), "--json"});
  REQUIRE(cancel.rc == kExitOk);
  CHECK(Json::parse(cancel.out) == Json{{"id", id}, {"state", "cancelled"}, {"cancelled", true}, {"cancel_requested", false}});
  const Run retry = cli({"retry", std::to_string(id), "--json"});
  REQUIRE(retry.rc == kExitOk);
  CHECK(Json::parse(retry.out) == Json{{"id", id}, {"previous_state", "cancelled"}, {"requeued", true}});
  const Run again = cli({"retry", std::to_string(id)});
  CHECK(again.rc == kExitRejected);
  CHECK(again.err.find("job " + std::to_string(id) + " is queued; only dead, cancelled or retry_wait") != std::string::npos);
  CHECK(cli({"status", "987654"}).rc == kExitNotFound);
}
