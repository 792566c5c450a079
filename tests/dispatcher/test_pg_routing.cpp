// pg: where jobs go and what is recorded, in-process against a real PostgreSQL and real ZeroMQ:
// cache-aware grouping, model routing, the workers table and the CLI, result.media.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dispatcher/cli.hpp"
#include "tests/dispatcher/dispatcher_env.hpp"
#include "tests/dispatcher/sim_worker.hpp"

using namespace ff;
using namespace std::chrono_literals;
using test::DispatcherEnv;
using test::RunningDispatcher;
using test::SimWorker;

TEST_CASE("embedding cache: cached jobs marked, misses grouped for one encoder pass") {
  DispatcherEnv env;
  env.exec("INSERT INTO framefarm.prompt_embeddings (encoder_fingerprint, prompt_sha256, max_length, real_tokens, "
           "dtype, video_shape, audio_shape, video, audio) SELECT 'fpX', sha256(convert_to(p, 'UTF8')), 1024, 3, "
           "'bf16', '{3,4}', '{3,2}', '\\x00', '\\x00' FROM unnest(ARRAY['seen prompt', '']) p");
  int64_t cached = env.insert("(prompt, negative_prompt) VALUES ('seen prompt', '')");
  env.insert("(prompt) VALUES ('new 1')");
  env.insert("(prompt) VALUES ('new 2')");
  env.insert("(prompt) VALUES ('new 3')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 4, "", "fpX", 3));
  std::vector<proto::Job> jobs;
  for (int i = 0; i < 4; ++i) {
    auto j = w.recv_until<proto::Job>(5s);
    REQUIRE(j);
    jobs.push_back(*j);
  }
  std::set<int64_t> groups;
  for (auto& j : jobs) {
    if (j.job_id == cached) {
      CHECK(j.embedding_cached);
      CHECK(j.encode_group == 0);
    } else {
      CHECK(!j.embedding_cached);
      CHECK(j.encode_group != 0);
      groups.insert(j.encode_group);
    }
  }
  CHECK(groups.size() == 1);  // three misses, max_encode_batch 3: one group
}

TEST_CASE("workers table and CLI: workers, submit --wait, status, list") {
  DispatcherEnv env;
  RunningDispatcher d(env.ctx, env.config("d1"));
  test::SimOptions opt;
  opt.workers = 2;
  opt.id_prefix = "gpu";
  test::SimFleet fleet(env.ctx, d.endpoint(), opt);
  fleet.start();
  CHECK(env.wait_for("SELECT count(*) FROM framefarm.workers WHERE status = 'alive'", "2") == "2");
  std::ostringstream out, err;
  CHECK(dispatcher::cli_main({"workers", "--json", "--database", env.pg.url()}, out, err) == dispatcher::kExitOk);
  CHECK(out.str().find("\"worker_id\":\"gpu-0\"") != std::string::npos);
  CHECK(out.str().find("\"dispatcher_id\":\"d1\"") != std::string::npos);
  std::ostringstream o2, e2;
  CHECK(dispatcher::cli_main({"submit", "a lighthouse at dusk", "--steps", "4", "--wait", "--wait-timeout-ms", "20000",
                              "--json", "--database", env.pg.url()}, o2, e2) == dispatcher::kExitOk);
  CHECK(o2.str().find("\"state\":\"succeeded\"") != std::string::npos);
  CHECK(o2.str().find("\"num_inference_steps\":4") != std::string::npos);
  std::ostringstream o3, e3;
  CHECK(dispatcher::cli_main({"submit", "same", "--idempotency-key", "k", "--json", "--database", env.pg.url()}, o3, e3) == 0);
  std::ostringstream o4, e4;
  CHECK(dispatcher::cli_main({"submit", "same", "--idempotency-key", "k", "--json", "--database", env.pg.url()}, o4, e4) == 0);
  CHECK(o4.str().find("\"existing\":true") != std::string::npos);
  std::ostringstream o5, e5;
  CHECK(dispatcher::cli_main({"list", "--state", "succeeded", "--database", env.pg.url()}, o5, e5) == 0);
  CHECK(o5.str().find("a lighthouse at dusk") != std::string::npos);
  std::ostringstream o6, e6;
  CHECK(dispatcher::cli_main({"list", "--state", "done", "--database", env.pg.url()}, o6, e6) == dispatcher::kExitUsage);
  CHECK(e6.str().find("'done' is not a job state") != std::string::npos);
  std::ostringstream o7, e7;
  CHECK(dispatcher::cli_main({"status", "424242", "--database", env.pg.url()}, o7, e7) == dispatcher::kExitNotFound);
  std::ostringstream o8, e8;
  CHECK(dispatcher::cli_main({"submit", "x", "--database", "postgresql://postgres@127.0.0.1:1/none"}, o8, e8) ==
        dispatcher::kExitError);
  CHECK(e8.str().find("cannot connect to the database") != std::string::npos);
  fleet.stop();
}

TEST_CASE("jobs go only to workers serving their model, model '' to any") {
  DispatcherEnv env;
  int64_t other = env.insert("(prompt, model, priority) VALUES ('for other', 'other-model', 9)");
  int64_t any = env.insert("(prompt) VALUES ('for anyone')");
  int64_t mine = env.insert("(prompt, model) VALUES ('for ltx', 'ltx')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 4, "ltx"));
  std::set<int64_t> got;
  for (int i = 0; i < 2; ++i) {
    auto j = w.recv_until<proto::Job>(5s);
    REQUIRE(j);
    got.insert(j->job_id);
  }
  CHECK(got == std::set<int64_t>{any, mine});
  CHECK(!w.recv_until<proto::Job>(300ms));
  CHECK(env.state_of(other) == "queued");
  CHECK(env.q("SELECT attempts FROM framefarm.jobs WHERE id = " + std::to_string(other)) == "0");
}

TEST_CASE("a result with an MP4 records its media under result.media, status prints it") {
  DispatcherEnv env;
  const int64_t id = env.insert("(prompt) VALUES ('a fox with sound')");
  RunningDispatcher d(env.ctx, env.config("d1"));
  SimWorker w(env.ctx, d.endpoint());
  REQUIRE(w.register_as("w1", 1));
  auto j = w.recv_until<proto::Job>(5s);
  REQUIRE(j);
  proto::Result r;
  r.job_id = j->job_id;
  r.epoch = j->epoch;
  r.ok = true;
  r.output_path = "/out/" + std::to_string(id) + ".mp4";
  r.timings_s["mux"] = 0.25;
  r.media.mp4_path = r.output_path;
  r.media.poster_path = "/out/" + std::to_string(id) + ".png";
  r.media.duration_s = 17.0 / 24;
  r.media.frames = 17;
  r.media.fps = 24;
  r.media.width = 64;
  r.media.height = 96;
  r.media.audio_sample_rate = 48000;
  r.media.audio_channels = 2;
  r.media.bytes = 12345;
  w.send(r);
  REQUIRE(env.wait_state(id, "succeeded") == "succeeded");
  auto media = [&](const std::string& k) {
    return env.q("SELECT result->'media'->>'" + k + "' FROM framefarm.jobs WHERE id = " + std::to_string(id));
  };
  CHECK(media("mp4_path") == r.output_path);
  CHECK(media("poster_path") == r.media.poster_path);
  CHECK(std::stod(media("duration_s")) == doctest::Approx(17.0 / 24));
  CHECK(media("frames") == "17");
  CHECK(std::stod(media("fps")) == 24.0);
  CHECK(media("width") == "64");
  CHECK(media("height") == "96");
  CHECK(media("audio_sample_rate") == "48000");
  CHECK(media("audio_channels") == "2");
  CHECK(media("bytes") == "12345");
  CHECK(env.q("SELECT result->'timings_s'->>'mux' FROM framefarm.jobs WHERE id = " + std::to_string(id)) == "0.25");

  std::ostringstream out, err;
  REQUIRE(dispatcher::cli_main({"status", std::to_string(id), "--database", env.pg.url()}, out, err) == 0);
  CHECK(out.str().find("mp4: /out/" + std::to_string(id) + ".mp4\n") != std::string::npos);
  CHECK(out.str().find("poster: /out/" + std::to_string(id) + ".png\n") != std::string::npos);
  CHECK(out.str().find("video: 64x96, 17 frames at 24 fps, 0.708 s, 12345 bytes\n") != std::string::npos);
  CHECK(out.str().find("audio: AAC 48000 Hz, 2 channels\n") != std::string::npos);
  std::ostringstream oj, ej;
  REQUIRE(dispatcher::cli_main({"status", std::to_string(id), "--json", "--database", env.pg.url()}, oj, ej) == 0);
  const auto v = nlohmann::json::parse(oj.str());
  CHECK(v["result"]["media"]["frames"].get<int64_t>() == 17);
  CHECK(v["result"]["media"]["audio_channels"].get<int64_t>() == 2);
  CHECK(v["result"]["media"]["mp4_path"].get<std::string>() == r.output_path);

  // A result without an MP4 (a stand-in engine's Y4M) has no media and no media lines.
  const int64_t id2 = env.insert("(prompt) VALUES ('no mp4')");
  w.send(proto::Credit{1});
  auto j2 = w.recv_until<proto::Job>(5s);
  REQUIRE(j2);
  proto::Result r2;
  r2.job_id = j2->job_id;
  r2.epoch = j2->epoch;
  r2.ok = true;
  r2.output_path = "/out/x.y4m";
  w.send(r2);
  REQUIRE(env.wait_state(id2, "succeeded") == "succeeded");
  CHECK(env.q("SELECT result ? 'media' FROM framefarm.jobs WHERE id = " + std::to_string(id2)) == "f");
  std::ostringstream o2, e2;
  REQUIRE(dispatcher::cli_main({"status", std::to_string(id2), "--database", env.pg.url()}, o2, e2) == 0);
  CHECK(o2.str().find("mp4:") == std::string::npos);
}
