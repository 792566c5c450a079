// `framefarm-engine serve`: loads the model files named by the config, connects a DEALER to the supervisor's
// ROUTER, says EngineHello, then serves one request at a time until Shutdown:
//   EncodeRequest   -> EncodeResult, then EngineStats
//   GenerateRequest -> GenerateProgress per denoising step, GenerateResult, then EngineStats
//   EngineCancel    -> the running job stops at its next step boundary (kCancelled)
//   Shutdown        -> exit 0 (a running job is cancelled first)
// Errors inside a request become an error result (kOutOfMemory for c10::OutOfMemoryError,
// kVramBudget when a streamed/auto component cannot fit the budget, kBadInput for invalid
// requests, kInternal otherwise) and the engine keeps serving. Malformed frames are
// logged to stderr and dropped.
#pragma once

#include <string>

#include "worker/engine/app/engine_config.hpp"

namespace ff::engine {

struct ServeOptions {
  std::string ipc_endpoint;  // "ipc:///run/framefarm/engine.sock"
  EngineConfig config;  // config.model names the model files
};

// Runs the engine on the calling thread; returns the process exit code (0 after Shutdown).
// Throws (before EngineHello) when the models cannot be loaded or the socket cannot connect.
int serve(const ServeOptions& opts);

}  // namespace ff::engine
