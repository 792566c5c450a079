#include "worker/make_model.hpp"

#include <sentencepiece_trainer.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "worker/engine_process.hpp"

namespace fs = std::filesystem;

extern const char kFramefarmTokenizerCorpus[];  // generated from worker/tokenizer_corpus.txt

// Exported by libsentencepiece (not declared in its public headers): 0 info, 1 warning, 2 error.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace ff::worker {

const std::string& builtin_tokenizer_corpus() {
  static const std::string corpus(kFramefarmTokenizerCorpus);
  return corpus;
}

void train_tokenizer(const std::string& corpus_text, const std::string& model_path,
                     int32_t vocab_size) {
  if (model_path.size() < 7 || model_path.substr(model_path.size() - 6) != ".model")
    throw std::runtime_error("tokenizer model path must end in .model: " + model_path);
  const fs::path out(model_path);
  fs::create_directories(out.parent_path());
  const fs::path corpus = out.parent_path() / ".tokenizer_corpus.txt";
  {
    std::ofstream f(corpus, std::ios::binary | std::ios::trunc);
    f << corpus_text;
    if (!f) throw std::runtime_error("cannot write " + corpus.string());
  }
  const std::string prefix = model_path.substr(0, model_path.size() - 6);
  // Gemma-like: BPE with byte fallback, no normaliser, no dummy prefix, digits split.
  const std::string args =
      "--input=" + corpus.string() + " --model_prefix=" + prefix +
      " --vocab_size=" + std::to_string(vocab_size) +
      " --model_type=bpe --character_coverage=1.0 --byte_fallback=true --split_digits=true"
      " --normalization_rule_name=identity --add_dummy_prefix=false"
      " --remove_extra_whitespaces=false --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3"
      " --pad_piece=<pad> --eos_piece=<eos> --bos_piece=<bos> --unk_piece=<unk>"
      " --max_sentence_length=8192 --num_threads=1";
  sentencepiece::logging::SetMinLogLevel(1);  // the trainer's per-merge INFO lines are noise here
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  std::error_code ec;
  fs::remove(corpus, ec);
  fs::remove(prefix + ".vocab", ec);
  if (!status.ok()) throw std::runtime_error("sentencepiece training failed: " + status.ToString());
}

int run_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    execv(args[0], args.data());
    std::cerr << "make-model: cannot exec " << argv[0] << ": " << strerror(errno) << "\n";
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// The Gemma-3 folder of the published layout, where the tokenizer lives.
constexpr const char* kTextEncoderFolder = "gemma-3-12b-it-qat-q4_0-unquantized";

int make_model(const MakeModelOptions& opt) {
  try {
    if (opt.dir.empty()) throw std::runtime_error("missing model directory");
    const std::string tok = opt.dir + "/" + kTextEncoderFolder + "/tokenizer.model";
    train_tokenizer(builtin_tokenizer_corpus(), tok, kTinyVocabSize);
    std::cerr << "make-model: wrote " << tok << " (vocab " << kTinyVocabSize << ")\n";
    if (opt.tokenizer_only) return 0;
    const std::string engine = find_engine(opt.engine_command);
    const int rc = run_and_wait({engine, "make-weights", "--preset", opt.preset, "--seed",
                                 std::to_string(opt.seed), opt.dir});
    if (rc != 0) std::cerr << "make-model: " << engine << " make-weights exited with status " << rc << "\n";
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "make-model: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ff::worker
