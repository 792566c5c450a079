// e2e: promtool validates ops/prometheus (config, rules, rule unit tests) and the PromQL of the
// Grafana dashboard.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <unistd.h>

#include "common/json_fields.hpp"
#include "tests/worker/cache/cache_test_support.hpp"

namespace {

std::string promtool() { return FF_PROMTOOL; }
std::string ops(const std::string& f) { return ff::test::source_path("ops/prometheus/" + f); }

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t i = 0; (i = s.find(from, i)) != std::string::npos; i += to.size()) s.replace(i, from.size(), to);
}

}  // namespace

TEST_CASE("promtool check config ops/prometheus/prometheus.yml") {
  const auto r = ff::test::run_cmd(promtool() + " check config " + ops("prometheus.yml"));
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(r.out.find("SUCCESS: 1 rule files found") != std::string::npos);
}

TEST_CASE("promtool check rules ops/prometheus/framefarm_alerts.yml") {
  const auto r = ff::test::run_cmd(promtool() + " check rules " + ops("framefarm_alerts.yml"));
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(r.out.find("SUCCESS: 15 rules found") != std::string::npos);
}

TEST_CASE("every alert of framefarm_alerts.yml has a promtool test case") {
  const auto rules = ff::test::read_file(ops("framefarm_alerts.yml"));
  const auto tests = ff::test::read_file(ops("framefarm_alerts_test.yml"));
  const std::regex alert_re("- alert: ([A-Za-z]+)");
  int n = 0;
  for (std::sregex_iterator it(rules.begin(), rules.end(), alert_re), end; it != end; ++it, ++n) {
    const std::string name = (*it)[1];
    INFO(name);
    // A case where it fires: its alertname followed by a non-empty exp_alerts.
    const std::regex firing("alertname: " + name + "\\n\\s+exp_alerts:\\n\\s+- exp_labels:");
    CHECK(std::regex_search(tests, firing));
  }
  CHECK(n == 15);
}

TEST_CASE("promtool test rules ops/prometheus/framefarm_alerts_test.yml") {
  const auto r = ff::test::run_cmd("cd " + ff::test::source_path("ops/prometheus") + " && " +
                                   promtool() + " test rules framefarm_alerts_test.yml");
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(r.out.find("SUCCESS") != std::string::npos);
}

TEST_CASE("every dashboard expr is valid PromQL (promtool check rules on them as recording rules)") {
  const auto dash = ff::json::parse(ff::test::read_file(ff::test::source_path("ops/grafana/framefarm.json")), "test");
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  int n = 0;
  std::function<void(const ff::json::Json&, const std::string&)> walk =
      [&](const ff::json::Json& v, const std::string& key) {
        if (v.is_string() && key == "expr") {
          std::string e = v.get<std::string>();
          // Grafana's variables, as Grafana would substitute them.
          replace_all(e, "$__rate_interval", "5m");
          replace_all(e, "$__interval", "1m");
          replace_all(e, "$__range", "1h");
          // Template variables ($instance, $gpu, ...) sit in regex label matchers: match all.
          e = std::regex_replace(e, std::regex("\\$[a-z_]+"), ".*");
          CHECK_MESSAGE(e.find('$') == std::string::npos, e);
          rules += "      - record: framefarm_dashboard_expr_" + std::to_string(n++) + "\n";
          rules += "        expr: " + ff::json::Json(e).dump() + "\n";
        }
        if (v.is_array())
          for (const auto& x : v) walk(x, key);
        if (v.is_object())
          for (const auto& [k, x] : v.items()) walk(x, k);
      };
  walk(dash, "");
  REQUIRE(n >= 10);
  char path[] = "/tmp/ff_dashboard_rules_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, rules.data(), rules.size()) == ssize_t(rules.size()));
  close(fd);
  const std::string yml = std::string(path) + ".yml";
  REQUIRE(std::rename(path, yml.c_str()) == 0);
  const auto r = ff::test::run_cmd(promtool() + " check rules " + yml);
  std::remove(yml.c_str());
  INFO(rules);
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(r.out.find("SUCCESS: " + std::to_string(n) + " rules found") != std::string::npos);
}
