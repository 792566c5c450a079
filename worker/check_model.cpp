#include "worker/check_model.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <unistd.h>

#include "worker/engine_process.hpp"
#include "worker/make_model.hpp"
#include "worker/node_config.hpp"
#include "worker/tokenizer.hpp"
#include "worker/worker_config.hpp"

namespace ff::worker {

int check_model(const std::string& worker_config_path, int gpu) {
  namespace fs = std::filesystem;
  std::string tmp;
  try {
    const WorkerConfig cfg = gpu >= 0 ? load_worker_config_for_gpu(worker_config_path, gpu)
                                      : load_worker_config(worker_config_path);
    const std::string engine = find_engine(cfg.engine_command);
    std::string pattern = (fs::temp_directory_path() / "framefarm-check-model-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw std::runtime_error("cannot create a temporary engine config in " + fs::temp_directory_path().string());
    ::close(fd);
    tmp = pattern;
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << engine_config_json(cfg);
      if (!out) throw std::runtime_error("cannot write " + tmp);
    }
    const int rc = run_and_wait({engine, "check-model", "--config", tmp});
    fs::remove(tmp);
    tmp.clear();
    if (rc != 0) {
      std::cerr << "check-model: " << worker_config_path << ": the engine found a problem (status " << rc << ")\n";
      return rc;
    }
    const std::string tok = text_encoder_dir(cfg) + "/tokenizer.model";
    const Tokenizer t(tok, cfg.max_length);
    std::cout << "tokenizer loaded: " << tok << " (vocab " << t.vocab_size() << ", bos " << t.bos_id() << ")\n";
    return 0;
  } catch (const std::exception& e) {
    if (!tmp.empty()) {
      std::error_code ec;
      fs::remove(tmp, ec);
    }
    std::cerr << "check-model: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ff::worker
