// Benchmark output: named measurements printed as a table and written as JSON (--json FILE).
#pragma once

#include <string>
#include <vector>

#include "common/json.hpp"

namespace ff::bench {

struct BenchArgs {
  std::string json_path;        // --json FILE (optional)
  std::string device = "cuda";  // --device cpu|cuda[:N]
  std::string preset = "full";  // --preset full|tiny (tiny: small dims, for a CPU smoke run)
  int repeats = 3;              // --repeats N (timed repetitions; the median is reported)
};

// Parses argv; throws std::invalid_argument naming an unknown or malformed option.
BenchArgs parse_bench_args(int argc, char** argv);

class Report {
 public:
  explicit Report(std::string bench) : bench_(std::move(bench)) {}
  // One measured or derived value. Engine thread.
  void add(const std::string& name, double value, const std::string& unit, const std::string& note = "");
  // A pass/fail check with the numbers behind it.
  void check(const std::string& name, bool ok, const std::string& detail);
  // Free-form context (device, sizes, settings).
  void context(const std::string& key, json::Value v);
  // Prints the table to stdout and writes JSON when a path is given; returns 0 when every
  // check passed, 1 otherwise.
  int finish(const std::string& json_path) const;

 private:
  struct Row { std::string name; double value; std::string unit; std::string note; };
  struct Check { std::string name; bool ok; std::string detail; };
  std::string bench_;
  std::vector<Row> rows_;
  std::vector<Check> checks_;
  json::Object context_;
};

// Median of the values (0 for none).
double median(std::vector<double> v);

}  // namespace ff::bench
