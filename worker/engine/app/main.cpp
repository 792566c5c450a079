// framefarm-engine: the torch process of a worker.
//   framefarm-engine serve --ipc ipc://PATH --config FILE
//   framefarm-engine make-weights --preset tiny|ltx23-22b --seed S DIR
//   framefarm-engine check-model --config FILE | --model FILE
// Exit status: 0 success, 1 runtime failure (message on stderr), 2 usage error.
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "worker/engine/app/check_model.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/make_weights.hpp"
#include "worker/engine/app/serve.hpp"

namespace {

constexpr const char* kUsage =
    "usage: framefarm-engine serve --ipc ipc://PATH --config FILE\n"
    "       framefarm-engine make-weights --preset tiny|ltx23-22b --seed S DIR\n"
    "       framefarm-engine check-model --config FILE | --model FILE\n";

int usage_error(const std::string& why) {
  std::cerr << "framefarm-engine: " << why << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  try {
    if (cmd == "serve") {
      std::string ipc, config;
      for (size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (i + 1 >= args.size()) return usage_error("option " + a + " needs a value");
        if (a == "--ipc") ipc = args[++i];
        else if (a == "--config") config = args[++i];
        else return usage_error("unknown option " + a);
      }
      if (ipc.empty() || config.empty()) return usage_error("serve needs --ipc and --config");
      if (ipc.rfind("ipc://", 0) != 0) return usage_error("--ipc must be an ipc:// endpoint, got " + ipc);
      ff::engine::ServeOptions opts{ipc, ff::engine::load_engine_config(config)};
      return ff::engine::serve(opts);
    }
    if (cmd == "check-model") return ff::engine::check_model_command({args.begin() + 1, args.end()});
    if (cmd == "make-weights") {
      std::string preset, dir;
      long long seed = 0;
      bool have_seed = false;
      for (size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--preset" || a == "--seed") {
          if (i + 1 >= args.size()) return usage_error("option " + a + " needs a value");
          const std::string v = args[++i];
          if (a == "--preset") {
            preset = v;
          } else {
            char* end = nullptr;
            seed = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0') return usage_error("--seed must be an integer, got " + v);
            have_seed = true;
          }
        } else if (!a.empty() && a[0] == '-') {
          return usage_error("unknown option " + a);
        } else if (dir.empty()) {
          dir = a;
        } else {
          return usage_error("more than one directory given");
        }
      }
      if (preset.empty() || !have_seed || dir.empty())
        return usage_error("make-weights needs --preset, --seed and DIR");
      ff::engine::make_weights(preset, seed, dir);
      std::cout << "framefarm-engine: wrote preset " << preset << " (seed " << seed << ") to " << dir << "\n";
      return 0;
    }
    return usage_error("unknown command '" + cmd + "'");
  } catch (const std::exception& e) {
    std::cerr << "framefarm-engine " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
