// framefarm-worker: the torch-free worker supervisor (see supervisor.hpp) and make-model.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "worker/check_model.hpp"
#include "worker/log.hpp"
#include "worker/make_model.hpp"
#include "worker/node_config.hpp"
#include "worker/supervisor.hpp"
#include "worker/worker_config.hpp"

namespace {

constexpr const char* kUsage =
    "usage: framefarm-worker serve --config FILE [--gpu N]\n"
    "       framefarm-worker make-model [--preset tiny|ltx23-22b] [--seed N]\n"
    "                                   [--engine PATH] [--tokenizer-only] DIR\n"
    "       framefarm-worker check-config --config FILE [--gpu N]\n"
    "       framefarm-worker check-model --config FILE [--gpu N]\n"
    "\n"
    "serve         run the supervisor: register with the dispatcher, run the engine child,\n"
    "              execute jobs; SIGTERM hands back unstarted jobs and exits 0; exits 3 when\n"
    "              the engine cannot start (engine_max_start_failures starts in a row failed).\n"
    "--gpu N       FILE is a node config for every GPU of the node: GPU N's overrides from its\n"
    "              \"gpus\" object, \"{gpu}\" replaced by N, metrics ports + N (the unit\n"
    "              framefarm-worker@N passes its instance).\n"
    "make-model    train the tokenizer into the Gemma folder, then run\n"
    "              `framefarm-engine make-weights --preset P --seed S DIR`.\n"
    "check-config  decode the config file and report the first problem (exit 0 if valid).\n"
    "check-model   check the model files (headers, names, shapes, dtypes, configs, tokenizer)\n"
    "              through `framefarm-engine check-model`, without loading weights.\n";

int usage_error(const std::string& what) {
  std::cerr << "framefarm-worker: " << what << "\n\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ff::worker::block_supervisor_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing command");
  const std::string cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "serve" || cmd == "check-config" || cmd == "check-model") {
    std::string config;
    int gpu = -1;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--help") { std::cout << kUsage; return 0; }
      if (args[i] == "--config" && i + 1 < args.size()) config = args[++i];
      else if (args[i] == "--gpu" && i + 1 < args.size()) {
        const std::string& v = args[++i];
        if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos)
          return usage_error("--gpu needs a GPU index (0, 1, ...), got '" + v + "'");
        gpu = std::stoi(v);
      } else return usage_error("unknown argument '" + args[i] + "' for " + cmd);
    }
    if (config.empty()) return usage_error(cmd + " needs --config FILE");
    if (cmd == "check-model") return ff::worker::check_model(config, gpu);
    try {
      ff::worker::WorkerConfig cfg = gpu >= 0 ? ff::worker::load_worker_config_for_gpu(config, gpu)
                                              : ff::worker::load_worker_config(config);
      if (cmd == "check-config") {
        std::cout << "config ok: worker " << cfg.worker_id << " -> " << cfg.dispatcher_endpoint << "\n";
        return 0;
      }
      ff::worker::Supervisor sup(std::move(cfg));
      return sup.run();
    } catch (const std::exception& e) {
      ff::worker::log_error(e.what());
      return 1;
    }
  }
  if (cmd == "make-model") {
    ff::worker::MakeModelOptions opt;
    for (size_t i = 1; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&](const char* name) -> std::string {
        if (i + 1 >= args.size()) throw std::runtime_error(std::string(name) + " needs a value");
        return args[++i];
      };
      try {
        if (a == "--help") { std::cout << kUsage; return 0; }
        else if (a == "--preset") opt.preset = value("--preset");
        else if (a == "--seed") opt.seed = std::stoll(value("--seed"));
        else if (a == "--engine") opt.engine_command = value("--engine");
        else if (a == "--tokenizer-only") opt.tokenizer_only = true;
        else if (!a.empty() && a[0] == '-') return usage_error("unknown option '" + a + "'");
        else if (opt.dir.empty()) opt.dir = a;
        else return usage_error("more than one directory given ('" + a + "')");
      } catch (const std::exception& e) {
        return usage_error(std::string("make-model: bad ") + a + ": " + e.what());
      }
    }
    if (opt.dir.empty()) return usage_error("make-model needs a directory");
    return ff::worker::make_model(opt);
  }
  return usage_error("unknown command '" + cmd + "'");
}
