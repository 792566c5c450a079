// framefarm-worker: the torch-free worker supervisor (see supervisor.hpp) and its tools
// (check-config, check-model, make-model). One CLI11 App per command (common/cli_flags.hpp):
// usage errors print a message and exit 2; --help prints the command's options with defaults.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/cli_flags.hpp"
#include "worker/check_model.hpp"
#include "worker/log.hpp"
#include "worker/make_model.hpp"
#include "worker/node_config.hpp"
#include "worker/supervisor.hpp"
#include "worker/worker_config.hpp"

namespace {

constexpr const char* kOverview =
    "usage: framefarm-worker COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  serve --config FILE [--gpu N]         run the supervisor: register with the dispatcher, run\n"
    "                                        the engine child, execute jobs; SIGTERM hands back\n"
    "                                        unstarted jobs and exits 0; exits 3 when the engine\n"
    "                                        cannot start (engine_max_start_failures in a row).\n"
    "  check-config --config FILE [--gpu N]  decode the config and report the first problem.\n"
    "  check-model --config FILE [--gpu N]   check the model files (headers, names, shapes,\n"
    "                                        dtypes, configs, tokenizer) through\n"
    "                                        `framefarm-engine check-model`, loading no weights.\n"
    "  make-model [options] DIR              train the tokenizer into the Gemma folder, then run\n"
    "                                        `framefarm-engine make-weights --preset P --seed S DIR`.\n"
    "\n"
    "Run `framefarm-worker COMMAND --help` for its options.\n";

// serve, check-config and check-model read one config file.
struct ConfigArgs {
  std::string config;
  int gpu = -1;  // -1 = the file is one worker's config; N = a node config, GPU N's part
};

void add_config_flags(CLI::App& app, ConfigArgs& a) {
  app.add_option("--config", a.config, "worker config (JSON, see worker/worker_config.hpp)")
      ->type_name("FILE")
      ->required();
  app.add_option("--gpu", a.gpu,
                 "FILE is a node config for every GPU of the node: GPU N's overrides from its \"gpus\" "
                 "object, \"{gpu}\" replaced by N, metrics ports + N (framefarm-worker@N passes its "
                 "instance); -1 = FILE is one worker's config")
      ->type_name("N")
      ->check(ff::cli::integer(0, 9999));
}

void add_make_model_flags(CLI::App& app, ff::worker::MakeModelOptions& o) {
  app.add_option("--preset", o.preset, "model size: tiny | ltx23-22b (the engine checks it)")->type_name("NAME");
  app.add_option("--seed", o.seed, "seed of the random weights")->type_name("N")->check(ff::cli::integer(0, INT64_MAX));
  app.add_option("--engine", o.engine_command, "framefarm-engine to run; empty = the one next to this binary")
      ->type_name("PATH");
  app.add_flag("--tokenizer-only", o.tokenizer_only, "write the tokenizer only (no make-weights)");
  app.add_option("DIR", o.dir, "model directory to write")->required();
}

int run_config_command(const std::string& cmd, const ConfigArgs& a) {
  if (cmd == "check-model") return ff::worker::check_model(a.config, a.gpu);
  try {
    ff::worker::WorkerConfig cfg = a.gpu >= 0 ? ff::worker::load_worker_config_for_gpu(a.config, a.gpu)
                                              : ff::worker::load_worker_config(a.config);
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

}  // namespace

int main(int argc, char** argv) {
  ff::worker::block_supervisor_signals();
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "framefarm-worker: missing command\n\n" << kOverview;
    return 2;
  }
  const std::string cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kOverview;
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  const bool config_command = cmd == "serve" || cmd == "check-config" || cmd == "check-model";
  if (!config_command && cmd != "make-model") {
    std::cerr << "framefarm-worker: unknown command '" << cmd << "'\n\n" << kOverview;
    return 2;
  }
  CLI::App app("", "framefarm-worker " + cmd);
  ConfigArgs config_args;
  ff::worker::MakeModelOptions make;
  if (config_command) {
    ff::cli::configure(app, "framefarm-worker " + cmd + " --config FILE [--gpu N]");
    add_config_flags(app, config_args);
  } else {
    ff::cli::configure(app, "framefarm-worker make-model [options] DIR");
    add_make_model_flags(app, make);
  }
  try {
    if (!ff::cli::parse(app, rest)) {
      std::cout << app.help();
      return 0;
    }
  } catch (const ff::config::UsageError& e) {
    std::cerr << "framefarm-worker " << cmd << ": " << e.what() << "\n(see `framefarm-worker " << cmd
              << " --help`)\n";
    return 2;
  }
  if (config_command) return run_config_command(cmd, config_args);
  return ff::worker::make_model(make);
}
