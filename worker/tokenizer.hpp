// Prompt tokenizer of the supervisor: a sentencepiece `tokenizer.model` (Gemma-3's, or the tiny one
// `make-model` trains) applied with LTX-2.3's rules:
//   1. the prompt is stripped of leading/trailing ASCII whitespace,
//   2. encoded with sentencepiece,
//   3. exactly one BOS (the model's bos id; 2 for Gemma) is put in front, no EOS is appended,
//   4. the result (BOS included) is truncated to max_length (1024 by default).
// Only real tokens are produced: the engine left-pads them to max_length (pad id 0, mask 1 = real).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ff::worker {

class Tokenizer {
 public:
  // Loads the sentencepiece model at `model_path`. Throws std::runtime_error naming the file when
  // it cannot be read or parsed, or when the model defines no BOS piece.
  explicit Tokenizer(const std::string& model_path, int32_t max_length = 1024);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `prompt` per the rules above (size 1..max_length). Throws std::runtime_error when
  // sentencepiece rejects the input. Any thread (the processor is immutable after load).
  std::vector<int32_t> encode(std::string_view prompt) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t vocab_size() const;
  int32_t max_length() const { return max_length_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  int32_t bos_id_ = -1;
  int32_t max_length_ = 1024;
};

// The prompt without leading/trailing ASCII whitespace (space, \t, \n, \v, \f, \r). Pure.
std::string_view strip_prompt(std::string_view prompt);

}  // namespace ff::worker
