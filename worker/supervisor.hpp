// The worker supervisor: one loop thread that owns the dispatcher session, the engine link, the
// held jobs, the tokenizer and the embedding cache.
//
// Startup: bind the engine ROUTER, spawn the engine, wait for EngineHello, then register with the
// dispatcher (Register carries the engine's encoder_fingerprint, free_slots = slots).
// Per job: tokenize prompt + negative prompt, look both up in the embedding cache; the misses of
// all held jobs are encoded together (deduplicated, up to max_encode_batch) in one EncodeRequest,
// the embeddings stored in the cache; then one GenerateRequest per job, GenerateProgress relayed
// as Progress, GenerateResult as Result, and one Credit returned per finished job.
// MP4 output: a GenerateResult with a clip_path (the engine's decoded frames + audio in
// <run_dir>/clips, common/clip_file.hpp) goes to the mux thread (mux_stage.hpp) and the engine
// starts the next job at once; the job's Result (output_path = <output_root>/<id>.mp4 + media)
// goes out when the MP4 is complete, or a failed Result "mux failed: ..." (kInternal, retried).
// Faults: a dead or hung engine is killed and restarted after an exponential backoff
// (restart_backoff.hpp); the job it was running fails with
// kEngineCrash (the dispatcher retries it), jobs whose prompts it was encoding fail the same way,
// other held jobs stay. A silent dispatcher is presumed dead: unstarted jobs are handed back and the
// worker registers again. SIGTERM/SIGINT: hand back unstarted jobs, let the running job finish
// (up to shutdown_grace_ms, then it fails), Goodbye, stop the engine, return 0.
// systemd (common/sd_notify.hpp, when $NOTIFY_SOCKET is set): STATUS while starting, READY=1 once
// the engine is up and the dispatcher welcomed the registration, WATCHDOG=1 from the loop,
// STOPPING=1 when shutdown begins.
#pragma once

#include <memory>

#include "worker/worker_config.hpp"

namespace ff::worker {

class SupervisorImpl;

// run()'s exit status when the engine failed engine_max_start_failures starts in a row (it never
// said EngineHello): the worker stops instead of restarting forever. The systemd unit lists it in
// RestartPreventExitStatus, so the unit stays failed with the reason in its status and journal.
constexpr int kExitEngineCannotStart = 3;

class Supervisor {
 public:
  // Validates the config against the machine (model dir, tokenizer, engine binary, run dir);
  // throws std::runtime_error naming the problem.
  explicit Supervisor(WorkerConfig cfg);
  ~Supervisor();

  // Runs until SIGTERM/SIGINT (which must be blocked in every thread before calling; run() reads
  // them from a signalfd). Returns the process exit code. Calling thread = the loop thread.
  int run();

 private:
  std::unique_ptr<SupervisorImpl> impl_;
};

// Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread (call first thing in main, before any
// thread starts, so every thread inherits the mask).
void block_supervisor_signals();

}  // namespace ff::worker
