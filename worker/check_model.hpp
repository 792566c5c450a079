// `framefarm-worker check-model --config FILE`: checks the model files of a worker config
// without loading a weight. The supervisor is torch-free, so the tensor files are checked by the
// engine: the engine config the supervisor would write (engine_config_json: "engine" plus
// "model" = model_files) goes to a temporary file and `framefarm-engine check-model --config TMP`
// runs as a subprocess with inherited stdout/stderr (its per-component summary: tensors, params,
// bytes). The tokenizer, which only the supervisor loads (sentencepiece cannot share a process
// with libtorch), is then loaded here from <text_encoder>/tokenizer.model.
// Returns the exit status: 0 valid, 1 a problem (message on stderr), the engine's status otherwise.
#pragma once

#include <string>

namespace ff::worker {

// `gpu` >= 0: the config is a node config and GPU `gpu`'s config is checked (node_config.hpp).
int check_model(const std::string& worker_config_path, int gpu = -1);

}  // namespace ff::worker
