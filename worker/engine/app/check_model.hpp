// `framefarm-engine check-model --config FILE | --model FILE`: checks the model files named by
// an engine config's "model" object (--config) or by a bare model object such as the model.json
// make-weights writes (--model; relative paths are taken from that file's folder; with --config
// from the working directory, as serve takes them) without loading
// a weight (ltx2::check_model_files), and prints the per-file, per-component summary (tensors,
// params, bytes). Exit status: 0 valid, 1 a problem (the message, naming file and tensor or key,
// on stderr), 2 usage error. `framefarm-worker check-model` runs this as a subprocess.
#pragma once

#include <string>
#include <vector>

namespace ff::engine {

// args: everything after "check-model".
int check_model_command(const std::vector<std::string>& args);

}  // namespace ff::engine
