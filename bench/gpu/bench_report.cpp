#include "bench/gpu/bench_report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace ff::bench {

BenchArgs parse_bench_args(int argc, char** argv) {
  BenchArgs a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument("option " + k + " needs a value");
      return argv[++i];
    };
    if (k == "--json") a.json_path = next();
    else if (k == "--device") a.device = next();
    else if (k == "--preset") {
      a.preset = next();
      if (a.preset != "full" && a.preset != "tiny")
        throw std::invalid_argument("--preset must be full or tiny, got " + a.preset);
    } else if (k == "--repeats") {
      a.repeats = std::stoi(next());
      if (a.repeats < 1) throw std::invalid_argument("--repeats must be >= 1");
    } else {
      throw std::invalid_argument("unknown option " + k +
                                  " (expected --json FILE, --device D, --preset full|tiny, --repeats N)");
    }
  }
  return a;
}

void Report::add(const std::string& name, double value, const std::string& unit, const std::string& note) {
  rows_.push_back({name, value, unit, note});
  std::printf("  %-44s %14.4f %-6s %s\n", name.c_str(), value, unit.c_str(), note.c_str());
  std::fflush(stdout);
}

void Report::check(const std::string& name, bool ok, const std::string& detail) {
  checks_.push_back({name, ok, detail});
}

void Report::context(const std::string& key, json::Value v) { context_.set(key, std::move(v)); }

int Report::finish(const std::string& json_path) const {
  std::printf("\n== %s ==\n%-46s %14s %-6s %s\n", bench_.c_str(), "measurement", "value", "unit", "note");
  for (const auto& r : rows_)
    std::printf("%-46s %14.4f %-6s %s\n", r.name.c_str(), r.value, r.unit.c_str(), r.note.c_str());
  bool all = true;
  std::printf("\n%-46s %s\n", "check", "result");
  for (const auto& c : checks_) {
    std::printf("%-46s %s  %s\n", c.name.c_str(), c.ok ? "PASS" : "FAIL", c.detail.c_str());
    all = all && c.ok;
  }
  if (!json_path.empty()) {
    json::Object root;
    root.set("bench", bench_);
    root.set("context", context_);
    json::Object values;
    for (const auto& r : rows_)
      values.set(r.name, json::Object{{"value", r.value}, {"unit", r.unit}, {"note", r.note}});
    root.set("measurements", std::move(values));
    json::Object checks;
    for (const auto& c : checks_) checks.set(c.name, json::Object{{"pass", c.ok}, {"detail", c.detail}});
    root.set("checks", std::move(checks));
    std::ofstream out(json_path);
    if (!out) throw std::runtime_error("cannot write " + json_path);
    out << json::dump(json::Value(std::move(root)), 2) << "\n";
    std::printf("\nwrote %s\n", json_path.c_str());
  }
  return all ? 0 : 1;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace ff::bench
