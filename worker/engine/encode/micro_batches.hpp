// How the prompts of one encode call are grouped: sorted by real length (longest first) and cut
// into micro-batches of at most max_batch prompts. Each micro-batch is computed over a window of
// its longest prompt's length (left padding inside the window); column c of the window is
// position (max_length - window + c) of the padded layout, so results equal the padded
// computation. Torch-free, pure.
#pragma once

#include <cstdint>
#include <vector>

namespace ff::engine::encode {

struct MicroBatch {
  std::vector<int> prompts;       // indices into the call's prompts, longest first
  std::vector<int> real_tokens;   // per row: real tokens of that prompt
  int window = 0;                 // columns computed: the longest real prompt here
  int max_length = 0;             // the padded layout's length
  int first_position() const { return max_length - window; }
  int64_t tokens() const { return static_cast<int64_t>(prompts.size()) * window; }
};

// Groups prompts with these real lengths (each in [1, max_length]; throws std::invalid_argument
// otherwise) into micro-batches of at most max_batch (>= 1) prompts. trim = false computes every
// micro-batch over the whole padded layout (window = max_length), as the reference does.
std::vector<MicroBatch> plan_micro_batches(const std::vector<int>& real_tokens, int max_length,
                                           int max_batch, bool trim = true);

}  // namespace ff::engine::encode
