// e2e: a real Prometheus (Debian's) scrapes a real dispatcher (`serve --metrics-bind`) and a
// worker metrics endpoint (WorkerMetrics, fed as the supervisor feeds it) and loads the alert
// rules. Every alert rule must evaluate with health "ok", every dashboard query must evaluate,
// and every dashboard panel must return data.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "common/json_fields.hpp"
#include "dispatcher/migrate.hpp"
#include "tests/dispatcher/process.hpp"
#include "tests/observability/http_get.hpp"
#include "tests/support/pg_cluster.hpp"
#include "worker/metrics/worker_metrics.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string url_encode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out.push_back(char(c));
    else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// GET from Prometheus' HTTP API; returns the parsed JSON body (null on no answer).
ff::json::Json api(int port, const std::string& path_and_query) {
  const std::string r = ff::test::http_get(port, path_and_query);
  const auto body = r.find("\r\n\r\n");
  if (body == std::string::npos) return {};
  try {
    return ff::json::parse(r.substr(body + 4), "test");
  } catch (const std::exception&) {
    return {};
  }
}

// The worker's figures as the engine would report them.
ff::proto::EngineStats engine_stats(int64_t step) {
  ff::proto::EngineStats st;
  st.gpu_used_bytes = 70'000'000'000 + step;
  st.gpu_total_bytes = 150'000'000'000;
  st.vram_budget_bytes = 96'000'000'000;
  st.ooms_avoided_total = step;
  auto& te = st.components["text_encoder"];
  te.placement = "auto:30/48";
  te.peak_vram_bytes = 4'200'000'000;
  te.resident_bytes = 13'000'000'000;
  te.pinned_host_bytes = 8'000'000'000;
  te.streamed_bytes_total = 8'000'000'000 * (step + 1);
  te.stream_seconds_total = 0.16 * double(step + 1);
  te.stall_seconds_total = 0.01 * double(step + 1);
  te.resident_blocks = 30;
  te.total_blocks = 48;
  return st;
}

}  // namespace

TEST_CASE("live Prometheus: alert rules healthy, every dashboard query evaluates, every panel has data") {
  const std::string prometheus = FF_PROMETHEUS;
  ff::test::PgCluster pg;
  ff::dispatcher::migrate(pg.url(), ff::dispatcher::default_schema_dir());
  const fs::path dir = fs::temp_directory_path() / ("ff_live_prom_" + std::to_string(getpid()));
  fs::create_directories(dir);

  // A dispatcher with its /metrics; jobs in several states, some finishing after it started.
  const int dport = free_port();
  ff::test::Process dispatcher({"/bin/sh", "-c",
                                "exec " + std::string(FF_DISPATCHER_BIN) + " serve --database '" + pg.url() +
                                    "' --bind tcp://127.0.0.1:* --metrics-bind 127.0.0.1:" + std::to_string(dport) +
                                    " --metrics-interval-ms 300 > " + (dir / "dispatcher.log").string() + " 2>&1"});
  auto sql = [&](const std::string& q) {
    pqxx::connection c(pg.url());
    pqxx::work tx(c);
    tx.exec(q);
    tx.commit();
  };
  sql("INSERT INTO framefarm.jobs (prompt) VALUES ('a'), ('b'), ('c')");
  sql("INSERT INTO framefarm.workers (worker_id, dispatcher_id, status) VALUES ('n1/cuda:0', 'd', 'alive')");

  // A worker endpoint fed like the supervisor feeds it.
  ff::worker::MetricsConfig mc;
  mc.bind_address = "127.0.0.1:0";
  mc.worker_id = "n1/cuda:0";
  mc.gpu = "cuda:0";
  ff::worker::WorkerMetrics worker(mc);
  worker.set_status(true, true);
  const int wport = worker.port();
  REQUIRE(wport > 0);

  const int pport = free_port();
  const std::string rules = read_file(fs::path(FF_SOURCE_DIR) / "ops/prometheus/framefarm_alerts.yml");
  std::ofstream(dir / "framefarm_alerts.yml") << rules;
  std::ofstream(dir / "prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "rule_files:\n  - framefarm_alerts.yml\n"
      << "scrape_configs:\n"
      << "  - job_name: framefarm-dispatcher\n    static_configs:\n      - targets: ['127.0.0.1:" << dport << "']\n"
      << "  - job_name: framefarm-worker\n    static_configs:\n      - targets: ['127.0.0.1:" << wport << "']\n";
  ff::test::Process prom({"/bin/sh", "-c",
                          "exec " + prometheus + " --config.file=" + (dir / "prometheus.yml").string() +
                              " --storage.tsdb.path=" + (dir / "data").string() +
                              " --web.listen-address=127.0.0.1:" + std::to_string(pport) + " > " +
                              (dir / "prometheus.log").string() + " 2>&1"});

  // Both targets up, then several scrapes while jobs finish and the worker works.
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    std::this_thread::sleep_for(100ms);
    const auto r = api(pport, "/api/v1/query?query=" + url_encode("count(up == 1)"));
    const auto* data = r.is_object() && r.contains("data") ? &r.at("data") : nullptr;
    if (data && (*data)["result"].size() == 1)
      up = (*data)["result"][0]["value"][1].get<std::string>() == "2";
  }
  INFO("prometheus log:\n" << read_file(dir / "prometheus.log"));
  INFO("dispatcher log:\n" << read_file(dir / "dispatcher.log"));
  REQUIRE(up);
  for (int step = 0; step < 6; ++step) {
    worker.update(engine_stats(step));
    worker.update_cache({});
    worker.observe_encode_batch(2);
    worker.observe_timings({{"encode", 0.5}, {"stage1", 10.0}, {"decode", 2.0}});
    worker.count_job(step % 3 != 0, step % 3 == 0 ? ff::proto::ErrorKind::kBadInput : ff::proto::ErrorKind::kNone);
    if (step == 1)
      sql("UPDATE framefarm.jobs SET state = 'succeeded', started_at = now(), finished_at = now() WHERE prompt = 'a'");
    if (step == 2)
      sql("UPDATE framefarm.jobs SET state = 'dead', error_kind = 'bad_input', finished_at = now() WHERE prompt = 'b'");
    std::this_thread::sleep_for(1100ms);
  }

  // Every alert rule evaluated without error.
  const auto groups = api(pport, "/api/v1/rules");
  REQUIRE(groups.is_object());
  int rules_seen = 0;
  for (const auto& g : groups["data"]["groups"])
    for (const auto& r : g["rules"]) {
      INFO(r["name"].get<std::string>() << ": " << (r.contains("lastError") ? r["lastError"].dump() : ""));
      CHECK(r["health"].get<std::string>() == "ok");
      ++rules_seen;
    }
  CHECK(rules_seen == 15);

  // Every dashboard query evaluates; every panel returns data.
  const auto dash = ff::json::parse(read_file(fs::path(FF_SOURCE_DIR) / "ops/grafana/framefarm.json"), "test");
  int panels = 0;
  for (const auto& p : dash["panels"]) {
    size_t series = 0;
    for (const auto& t : p["targets"]) {
      std::string e = t["expr"].get<std::string>();
      e = std::regex_replace(e, std::regex("\\$__rate_interval"), "10s");
      e = std::regex_replace(e, std::regex("\\$[a-z_]+"), ".*");
      const auto r = api(pport, "/api/v1/query?query=" + url_encode(e));
      INFO(p["title"].get<std::string>() << ": " << e << " -> " << (r).dump());
      REQUIRE(r.is_object());
      CHECK(r["status"].get<std::string>() == "success");
      if (r.contains("data")) series += r["data"]["result"].size();
    }
    INFO(p["title"].get<std::string>());
    CHECK_MESSAGE(series > 0, "panel returns no data");
    ++panels;
  }
  CHECK(panels >= 20);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
