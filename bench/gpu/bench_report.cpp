#include "bench/gpu/bench_report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "common/cli_flags.hpp"

namespace ff::bench {

void add_bench_flags(CLI::App& app, BenchArgs& a) {
  app.add_option("--json", a.json_path, "also write the results as JSON to FILE")->type_name("FILE");
  app.add_option("--device", a.device, "cpu or cuda[:N]")->type_name("DEVICE");
  app.add_option("--preset", a.preset, "full: real sizes; tiny: small dims, for a CPU smoke run")
      ->type_name("PRESET")
      ->check(CLI::IsMember({"full", "tiny"}));
  app.add_option("--repeats", a.repeats, "timed repetitions (the median is reported)")
      ->type_name("N")
      ->check(ff::cli::integer(1, 10000));
}

int parse_bench_flags(CLI::App& app, int argc, char** argv) {
  try {
    if (!ff::cli::parse(app, std::vector<std::string>(argv + 1, argv + argc))) {
      std::cout << app.help();
      return 0;
    }
  } catch (const ff::config::UsageError& e) {
    std::cerr << app.get_name() << ": " << e.what() << "\n";
    return 2;
  }
  return -1;
}

void Report::add(const std::string& name, double value, const std::string& unit, const std::string& note) {
  rows_.push_back({name, value, unit, note});
  std::printf("  %-44s %14.4f %-6s %s\n", name.c_str(), value, unit.c_str(), note.c_str());
  std::fflush(stdout);
}

void Report::check(const std::string& name, bool ok, const std::string& detail) {
  checks_.push_back({name, ok, detail});
}

void Report::context(const std::string& key, Json v) { context_[key] = std::move(v); }

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
    Json root = {{"bench", bench_}, {"context", context_}};
    Json values = Json::object();
    for (const auto& r : rows_) values[r.name] = {{"value", r.value}, {"unit", r.unit}, {"note", r.note}};
    root["measurements"] = std::move(values);
    Json checks = Json::object();
    for (const auto& c : checks_) checks[c.name] = {{"pass", c.ok}, {"detail", c.detail}};
    root["checks"] = std::move(checks);
    std::ofstream out(json_path);
    if (!out) throw std::runtime_error("cannot write " + json_path);
    out << root.dump(2) << "\n";
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
