// One worker config for every GPU of a node: `framefarm-worker serve --config node.json --gpu N`
// (the unit framefarm-worker@N passes its instance). Before decoding, the node config becomes GPU
// N's config:
//   - "gpus": {"N": {...}} holds per-GPU overrides; GPU N's object replaces top-level keys, except
//     "engine", which is merged key by key (e.g. one GPU with another vram_budget_bytes); the
//     "gpus" key itself is dropped;
//   - "{gpu}" in any string value becomes N (worker_id "node-3/cuda:{gpu}", run_dir
//     "/run/framefarm-worker-{gpu}");
//   - metrics ports are derived from the index: "metrics_port": P and "metrics_bind": "ADDR:P"
//     become P + N, unless GPU N's overrides set them.
// Without --gpu the file is used as it is (a "gpus" key is then an error: it needs an index).
#pragma once

#include <string>

#include "common/json_fields.hpp"
#include "worker/worker_config.hpp"

namespace ff::worker {

// Returns GPU `gpu`'s config object from the node config `node`. Throws std::runtime_error naming
// the key when "gpus" is not an object of objects keyed by GPU index, or `gpu` is negative. Pure.
json::Json node_config_for_gpu(const json::Json& node, int gpu);

// Reads the node config at `path` and decodes GPU `gpu`'s config (decode_worker_config); errors
// name the file and the GPU. Pure apart from the read.
WorkerConfig load_worker_config_for_gpu(const std::string& path, int gpu);

}  // namespace ff::worker
