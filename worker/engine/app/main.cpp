// framefarm-engine: the torch process of a worker.
//   framefarm-engine serve --ipc ipc://PATH --config FILE
//   framefarm-engine make-weights --preset tiny|ltx23-22b --seed S DIR
//   framefarm-engine check-model --config FILE | --model FILE
// Exit status: 0 success, 1 runtime failure (message on stderr), 2 usage error.
// The command lines follow common/cli_flags.hpp (CLI11; unknown options and extra arguments
// refused, errors naming the option).
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "common/cli_flags.hpp"
#include "worker/engine/app/check_model.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/make_weights.hpp"
#include "worker/engine/app/serve.hpp"

namespace {

constexpr const char* kUsage =
    "usage: framefarm-engine serve --ipc ipc://PATH --config FILE\n"
    "       framefarm-engine make-weights --preset tiny|ltx23-22b --seed S DIR\n"
    "       framefarm-engine check-model --config FILE | --model FILE\n";

// One command's flags bound to plain fields; `run` is called once they parsed.
template <typename Run>
int command(const std::string& cmd, const std::string& usage, CLI::App& app, const std::vector<std::string>& args,
            Run run) {
  ff::cli::configure(app, "framefarm-engine " + cmd + " " + usage);
  try {
    if (!ff::cli::parse(app, args)) {
      std::cout << app.help();
      return 0;
    }
  } catch (const ff::config::UsageError& e) {
    std::cerr << "framefarm-engine " << cmd << ": " << e.what() << "\n" << kUsage;
    return 2;
  }
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << "framefarm-engine " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}

const CLI::Validator kIpcEndpoint(
    [](std::string& v) -> std::string {
      return v.rfind("ipc://", 0) == 0 ? std::string{} : "must be an ipc:// endpoint, got '" + v + "'";
    },
    "ipc://PATH");

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  CLI::App app;
  if (cmd == "serve") {
    std::string ipc, config;
    app.add_option("--ipc", ipc, "the supervisor's endpoint")->required()->check(kIpcEndpoint);
    app.add_option("--config", config, "engine config file (JSON)")->required();
    return command(cmd, "--ipc ipc://PATH --config FILE", app, args, [&] {
      return ff::engine::serve(ff::engine::ServeOptions{ipc, ff::engine::load_engine_config(config)});
    });
  }
  if (cmd == "make-weights") {
    std::string preset, dir;
    int64_t seed = 0;
    app.add_option("--preset", preset, "tiny or ltx23-22b")->required();
    app.add_option("--seed", seed, "random seed")->required()->check(ff::cli::integer(INT64_MIN, INT64_MAX));
    app.add_option("DIR", dir, "output folder")->required();
    return command(cmd, "--preset tiny|ltx23-22b --seed S DIR", app, args, [&] {
      ff::engine::make_weights(preset, seed, dir);
      std::cout << "framefarm-engine: wrote preset " << preset << " (seed " << seed << ") to " << dir << "\n";
      return 0;
    });
  }
  if (cmd == "check-model") {
    ff::engine::CheckModelArgs a;
    auto* config = app.add_option("--config", a.config, "an engine config: check its \"model\" files");
    auto* model = app.add_option("--model", a.model, "a model object file (as make-weights writes)");
    config->excludes(model);
    app.require_option(1);
    return command(cmd, "--config FILE | --model FILE", app, args, [&] { return ff::engine::check_model_command(a); });
  }
  std::cerr << "framefarm-engine: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
