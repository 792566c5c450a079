// Helpers shared by the cache/metrics tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/protocol.hpp"

namespace ff::test {

// A bf16 embedding [rows, vdim] + [rows, adim] with deterministic bytes derived from seed.
proto::PromptEmbedding make_embedding(int32_t real_tokens, int64_t rows, int64_t vdim,
                                      int64_t adim, uint32_t seed);

// Source tree path of a file ("ops/grafana/framefarm.json").
std::string source_path(const std::string& rel);
std::string read_file(const std::string& path);

// Runs `cmd` through sh, feeding `stdin_text`; returns exit status and stdout+stderr.
struct CmdResult {
  int rc = -1;
  std::string out;
};
CmdResult run_cmd(const std::string& cmd, const std::string& stdin_text = "");

// Metric names referenced by a PromQL expression: identifiers starting with framefarm_.
std::vector<std::string> promql_metric_names(const std::string& expr);

}  // namespace ff::test
