// `framefarm-worker make-model`: the torch-free half of writing a model directory.
// It trains the sentencepiece tokenizer on the corpus shipped in worker/tokenizer_corpus.txt
// (compiled into the binary), with Gemma's special ids (pad 0, eos 1, bos 2, unk 3) and byte
// fallback, into the Gemma folder of the published layout (DIR/gemma-3-12b-it-qat-q4_0-unquantized/),
// then runs `framefarm-engine make-weights --preset P --seed S DIR` for the tensors (a torch
// process; it also writes DIR/model.json naming the files).
// Every preset gets the tiny tokenizer (vocab kTinyVocabSize); a preset's model config may declare
// a larger vocabulary (Gemma-3's 262208), whose extra rows no prompt ever indexes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ff::worker {

inline constexpr int32_t kTinyVocabSize = 512;

struct MakeModelOptions {
  std::string preset = "tiny";  // tiny | ltx23-22b (the engine validates it)
  std::string dir;              // model directory to write
  int64_t seed = 0;
  std::string engine_command;   // framefarm-engine; "" = next to this binary
  bool tokenizer_only = false;  // skip make-weights (tests of the tokenizer half)
};

// Trains the tokenizer into `model_path` (e.g. DIR/gemma-3-12b-it-qat-q4_0-unquantized/tokenizer.model) from
// `corpus_text` with `vocab_size` pieces. Throws std::runtime_error with sentencepiece's message.
void train_tokenizer(const std::string& corpus_text, const std::string& model_path,
                     int32_t vocab_size);

// The corpus compiled into the binary (worker/tokenizer_corpus.txt).
const std::string& builtin_tokenizer_corpus();

// Runs make-model; returns the process exit code (0 = success), logging errors to stderr.
int make_model(const MakeModelOptions& opt);

// Runs argv (argv[0] an executable path) with inherited stdio and waits; returns its exit status
// (128 + signal when killed).
int run_and_wait(const std::vector<std::string>& argv);

}  // namespace ff::worker
