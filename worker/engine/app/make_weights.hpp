// `framefarm-engine make-weights --preset tiny|ltx23-22b --seed S DIR`: writes the published
// LTX-2.3 layout with random weights (ltx2/published_writer.hpp): ltx-2.3-22b-dev.safetensors,
// the upsampler, the distilled LoRA, gemma-3-12b-it-qat-q4_0-unquantized/ and model.json naming
// them (tiny also writes ltx-2.3-22b-distilled-1.1.safetensors). `tiny` runs a job in seconds on a
// CPU (CI, ops/quickstart); `ltx23-22b` is the real size (46 GB checkpoint streamed to disk).
// Same preset and seed give byte-identical files.
#pragma once

#include <cstdint>
#include <string>

namespace ff::engine {

// Throws std::invalid_argument for an unknown preset, io::CheckpointError / std::runtime_error
// naming the file on I/O failures.
void make_weights(const std::string& preset, int64_t seed, const std::string& dir);

}  // namespace ff::engine
