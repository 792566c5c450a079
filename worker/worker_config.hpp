// Configuration of `framefarm-worker serve`: a JSON file decoded in one place (decode_worker_config)
// into this plain struct. Unknown keys are rejected with an error naming them.
//
// Example (only dispatcher_endpoint (or dispatcher_endpoints: [..] for failover), worker_id and
// model_files with checkpoint and text_encoder are required; model_files names the files users download, see worker/engine/README.md):
//   {
//     "dispatcher_endpoint": "tcp://10.0.0.5:5555",
//     "worker_id": "gpu-node-3/cuda:0",
//     "model": "ltx-2.3",
//     "model_files": {"checkpoint": "/models/ltx-2.3-22b-dev.safetensors",
//                     "text_encoder": "/models/gemma-3-12b-it-qat-q4_0-unquantized",
//                     "spatial_upsampler": "/models/ltx-2.3-spatial-upscaler-x2-1.1.safetensors",
//                     "distilled_lora": "/models/ltx-2.3-22b-distilled-lora-384-1.1.safetensors",
//                     "distilled_lora_strength": 1.0, "pipeline": "two_stages"},
//     "run_dir": "/run/framefarm/worker-0",
//     "slots": 2,
//     "max_encode_batch": 8,
//     "max_length": 1024,
//     "heartbeat_interval_ms": 1000,
//     "engine_command": "/usr/local/bin/framefarm-engine",
//     "engine_start_timeout_ms": 600000,
//     "engine_request_timeout_ms": 900000,
//     "engine_restart_backoff_ms": 1000, "engine_restart_backoff_max_ms": 60000,
//     "engine_max_start_failures": 5,
//     "shutdown_grace_ms": 60000,
//     "engine": {"device": "cuda:0", "vram_budget_bytes": 90000000000, "output_root": "/srv/out",
//                "placements": {"text_encoder": "stream", "stage1_transformer": "resident"}},
//     "database_url": "postgresql:///framefarm",
//     "cache_ram_bytes": 2147483648,
//     "cache_retention_max_rows": 100000, "cache_retention_max_age_s": 2592000,
//     "metrics_bind": "127.0.0.1:9464"
//   }
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_fields.hpp"

namespace ff::worker {

struct WorkerConfig {
  std::string dispatcher_endpoint;  // ZeroMQ endpoint of the dispatcher's ROUTER (tcp://host:port)
  // Every dispatcher of the fleet in failover order (config key dispatcher_endpoints, a list; or
  // dispatcher_endpoint, its one-element form; not both): the worker registers with the first and
  // moves to the next (round robin) when one falls silent. dispatcher_endpoint = the first.
  std::vector<std::string> dispatcher_endpoints;
  std::string worker_id;            // stable name reported in Register, e.g. "node-3/cuda:0"
  std::string model = "ltx-2.3";    // model name matched against jobs.model
  json::Json model_files;           // object: checkpoint, text_encoder, ... (paths made absolute)
  std::string run_dir;              // private folder for engine.sock + engine.json; "" = a temp dir
  int32_t slots = 1;                // jobs held at once (credit); the engine runs one at a time
  int32_t max_encode_batch = 8;     // most prompts encoded in one engine pass
  int32_t max_length = 1024;        // tokenizer truncation / padded row length
  int32_t heartbeat_interval_ms = 1000;     // how often the worker sends Heartbeat
  std::string engine_command;               // engine executable; "" = framefarm-engine next to us
  int32_t engine_start_timeout_ms = 600000; // spawn -> EngineHello, else killed and restarted
  int32_t engine_request_timeout_ms = 900000;  // silence while a request is in flight = hang
  int32_t engine_restart_backoff_ms = 1000;    // first wait before respawning a dead engine (doubles)
  int32_t engine_restart_backoff_max_ms = 60000;  // cap of the doubling wait
  int32_t engine_max_start_failures = 5;  // starts in a row without EngineHello before the worker
                                          // exits with status 3; 0 = retry forever
  int32_t shutdown_grace_ms = 60000;  // on SIGTERM, how long the running job may take to finish
  json::Json engine;                // engine config object, passed through to the engine's file
  std::string engine_device;        // engine.device as given ("" = absent: the engine's default, cpu)
  std::string output_root;          // engine.output_root (where videos go); default "output"
  std::string database_url;         // embedding cache database (libpq URL); "" = RAM tier only
  int64_t cache_ram_bytes = 1ll << 30;  // in-process embedding LRU size
  int64_t cache_retention_max_rows = 0;   // prompt_embeddings keeps this many most recent rows; 0 = no bound
  int64_t cache_retention_max_age_s = 0;  // prompt_embeddings rows unused this long are deleted; 0 = no bound
  int32_t cache_prune_interval_s = 300;   // how often the retention bound is applied
  // Prometheus /metrics endpoint, "ADDR:PORT" ("127.0.0.1:9464" loopback; "0.0.0.0:9464" for a
  // Prometheus on another host); "" = none (the default; the shipped configs turn it on).
  // Key "metrics_port": N is shorthand for "127.0.0.1:N" (0 = none).
  std::string metrics_bind;
  // CURVE on the dispatcher link (both or neither): this worker's key pair file and the
  // dispatcher's public-key file (formats: common/curve_keys.hpp; `framefarm-dispatcher keygen
  // --out F --public-out P` writes both kinds). The worker's public key must be listed in the
  // dispatcher's authorized keys under this worker_id. "" = plaintext (a loopback dispatcher).
  std::string curve_key_file;
  std::string dispatcher_public_key_file;
};

// Decodes the JSON text of a worker config. Throws std::runtime_error with a message naming the
// key and the problem (unknown key, wrong type, out of range, missing required key). Pure.
WorkerConfig decode_worker_config(std::string_view json_text);

// Throws std::runtime_error "worker config: key '<key path>': <what>", the format of every
// worker-config error (node templates included).
[[noreturn]] void config_key_error(std::string_view key, const std::string& what);

// Reads and decodes the file at `path`; errors name the file. Pure apart from the read.
WorkerConfig load_worker_config(const std::string& path);

// The Gemma-3 folder of model_files (its tokenizer.model is the supervisor's tokenizer). Pure.
std::string text_encoder_dir(const WorkerConfig& cfg);

// The engine's config file content: `engine` plus "model" (= model_files), max_encode_batch and
// output_root (unless set there). Pure.
std::string engine_config_json(const WorkerConfig& cfg);

}  // namespace ff::worker
