#include "worker/tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <stdexcept>

namespace ff::worker {

std::string_view strip_prompt(std::string_view prompt) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  const size_t first = prompt.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const size_t last = prompt.find_last_not_of(kSpace);
  return prompt.substr(first, last - first + 1);
}

Tokenizer::Tokenizer(const std::string& model_path, int32_t max_length)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), max_length_(max_length) {
  if (max_length < 1)
    throw std::runtime_error("tokenizer: max_length must be >= 1, got " + std::to_string(max_length));
  const auto status = sp_->Load(model_path);
  if (!status.ok())
    throw std::runtime_error("tokenizer: cannot load sentencepiece model '" + model_path +
                             "': " + status.ToString());
  bos_id_ = sp_->bos_id();
  if (bos_id_ < 0)
    throw std::runtime_error("tokenizer: sentencepiece model '" + model_path +
                             "' defines no BOS piece");
}

Tokenizer::~Tokenizer() = default;

int32_t Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::vector<int32_t> Tokenizer::encode(std::string_view prompt) const {
  const std::string_view text = strip_prompt(prompt);
  std::vector<int> pieces;
  if (!text.empty()) {
    const auto status = sp_->Encode(text, &pieces);
    if (!status.ok()) throw std::runtime_error("tokenizer: cannot encode prompt: " + status.ToString());
  }
  std::vector<int32_t> ids;
  ids.reserve(std::min<size_t>(pieces.size() + 1, static_cast<size_t>(max_length_)));
  ids.push_back(bos_id_);
  for (int id : pieces) {
    if (ids.size() >= static_cast<size_t>(max_length_)) break;
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

}  // namespace ff::worker
