// e2e: a real /metrics scrape over HTTP from the worker's exposer, checked by promtool.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/worker/cache/cache_test_support.hpp"
#include "worker/metrics/worker_metrics.hpp"

namespace {

// GET `path` from 127.0.0.1:port with HTTP/1.0; returns the whole response (headers + body).
std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(send(fd, req.data(), req.size(), 0) == ssize_t(req.size()));
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, size_t(n));
  close(fd);
  return resp;
}

ff::proto::EngineStats sample_stats() {
  ff::proto::EngineStats st;
  st.gpu_used_bytes = 70'800'000'000;
  st.gpu_total_bytes = 150'000'000'000;
  st.vram_budget_bytes = 96'000'000'000;
  st.ooms_avoided_total = 2;
  auto& te = st.components["text_encoder"];
  te.placement = "auto:30/48";
  te.peak_vram_bytes = 4'200'000'000;
  te.resident_bytes = 13'000'000'000;
  te.pinned_host_bytes = 8'000'000'000;
  te.streamed_bytes_total = 8'000'000'000;
  te.stream_seconds_total = 0.16;
  te.stall_seconds_total = 0.01;
  te.resident_blocks = 30;
  te.total_blocks = 48;
  auto& s1 = st.components["stage1_transformer"];
  s1.placement = "resident";
  s1.resident_bytes = 38'000'000'000;
  s1.peak_vram_bytes = 40'000'000'000;
  s1.resident_blocks = s1.total_blocks = 48;
  return st;
}

}  // namespace

TEST_CASE("scrape /metrics over HTTP, promtool check metrics accepts it") {
  ff::worker::MetricsConfig cfg;
  cfg.bind_address = "127.0.0.1:0";
  ff::worker::WorkerMetrics m(cfg);
  const int port = m.port();
  REQUIRE(port > 0);
  m.update(sample_stats());
  ff::worker::EmbeddingCacheStats cs;
  cs.ram_hits = 3;
  cs.ram_misses = 2;
  cs.database_hits = 1;
  cs.database_misses = 1;
  m.update_cache(cs);
  m.observe_encode_batch(4);
  m.observe_timings({{"queue_wait", 0.2}, {"encode", 0.45}, {"stage1", 12.0}});
  m.count_job(true, ff::proto::ErrorKind::kNone);
  m.count_job(false, ff::proto::ErrorKind::kEngineCrash);

  const std::string resp = http_get(port, "/metrics");
  REQUIRE(resp.rfind("HTTP/1.", 0) == 0);
  CHECK(resp.substr(9, 3) == "200");
  const size_t body_at = resp.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  const std::string body = resp.substr(body_at + 4);
  INFO(body.substr(0, 3000));
  for (const char* line : {
           "framefarm_component_peak_vram_bytes{component=\"text_encoder\"} 4200000000",
           "framefarm_component_streamed_bytes_total{component=\"text_encoder\"} 8000000000",
           "framefarm_component_stream_bandwidth_bytes_per_second{component=\"text_encoder\"} 50000000000",
           "framefarm_component_resident_blocks{component=\"text_encoder\"} 30",
           "framefarm_component_placement_info{component=\"text_encoder\",plan=\"auto:30/48\"} 1",
           "framefarm_component_placement_info{component=\"stage1_transformer\",plan=\"resident\"} 1",
           "framefarm_gpu_memory_budget_bytes 96000000000",
           "framefarm_ooms_avoided_total 2",
           "framefarm_embedding_cache_hits_total{tier=\"ram\"} 3",
           "framefarm_embedding_cache_misses_total{tier=\"database\"} 1",
           "framefarm_encode_batch_prompts_count 1",
           "framefarm_job_phase_duration_seconds_count{phase=\"stage1\"} 1",
           "framefarm_job_attempts_total{error_kind=\"engine_crash\",outcome=\"failed\"} 1",
           "# TYPE framefarm_job_phase_duration_seconds histogram",
           "# TYPE framefarm_job_attempts_total counter"}) {
    CHECK_MESSAGE(body.find(std::string(line) + "\n") != std::string::npos, "missing: " << line);
  }
  CHECK(body.find("framefarm_job_attempts_total_total") == std::string::npos);

  const auto r = ff::test::run_cmd(std::string(FF_PROMTOOL) + " check metrics", body);
  INFO("promtool: " << r.out);
  CHECK(r.rc == 0);
}

TEST_CASE("a second endpoint on a taken port fails with a clear error") {
  ff::worker::MetricsConfig cfg;
  cfg.bind_address = "127.0.0.1:0";
  ff::worker::WorkerMetrics first(cfg);
  REQUIRE(first.port() > 0);
  cfg.bind_address = "127.0.0.1:" + std::to_string(first.port());
  try {
    ff::worker::WorkerMetrics second(cfg);
    FAIL("second exposer on the same port started");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("metrics: cannot listen on '127.0.0.1:") != std::string::npos);
  }
  // The first endpoint still serves.
  CHECK(http_get(first.port(), "/metrics").find("framefarm_job_attempts_total") != std::string::npos);
}
