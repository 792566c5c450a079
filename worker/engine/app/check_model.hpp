// `framefarm-engine check-model --config FILE | --model FILE`: checks the model files named by
// an engine config's "model" object (--config) or by a bare model object such as the model.json
// make-weights writes (--model; relative paths are taken from that file's folder; with --config
// from the working directory, as serve takes them) without loading
// a weight (ltx2::check_model_files), and prints the per-file, per-component summary (tensors,
// params, bytes). Exit status: 0 valid, 1 a problem (the message, naming file and tensor or key,
// on stderr), 2 usage error. `framefarm-worker check-model` runs this as a subprocess.
#pragma once

#include <string>

namespace ff::engine {

// Exactly one of the two is set (main.cpp's command line checks it). Returns the exit status.
struct CheckModelArgs {
  std::string config;  // an engine config file: its "model" object
  std::string model;   // a bare model object file
};
int check_model_command(const CheckModelArgs& args);

}  // namespace ff::engine
