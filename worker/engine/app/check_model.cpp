#include "worker/engine/app/check_model.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/json_fields.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/ltx2/model_files.hpp"

namespace ff::engine {
namespace {

// The model object of a bare model file; relative paths are resolved against its folder.
ltx2::ModelFiles model_from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  const json::Json v = json::parse(ss.str(), path);
  const std::string base = std::filesystem::absolute(path).parent_path().string();
  return ltx2::model_files_from_json(v, path, base);
}

}  // namespace

int check_model_command(const CheckModelArgs& args) {
  const std::string& config = args.config;
  try {
    ltx2::ModelFiles files;
    if (!config.empty()) {
      const EngineConfig ec = load_engine_config(config);
      if (ec.model.is_null()) throw std::invalid_argument(config + ": model: missing required key (the model files)");
      // Relative paths as serve takes them: from the working directory.
      files = ltx2::model_files_from_json(ec.model, config + ": model");
    } else {
      files = model_from_file(args.model);
    }
    std::cout << ltx2::format_report(ltx2::check_model_files(files)) << std::flush;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "framefarm-engine check-model: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ff::engine
