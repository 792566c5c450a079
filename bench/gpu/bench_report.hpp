// Benchmark command line (the flags every GPU bench shares, CLI11) and output: named
// measurements printed as a table and written as JSON (--json FILE).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace ff::bench {

using Json = nlohmann::ordered_json;

struct BenchArgs {
  std::string json_path;        // --json FILE (optional)
  std::string device = "cuda";  // --device cpu|cuda[:N]
  std::string preset = "full";  // --preset full|tiny (tiny: small dims, for a CPU smoke run)
  int repeats = 3;              // --repeats N (timed repetitions; the median is reported)
};

// Adds the shared flags to `app`, bound to `a` (its initializers are the defaults shown).
void add_bench_flags(CLI::App& app, BenchArgs& a);

// Parses argv into `app` (common/cli_flags.hpp conventions). Returns -1 to go on, else the exit
// status main() returns: 0 after --help (printed), 2 after a usage error (message on stderr).
int parse_bench_flags(CLI::App& app, int argc, char** argv);

class Report {
 public:
  explicit Report(std::string bench) : bench_(std::move(bench)) {}
  // One measured or derived value. Engine thread.
  void add(const std::string& name, double value, const std::string& unit, const std::string& note = "");
  // A pass/fail check with the numbers behind it.
  void check(const std::string& name, bool ok, const std::string& detail);
  // Free-form context (device, sizes, settings).
  void context(const std::string& key, Json v);
  // Prints the table to stdout and writes JSON when a path is given; returns 0 when every
  // check passed, 1 otherwise.
  int finish(const std::string& json_path) const;

 private:
  struct Row { std::string name; double value; std::string unit; std::string note; };
  struct Check { std::string name; bool ok; std::string detail; };
  std::string bench_;
  std::vector<Row> rows_;
  std::vector<Check> checks_;
  Json context_ = Json::object();
};

// Median of the values (0 for none).
double median(std::vector<double> v);

}  // namespace ff::bench
