// SupervisorImpl: the state of the supervisor's one loop thread (supervisor.hpp describes the
// behaviour). Private to the supervisor's sources; split by concern:
//   supervisor.cpp            construction, the poll loop, shutdown
//   supervisor_dispatcher.cpp the dispatcher session: registration, jobs, cancels, results
//   supervisor_engine.cpp     the engine process: its messages, scheduling requests, restarts
//   supervisor_cache.cpp      the embedding cache: lookups, stores, periodic maintenance
// Every method runs on the loop thread; nothing here is shared with another thread (the mux
// stage and the cache have their own threads behind their own interfaces).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/protocol.hpp"
#include "common/sd_notify.hpp"
#include "worker/cache/embedding_cache.hpp"
#include "worker/dispatcher_session.hpp"
#include "worker/engine_link.hpp"
#include "worker/job_book.hpp"
#include "worker/metrics/worker_metrics.hpp"
#include "worker/mux_stage.hpp"
#include "worker/restart_backoff.hpp"
#include "worker/tokenizer.hpp"
#include "worker/worker_config.hpp"

namespace ff::worker {

class SupervisorImpl {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SupervisorImpl(WorkerConfig cfg);
  ~SupervisorImpl();
  int run();

 private:
  // ---- dispatcher side (supervisor_dispatcher.cpp)
  void on_dispatcher_message(proto::Message& m);
  void on_job(const proto::Job& job);
  void on_cancel(const proto::Cancel& c);
  void register_with_dispatcher();
  void dispatcher_lost();
  // Sends the job's Result (job_id and epoch filled in), counts it in the metrics, and returns
  // its credit when `credit` (never while shutting down).
  void send_result(const proto::Job& job, proto::Result r, bool credit);
  // Fails a held job (removed from the book) with a Result and returns its credit.
  void fail_job(int64_t job_id, proto::ErrorKind kind, const std::string& why);
  // ---- engine side (supervisor_engine.cpp)
  void on_engine_message(proto::Message& m);
  void on_engine_hello();
  void on_encode_result(const proto::EncodeResult& r);
  void on_generate_result(const proto::GenerateResult& g);
  void on_mux_done();
  void engine_lost(const std::string& why);
  // Per loop turn: a dead or hung engine is lost; after too many failed starts the worker shuts
  // down with kExitEngineCannotStart; a down engine is restarted once its backoff has passed.
  void supervise_engine();
  // When the engine is idle: the next encode batch, else the next runnable job.
  void schedule();
  // ---- embedding cache (supervisor_cache.cpp: the one place lookups and stores go through)
  // A new cache for `fingerprint_` (an engine with another encoder invalidates every entry).
  void replace_cache();
  void lookup_embeddings(const proto::Job& job);
  void store_embeddings(const std::vector<std::string>& prompts,
                        const std::vector<proto::PromptEmbedding>& embs);
  // Per loop turn: touch refreshes and metrics every 10 s, retention every cache_prune_interval_s.
  void maintain_cache();
  // ---- shutdown (supervisor.cpp)
  void begin_shutdown(const std::string& why);
  // True once nothing runs any more (the loop then exits); fails what outlives the grace period.
  bool shutdown_done();
  bool read_signals();

  WorkerConfig cfg_;
  std::string run_dir_;
  bool own_run_dir_ = false;
  std::string output_dir_;
  std::unique_ptr<Tokenizer> tokenizer_;
  zmq::context_t ctx_;
  std::unique_ptr<EngineLink> engine_;
  DispatcherSession session_;
  JobBook book_;
  std::unique_ptr<EmbeddingCache> cache_;   // null until the first EngineHello
  std::unique_ptr<WorkerMetrics> metrics_;  // null when metrics_bind is empty
  std::unique_ptr<MuxStage> mux_;           // finished jobs whose MP4 is being written
  Clock::time_point next_cache_flush_{};
  Clock::time_point next_cache_prune_{};
  std::string fingerprint_;                 // the engine's encoder_fingerprint ("" before hello)
  int sigfd_ = -1;

  struct EncodeInFlight {
    int64_t request_id = 0;
    std::vector<std::string> prompts;
    Clock::time_point started{};
  };
  std::optional<EncodeInFlight> encoding_;
  std::optional<int64_t> generating_;         // job id of the GenerateRequest in flight
  std::map<int64_t, double> encode_seconds_;  // job id -> seconds its prompts took to encode
  int64_t next_request_id_ = 1;
  Clock::time_point restart_at_{};
  RestartBackoff backoff_{RestartPolicy{}};  // set from the config in the constructor
  sd::Notifier notify_;                       // systemd READY/STATUS/WATCHDOG/STOPPING
  std::string engine_down_why_;               // why the engine last went down (for the give-up message)
  int exit_code_ = 0;

  bool shutting_down_ = false;
  Clock::time_point shutdown_deadline_{};
};

}  // namespace ff::worker
