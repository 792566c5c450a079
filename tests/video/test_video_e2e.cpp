// e2e: a tiny-model job through the whole farm on CPU. A throwaway PostgreSQL, the real
// framefarm-dispatcher, a real framefarm-worker running the real framefarm-engine on a model made
// by `framefarm-worker make-model --preset tiny`. The job is inserted by SQL; the test waits for
// 'succeeded' and checks the Y4M the engine wrote (header and frame count) and its PNG.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "common/json.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/video/png_check.hpp"
#include "tests/video/y4m_reader.hpp"
#include "tests/worker/process_harness.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ff::test::Child;

namespace {

std::string tail(const std::string& path, size_t n = 3000) {
  const std::string s = ff::test::read_file(path);
  return s.substr(s.size() > n ? s.size() - n : 0);
}

}  // namespace

TEST_CASE("a tiny-model job runs end to end through dispatcher, worker and engine and yields a valid Y4M") {
  ff::test::PgCluster pg;
  ff::test::TempDir dir("ff-video-e2e");
  const std::string model = dir.path() + "/model";
  ff::test::run_command({FF_WORKER_BIN, "make-model", "--preset", "tiny", "--seed", "5", "--engine",
                         FF_ENGINE_BIN, model});
  REQUIRE(fs::exists(model + "/ltx.safetensors"));
  REQUIRE(fs::exists(model + "/text_encoder/tokenizer.model"));

  ff::test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg.url(), "--schema-dir", FF_SCHEMA_DIR});
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(ff::test::free_tcp_port());
  Child dispatcher({FF_DISPATCHER_BIN, "serve", "--database", pg.url(), "--bind", endpoint,
                    "--heartbeat-interval-ms", "200", "--poll-interval-ms", "100"},
                   {}, dir.path() + "/dispatcher.log");

  const std::string out_root = dir.path() + "/out";
  ff::json::Object cfg{{"dispatcher_endpoint", endpoint},
                       {"worker_id", "video-e2e"},
                       {"model_dir", model},
                       {"run_dir", dir.path() + "/run"},
                       {"slots", 1},
                       {"max_encode_batch", 4},
                       {"heartbeat_interval_ms", 200},
                       {"engine_command", std::string(FF_ENGINE_BIN)},
                       {"engine_start_timeout_ms", 30000},
                       {"engine_request_timeout_ms", 30000},
                       {"engine", ff::json::Value(ff::json::Object{{"device", "cpu"}, {"output_root", out_root}})},
                       {"database_url", pg.url()}};
  const std::string cfg_path = dir.path() + "/worker.json";
  std::ofstream(cfg_path) << ff::json::dump(ff::json::Value(std::move(cfg)), 2);
  Child worker({FF_WORKER_BIN, "serve", "--config", cfg_path}, {{"OMP_NUM_THREADS", "1"}},
               dir.path() + "/worker.log");

  const std::string id = pg.psql(
      "INSERT INTO framefarm.jobs (prompt, negative_prompt, params) VALUES ('a red fox runs through snow', "
      "'blurry', '{\"width\": 64, \"height\": 64, \"num_frames\": 9, \"frame_rate\": 8, "
      "\"num_inference_steps\": 3, \"video_cfg\": 3.0, \"seed\": 11}') RETURNING id");
  const std::string job_id = id.substr(0, id.find_first_of("\n|"));
  std::string state;
  const bool done = ff::test::eventually([&] {
    state = pg.psql("SELECT state FROM framefarm.jobs WHERE id = " + job_id);
    state = state.substr(0, state.find('\n'));
    return state == "succeeded" || state == "dead";
  }, 50000ms);
  INFO("state: " << state << "\n--- worker log:\n" << tail(worker.log_path()) << "\n--- dispatcher log:\n"
                 << tail(dispatcher.log_path()));
  REQUIRE(done);
  REQUIRE(state == "succeeded");

  const fs::path y4m_path = fs::path(out_root) / (job_id + ".y4m");
  REQUIRE(fs::exists(y4m_path));
  auto y4m = ff::test::read_y4m(y4m_path.string());
  CHECK(y4m.width == 64);
  CHECK(y4m.height == 64);
  CHECK(y4m.frames == 9);
  CHECK(y4m.fps_num == 8);
  CHECK(y4m.fps_den == 1);
  auto png = ff::test::check_png(ff::test::read_file((fs::path(out_root) / (job_id + ".png")).string()));
  CHECK(png.width == 64);
  CHECK(png.height == 64);

  // Both contexts (prompt and negative prompt) were persisted by the worker's embedding cache
  // (written behind the job, hence eventually), in the cached format whatever the model dtype.
  std::string rows;
  CHECK(ff::test::eventually([&] {
    rows = pg.psql("SELECT count(*) FILTER (WHERE dtype = 'bf16') || '/' || count(*) FROM framefarm.prompt_embeddings");
    rows = rows.substr(0, rows.find('\n'));
    return rows == "2/2";
  }, 20000ms));
  CHECK(rows == "2/2");
}
