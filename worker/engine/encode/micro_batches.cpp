#include "worker/engine/encode/micro_batches.hpp"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ff::engine::encode {

std::vector<MicroBatch> plan_micro_batches(const std::vector<int>& real_tokens, int max_length,
                                           int max_batch, bool trim) {
  if (max_batch < 1) throw std::invalid_argument("micro-batch size must be >= 1");
  for (size_t i = 0; i < real_tokens.size(); ++i)
    if (real_tokens[i] < 1 || real_tokens[i] > max_length)
      throw std::invalid_argument("prompt " + std::to_string(i) + " has " +
                                  std::to_string(real_tokens[i]) + " tokens; expected 1.." +
                                  std::to_string(max_length));
  std::vector<int> order(real_tokens.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return real_tokens[a] > real_tokens[b]; });
  std::vector<MicroBatch> out;
  for (size_t i = 0; i < order.size(); i += max_batch) {
    MicroBatch mb;
    mb.max_length = max_length;
    for (size_t j = i; j < std::min(order.size(), i + max_batch); ++j) {
      mb.prompts.push_back(order[j]);
      mb.real_tokens.push_back(real_tokens[order[j]]);
    }
    mb.window = trim ? mb.real_tokens.front() : max_length;
    out.push_back(std::move(mb));
  }
  return out;
}

}  // namespace ff::engine::encode
