// e2e: tiny LTX-2.3 jobs through the whole farm on CPU, for both pipelines. A throwaway
// PostgreSQL, the real framefarm-dispatcher, a real framefarm-worker running the real
// framefarm-engine on the published layout written by `framefarm-worker make-model --preset tiny`.
// Jobs are inserted by SQL; the test waits for 'succeeded' and checks the MP4 with FFmpeg's own
// tools (ffprobe, ffmpeg) and the result the dispatcher recorded.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/json_fields.hpp"
#include "tests/worker/media/media_test_support.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/worker/process_harness.hpp"
#include "worker/media/frame_convert.hpp"

namespace fs = std::filesystem;
namespace json = ff::json;
using namespace std::chrono_literals;
using ff::test::Child;

namespace {

std::string tail(const std::string& path, size_t n = 4000) {
  const std::string s = ff::test::read_file(path);
  return s.substr(s.size() > n ? s.size() - n : 0);
}

std::string first_line(const std::string& s) { return s.substr(0, s.find_first_of("\n|")); }

// The tiny model, made once per test process.
const std::string& model_dir() {
  static ff::test::TempDir dir("ff-ltx2-model");
  static const bool made = (ff::test::run_command({FF_WORKER_BIN, "make-model", "--preset", "tiny", "--seed", "5",
                                                   "--engine", FF_ENGINE_BIN, dir.path()}),
                            true);
  (void)made;
  return dir.path();
}

json::Json model_files(const std::string& pipeline) {
  json::Json m = json::parse(ff::test::read_file(model_dir() + "/model.json"), "test");
  m["pipeline"] = json::Json(pipeline);
  if (pipeline == "distilled")
    m["checkpoint"] = json::Json(model_dir() + "/ltx-2.3-22b-distilled-1.1.safetensors");
  return m;
}

json::Json probe(const std::string& file) {
  int rc = -1;
  const std::string out =
      ff::test::run_command("ffprobe -v error -count_frames -show_streams -show_format -of json '" + file + "' 2>&1", &rc);
  INFO(out);
  REQUIRE(rc == 0);
  return json::parse(out, "test");
}

const json::Json* stream_of(const json::Json& probe, const std::string& type) {
  for (const auto& s : probe["streams"])
    if (s["codec_type"].get<std::string>() == type) return &s;
  return nullptr;
}

// Runs one job on a fresh farm with `pipeline`; checks the MP4 and the recorded result.
void run_pipeline(const std::string& pipeline) {
  ff::test::PgCluster pg;
  ff::test::TempDir dir("ff-ltx2-e2e");
  ff::test::run_command({FF_DISPATCHER_BIN, "migrate", "--database", pg.url(), "--schema-dir", FF_SCHEMA_DIR});
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(ff::test::free_tcp_port());
  Child dispatcher({FF_DISPATCHER_BIN, "serve", "--database", pg.url(), "--bind", endpoint,
                    "--heartbeat-interval-ms", "200", "--poll-interval-ms", "100"},
                   {}, dir.path() + "/dispatcher.log");
  const std::string out_root = dir.path() + "/out";
  const json::Json cfg{{"dispatcher_endpoint", endpoint},
                   {"worker_id", "ltx2-e2e"},
                   {"model_files", model_files(pipeline)},
                   {"run_dir", dir.path() + "/run"},
                   {"slots", 1},
                   {"max_encode_batch", 4},
                   {"heartbeat_interval_ms", 200},
                   {"engine_command", std::string(FF_ENGINE_BIN)},
                   {"engine_start_timeout_ms", 60000},
                   {"engine_request_timeout_ms", 60000},
                   {"engine", {{"device", "cpu"}, {"output_root", out_root}}},
                   {"database_url", pg.url()}};
  const std::string cfg_path = dir.path() + "/worker.json";
  std::ofstream(cfg_path) << cfg.dump(2);
  Child worker({FF_WORKER_BIN, "serve", "--config", cfg_path}, {{"OMP_NUM_THREADS", "1"}}, dir.path() + "/worker.log");

  // 17 frames at 8 fps: 2.125 s, 3 latent frames; 128x192 output (stage 1 at 64x96).
  const std::string job_id = first_line(pg.psql(
      "INSERT INTO framefarm.jobs (prompt, negative_prompt, params) VALUES ('a red fox runs through snow', "
      "'blurry', '{\"width\": 192, \"height\": 128, \"num_frames\": 17, \"frame_rate\": 8, "
      "\"num_inference_steps\": 2, \"seed\": 11, \"crf\": 0}') RETURNING id"));
  std::string state;
  const bool done = ff::test::eventually([&] {
    state = first_line(pg.psql("SELECT state FROM framefarm.jobs WHERE id = " + job_id));
    return state == "succeeded" || state == "dead" || state == "failed";
  }, 240000ms);
  INFO("pipeline " << pipeline << ", state: " << state << "\n--- worker log:\n" << tail(worker.log_path())
                   << "\n--- dispatcher log:\n" << tail(dispatcher.log_path()));
  REQUIRE(done);
  REQUIRE(state == "succeeded");

  const std::string mp4 = out_root + "/" + job_id + ".mp4";
  REQUIRE(fs::exists(mp4));
  const json::Json p = probe(mp4);
  const json::Json* v = stream_of(p, "video");
  const json::Json* a = stream_of(p, "audio");
  REQUIRE(v);
  REQUIRE(a);
  CHECK((*v)["codec_name"].get<std::string>() == "h264");
  CHECK((*v)["pix_fmt"].get<std::string>() == "yuv420p");
  CHECK((*v)["width"].get<int64_t>() == 192);
  CHECK((*v)["height"].get<int64_t>() == 128);
  CHECK((*v)["r_frame_rate"].get<std::string>() == "8/1");
  CHECK((*v)["nb_read_frames"].get<std::string>() == "17");
  CHECK((*v)["color_space"].get<std::string>() == "bt709");
  CHECK((*v)["color_range"].get<std::string>() == "tv");
  CHECK((*a)["codec_name"].get<std::string>() == "aac");
  CHECK((*a)["sample_rate"].get<std::string>() == "48000");
  CHECK((*a)["channels"].get<int64_t>() == 2);
  const double duration = std::stod(p["format"]["duration"].get<std::string>());
  CHECK(duration == doctest::Approx(17.0 / 8).epsilon(0.1));

  // The decoded first frame is the PNG poster's: the job asks for lossless H.264 (crf 0), so the
  // luma plane the decoder returns equals the poster converted to BT.709 limited range (the
  // tiny random model draws noise, which 4:2:0 chroma and lossy CRFs would blur).
  const std::string png = out_root + "/" + job_id + ".png";
  const std::string raw = dir.path() + "/first.yuv";
  int rc = -1;
  ff::test::run_command("ffmpeg -v error -y -i '" + mp4 + "' -frames:v 1 -f rawvideo -pix_fmt yuv420p '" + raw + "' 2>&1", &rc);
  REQUIRE(rc == 0);
  const auto poster = ff::test::read_png(png);
  REQUIRE(poster.width == 192);
  REQUIRE(poster.height == 128);
  const std::string yuv = ff::test::read_file(raw);
  REQUIRE(yuv.size() == size_t(192 * 128 * 3 / 2));
  std::vector<uint8_t> y(192 * 128), u(96 * 64), v2(96 * 64);
  ff::media::rgb24_to_yuv420p_bt709(poster.rgb.data(), 192, 128, y.data(), 192, u.data(), 96, v2.data(), 96);
  const std::vector<uint8_t> decoded_y(yuv.begin(), yuv.begin() + 192 * 128);
  CHECK(ff::test::psnr(y, decoded_y) >= 40.0);

  // The dispatcher recorded the media facts, and the frames are not all one colour.
  const std::string result = first_line(pg.psql("SELECT result::text FROM framefarm.jobs WHERE id = " + job_id));
  INFO(result);
  CHECK(result.find(".mp4") != std::string::npos);
  uint8_t lo = 255, hi = 0;
  for (uint8_t b : poster.rgb) lo = std::min(lo, b), hi = std::max(hi, b);
  CHECK(hi > lo);
}

}  // namespace

TEST_CASE("two_stages: a tiny LTX-2.3 job yields an MP4 with sound") { run_pipeline("two_stages"); }

TEST_CASE("distilled: a tiny LTX-2.3 job yields an MP4 with sound") { run_pipeline("distilled"); }
