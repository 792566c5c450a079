#include "worker/supervisor.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.hpp>

#include "common/curve_keys.hpp"
#include "common/sd_notify.hpp"
#include "common/log.hpp"
#include "worker/dispatcher_session.hpp"
#include "worker/cache/embedding_cache.hpp"
#include "worker/engine_link.hpp"
#include "worker/job_book.hpp"
#include "worker/log.hpp"
#include "worker/metrics/worker_metrics.hpp"
#include "worker/mux_stage.hpp"
#include "worker/restart_backoff.hpp"
#include "worker/tokenizer.hpp"

namespace fs = std::filesystem;

namespace ff::worker {

using Clock = std::chrono::steady_clock;
using proto::ErrorKind;

void block_supervisor_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {

// The engine executable: the configured one, else framefarm-engine next to this binary (installed
// layout) or in the build tree (worker/engine/app/).
std::string resolve_engine_command(const WorkerConfig& cfg) {
  if (!cfg.engine_command.empty()) {
    if (::access(cfg.engine_command.c_str(), X_OK) != 0)
      throw std::runtime_error("worker config: engine_command '" + cfg.engine_command +
                               "' is not an executable file");
    return cfg.engine_command;
  }
  const std::string dir = self_exe_dir();
  for (const std::string& c : {dir + "/framefarm-engine", dir + "/engine/app/framefarm-engine"})
    if (::access(c.c_str(), X_OK) == 0) return c;
  throw std::runtime_error("worker config: engine_command not set and no framefarm-engine next to " +
                           dir);
}

}  // namespace

class SupervisorImpl {
 public:
  explicit SupervisorImpl(WorkerConfig cfg);
  ~SupervisorImpl();
  int run();

 private:
  // ---- dispatcher side
  void on_dispatcher_message(proto::Message& m);
  void on_job(const proto::Job& job);
  void on_cancel(const proto::Cancel& c);
  void register_with_dispatcher();
  void dispatcher_lost();
  void send_result(const proto::Job& job, proto::Result r, bool credit);
  void fail_job(int64_t job_id, ErrorKind kind, const std::string& why);
  // ---- engine side
  void on_engine_message(proto::Message& m);
  void on_encode_result(const proto::EncodeResult& r);
  void on_generate_result(const proto::GenerateResult& r);
  void on_mux_done();
  void engine_lost(const std::string& why);
  void schedule();
  // ---- embedding cache (the one place lookups and stores go through)
  void lookup_embeddings(const proto::Job& job);
  void store_embeddings(const std::vector<std::string>& prompts,
                        const std::vector<proto::PromptEmbedding>& embs);
  // ---- shutdown
  void begin_shutdown(const std::string& why);
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
  std::unique_ptr<EmbeddingCache> cache_;
  std::unique_ptr<WorkerMetrics> metrics_;  // null when metrics_bind is empty
  std::unique_ptr<MuxStage> mux_;           // finished jobs whose MP4 is being written
  Clock::time_point next_cache_flush_{};
  Clock::time_point next_cache_prune_{};
  std::string fingerprint_;
  int sigfd_ = -1;

  struct EncodeInFlight {
    int64_t request_id = 0;
    std::vector<std::string> prompts;
    Clock::time_point started{};
  };
  std::optional<EncodeInFlight> encoding_;
  std::optional<int64_t> generating_;  // job id of the GenerateRequest in flight
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

SupervisorImpl::SupervisorImpl(WorkerConfig cfg)
    : cfg_(std::move(cfg)),
      ctx_(1),
      session_(ctx_, cfg_.dispatcher_endpoint, cfg_.heartbeat_interval_ms) {
  if (!cfg_.curve_key_file.empty()) {
    if (!curve_available()) throw std::runtime_error("worker config: CURVE keys given, but this libzmq has no CURVE");
    const CurveKeyPair own = load_curve_keys(cfg_.curve_key_file, true);
    const CurveKeyPair server = load_curve_keys(cfg_.dispatcher_public_key_file, false);
    session_.set_curve({server.public_key, own.public_key, own.secret_key});
  }
  const std::string text_encoder = text_encoder_dir(cfg_);
  if (!fs::is_directory(text_encoder))
    throw std::runtime_error("worker config: model_files.text_encoder '" + text_encoder + "' is not a directory");
  tokenizer_ = std::make_unique<Tokenizer>(text_encoder + "/tokenizer.model",
                                           cfg_.max_length);
  const std::string engine_cmd = resolve_engine_command(cfg_);

  if (cfg_.run_dir.empty()) {
    char tmpl[] = "/tmp/framefarm-worker-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("cannot create run dir: ") + strerror(errno));
    run_dir_ = tmpl;
    own_run_dir_ = true;
  } else {
    run_dir_ = fs::absolute(cfg_.run_dir).string();
    fs::create_directories(run_dir_);
  }
  output_dir_ = fs::absolute(cfg_.output_root).lexically_normal().string();
  fs::create_directories(output_dir_);
  cfg_.output_root = output_dir_;

  ff::log::set_context({ff::log::kv("worker_id", cfg_.worker_id)});  // on every supervisor line
  if (!cfg_.metrics_bind.empty()) {
    MetricsConfig mc;
    mc.bind_address = cfg_.metrics_bind;
    mc.worker_id = cfg_.worker_id;
    const json::Value* device = cfg_.engine.is_object() ? cfg_.engine.find("device") : nullptr;
    mc.gpu = device && device->is_string() ? device->as_string() : "cpu";  // the engine's default
    metrics_ = std::make_unique<WorkerMetrics>(mc);
    log_info("metrics: serving /metrics on " + cfg_.metrics_bind + " (port " + std::to_string(metrics_->port()) + ")");
  }
  const std::string engine_cfg_path = run_dir_ + "/engine.json";
  {
    std::ofstream out(engine_cfg_path, std::ios::trunc);
    out << engine_config_json(cfg_) << "\n";
    if (!out) throw std::runtime_error("cannot write " + engine_cfg_path);
  }
  mux_ = std::make_unique<MuxStage>(run_dir_, output_dir_, [](const std::string& l) { log_info(l); });
  const std::string sock = run_dir_ + "/engine.sock";
  engine_ = std::make_unique<EngineLink>(
      ctx_, sock,
      std::vector<std::string>{engine_cmd, "serve", "--ipc", "ipc://" + sock, "--config", engine_cfg_path},
      cfg_.engine_start_timeout_ms, cfg_.engine_request_timeout_ms);
  backoff_ = RestartBackoff(RestartPolicy{cfg_.engine_restart_backoff_ms, cfg_.engine_restart_backoff_max_ms,
                                          cfg_.engine_max_start_failures});
}

SupervisorImpl::~SupervisorImpl() {
  engine_.reset();
  mux_.reset();
  if (sigfd_ >= 0) ::close(sigfd_);
  if (own_run_dir_) {
    std::error_code ec;
    fs::remove_all(run_dir_, ec);
  }
}

// ------------------------------------------------------------------ dispatcher side

void SupervisorImpl::register_with_dispatcher() {
  const auto& h = *engine_->hello();
  proto::Register reg;
  reg.worker_id = cfg_.worker_id;
  reg.gpu_name = h.gpu_name.empty() ? h.device : h.gpu_name;
  reg.vram_total_bytes = h.vram_total_bytes;
  reg.vram_budget_bytes = h.vram_budget_bytes;
  reg.model = cfg_.model;
  reg.free_slots =
      std::max<int32_t>(0, cfg_.slots - static_cast<int32_t>(book_.size() + mux_->in_flight()));
  reg.max_encode_batch = cfg_.max_encode_batch;
  reg.components_resident = h.components_resident;
  reg.encoder_fingerprint = fingerprint_;
  session_.connect(reg);
}

void SupervisorImpl::dispatcher_lost() {
  log_warn("session: dispatcher silent too long; handing back unstarted jobs and registering again");
  // The dispatcher requeues our leases when it declares us dead; the HandBacks cover the case it
  // did not (a partition shorter than its timeout). Fencing epochs make either order safe.
  std::vector<proto::HandBack> backs;
  for (int64_t id : book_.unstarted()) {
    backs.push_back({id, book_.find(id)->job.epoch});
    book_.remove(id);
    encode_seconds_.erase(id);
  }
  register_with_dispatcher();
  for (const auto& b : backs) session_.send(b);
}

void SupervisorImpl::send_result(const proto::Job& job, proto::Result r, bool credit) {
  r.job_id = job.job_id;
  r.epoch = job.epoch;
  if (metrics_) {
    metrics_->count_job(r.ok, r.error_kind);
    if (r.ok) metrics_->observe_timings(r.timings_s);
  }
  session_.send(r);
  if (credit && !shutting_down_) session_.send(proto::Credit{1});
}

void SupervisorImpl::fail_job(int64_t job_id, ErrorKind kind, const std::string& why) {
  HeldJob* h = book_.find(job_id);
  if (!h) return;
  proto::Result r;
  r.ok = false;
  r.error_kind = kind;
  r.error_message = why;
  const proto::Job job = h->job;
  book_.remove(job_id);
  encode_seconds_.erase(job_id);
  log_job(job, "job failed", kind, why);
  send_result(job, std::move(r), true);
}

void SupervisorImpl::on_dispatcher_message(proto::Message& m) {
  if (auto* j = std::get_if<proto::Job>(&m)) return on_job(*j);
  if (auto* c = std::get_if<proto::Cancel>(&m)) return on_cancel(*c);
  log_warn(std::string("session: ignored unexpected '") +
           std::string(proto::type_name(proto::type_of(m))) + "' from dispatcher");
}

void SupervisorImpl::on_job(const proto::Job& job) {
  if (metrics_ && job.enqueued_unix_us > 0) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    metrics_->observe_phase("queue_wait", std::max<int64_t>(0, now_us - job.enqueued_unix_us) / 1e6);
  }
  if (shutting_down_) {
    session_.send(proto::HandBack{job.job_id, job.epoch});
    return;
  }
  if (HeldJob* h = book_.find(job.job_id)) {
    // Re-leased to us (e.g. after a re-registration): keep the newest epoch.
    if (!h->started) h->job = job;
    return;
  }
  if (mux_->renew(job)) return;  // generated already; its MP4 is being written
  std::vector<int32_t> pos, neg;
  try {
    pos = tokenizer_->encode(job.prompt);
    neg = tokenizer_->encode(job.negative_prompt);
  } catch (const std::exception& e) {
    proto::Result r;
    r.error_kind = ErrorKind::kBadInput;
    r.error_message = e.what();
    send_result(job, std::move(r), true);
    return;
  }
  book_.add(job, pos, neg);
  lookup_embeddings(job);
}

void SupervisorImpl::on_cancel(const proto::Cancel& c) {
  HeldJob* h = book_.find(c.job_id);
  if (!h || h->job.epoch != c.epoch) return;
  if (!h->started) {
    fail_job(c.job_id, ErrorKind::kCancelled, "cancelled before it started");
    return;
  }
  h->cancel_requested = true;
  engine_->send_control(proto::EngineCancel{c.job_id});
}

// ------------------------------------------------------------------ embedding cache

void SupervisorImpl::lookup_embeddings(const proto::Job& job) {
  std::vector<std::string> prompts;
  for (const std::string* p : {&job.prompt, &job.negative_prompt})
    if (!book_.has_embedding(*p)) prompts.push_back(*p);
  if (prompts.empty() || !cache_) return;
  auto found = cache_->get_many(prompts);
  for (size_t i = 0; i < prompts.size(); ++i)
    if (found[i]) book_.set_embedding(prompts[i], std::move(*found[i]));
}

void SupervisorImpl::store_embeddings(const std::vector<std::string>& prompts,
                                      const std::vector<proto::PromptEmbedding>& embs) {
  if (cache_) cache_->put_many(prompts, embs);
}

// ------------------------------------------------------------------ engine side

void SupervisorImpl::on_engine_message(proto::Message& m) {
  if (std::holds_alternative<proto::EngineHello>(m)) {
    const auto& h = *engine_->hello();
    backoff_.started(Clock::now());
    notify_.status(notify_.is_ready() ? "serving: engine restarted (" + h.device + ")"
                                      : "engine up (" + h.device + "); registering with " + cfg_.dispatcher_endpoint);
    if (h.encoder_fingerprint.empty()) {
      engine_lost("engine sent EngineHello without encoder_fingerprint; restarting it");
      return;
    }
    if (h.encoder_fingerprint != fingerprint_) {
      const bool changed = !fingerprint_.empty();
      fingerprint_ = h.encoder_fingerprint;
      EmbeddingCacheConfig cc;
      cc.encoder_fingerprint = fingerprint_;
      cc.max_length = cfg_.max_length;
      cc.ram_capacity_bytes = static_cast<uint64_t>(cfg_.cache_ram_bytes);
      cc.database_url = cfg_.database_url;
      cc.retention_max_rows = cfg_.cache_retention_max_rows;
      cc.retention_max_age_s = cfg_.cache_retention_max_age_s;
      cache_ = std::make_unique<EmbeddingCache>(cc, [](const std::string& l) { log_info("cache: " + l); });
      if (changed && metrics_) metrics_->note_cache_replaced();
      if (changed || !session_.connected()) {
        if (changed) log_warn("engine: encoder fingerprint changed; registering again");
        register_with_dispatcher();
      }
    } else if (!session_.connected()) {
      register_with_dispatcher();
    }
    return;
  }
  if (auto* r = std::get_if<proto::EncodeResult>(&m)) return on_encode_result(*r);
  if (auto* r = std::get_if<proto::GenerateResult>(&m)) return on_generate_result(*r);
  if (auto* p = std::get_if<proto::GenerateProgress>(&m)) {
    HeldJob* h = book_.find(p->job_id);
    if (!h) return;
    session_.send(proto::Progress{p->job_id, h->job.epoch, p->phase, p->step, p->total_steps});
    return;
  }
  if (auto* st = std::get_if<proto::EngineStats>(&m)) {
    if (metrics_) metrics_->update(*st);
    return;
  }
  log_warn(std::string("engine: ignored unexpected '") +
           std::string(proto::type_name(proto::type_of(m))) + "'");
}

void SupervisorImpl::on_encode_result(const proto::EncodeResult& r) {
  if (!encoding_ || r.request_id != encoding_->request_id) {
    log_warn("engine: EncodeResult for unknown request " + std::to_string(r.request_id));
    return;
  }
  EncodeInFlight done = std::move(*encoding_);
  encoding_.reset();
  const double secs = std::chrono::duration<double>(Clock::now() - done.started).count();
  const auto users = book_.jobs_using(done.prompts);
  if (!r.ok || r.embeddings.size() != done.prompts.size()) {
    book_.encode_aborted(done.prompts);
    const std::string why =
        !r.ok ? "encoding failed: " + r.error_message
              : "engine returned " + std::to_string(r.embeddings.size()) + " embeddings for " +
                    std::to_string(done.prompts.size()) + " prompts";
    const ErrorKind kind = r.ok ? ErrorKind::kInternal
                                : (r.error_kind == ErrorKind::kNone ? ErrorKind::kInternal : r.error_kind);
    for (int64_t id : users) fail_job(id, kind, why);
    return;
  }
  store_embeddings(done.prompts, r.embeddings);
  for (size_t i = 0; i < done.prompts.size(); ++i) book_.set_embedding(done.prompts[i], r.embeddings[i]);
  for (int64_t id : users) encode_seconds_[id] = secs;
}

void SupervisorImpl::on_generate_result(const proto::GenerateResult& g) {
  if (!generating_ || *generating_ != g.job_id) {
    log_warn("engine: GenerateResult for job " + std::to_string(g.job_id) + " not running here");
    return;
  }
  generating_.reset();
  HeldJob* h = book_.find(g.job_id);
  if (!h) return;
  const proto::Job job = h->job;
  proto::Result r;
  r.ok = g.ok;
  r.output_path = g.video_path;
  r.timings_s = g.timings_s;
  if (auto it = encode_seconds_.find(g.job_id); it != encode_seconds_.end()) r.timings_s["encode"] = it->second;
  r.peak_vram_bytes = g.peak_vram_bytes;
  r.error_kind = g.ok ? ErrorKind::kNone : (g.error_kind == ErrorKind::kNone ? ErrorKind::kInternal : g.error_kind);
  r.error_message = g.error_message;
  book_.remove(g.job_id);
  encode_seconds_.erase(g.job_id);
  if (!g.ok) mux_->discard_clip(g.job_id);
  if (g.ok && !g.clip_path.empty()) {
    // The engine is idle again; the MP4 is written on the mux thread and the Result goes out
    // when it is complete (on_mux_done).
    if (auto err = mux_->start(job, g.clip_path, std::move(r))) {
      proto::Result f;
      f.error_kind = err->rfind("options:", 0) == 0 ? ErrorKind::kBadInput : ErrorKind::kInternal;
      f.error_message = "mux failed: " + *err;
      log_job(job, "job failed", f.error_kind, f.error_message);
      send_result(job, std::move(f), true);
    }
    return;
  }
  if (g.ok) log_job(job, "job succeeded: " + g.video_path);
  else log_job(job, "job failed in engine", g.error_kind == ErrorKind::kNone ? ErrorKind::kInternal : g.error_kind, g.error_message);
  send_result(job, std::move(r), true);
}

void SupervisorImpl::on_mux_done() {
  for (auto& [job, r] : mux_->take_done()) {
    if (r.ok)
      log_job(job, "job succeeded: " + r.output_path + " (" + std::to_string(r.media.bytes) + " bytes, muxed in " +
                       std::to_string(r.timings_s["mux"]) + " s)");
    else
      log_job(job, "job failed", r.error_kind == ErrorKind::kNone ? ErrorKind::kInternal : r.error_kind, r.error_message);
    send_result(job, std::move(r), true);
  }
}

void SupervisorImpl::engine_lost(const std::string& why) {
  if (engine_->state() != EngineLink::State::kDown) engine_->kill_engine(why);
  if (generating_) {
    const int64_t id = *generating_;
    generating_.reset();
    mux_->discard_clip(id);  // a clip the engine was writing when it died
    fail_job(id, ErrorKind::kEngineCrash, "engine failed while running this job: " + why);
  }
  if (encoding_) {
    EncodeInFlight lost = std::move(*encoding_);
    encoding_.reset();
    book_.encode_aborted(lost.prompts);
    if (lost.prompts.size() > 1) {
      // Which prompt killed it is unknown: encode each alone; only the culprit's jobs fail.
      log_warn("engine failed while encoding " + std::to_string(lost.prompts.size()) +
               " prompts; encoding them one at a time");
      book_.mark_suspect(lost.prompts);
    } else {
      for (int64_t id : book_.jobs_using(lost.prompts))
        fail_job(id, ErrorKind::kEngineCrash, "engine failed while encoding this job's prompt: " + why);
    }
  }
  engine_down_why_ = why;
  const auto wait = backoff_.failed(Clock::now());
  restart_at_ = Clock::now() + wait;
  const std::string next = "engine down (" + why + "); restarting in " + std::to_string(wait.count()) + " ms";
  if (!backoff_.exhausted()) log_warn(next);
  notify_.status(next);
}

void SupervisorImpl::schedule() {
  if (engine_->state() != EngineLink::State::kIdle) return;
  if (!shutting_down_) {
    auto batch = book_.take_encode_batch(cfg_.max_encode_batch);
    if (!batch.empty()) {
      proto::EncodeRequest req;
      req.request_id = next_request_id_++;
      req.max_length = cfg_.max_length;
      EncodeInFlight inflight{req.request_id, {}, Clock::now()};
      for (auto& p : batch) {
        req.prompts.push_back(proto::PromptTokens{std::move(p.ids)});
        inflight.prompts.push_back(std::move(p.prompt));
      }
      if (engine_->send_request(req)) {
        if (metrics_) metrics_->observe_encode_batch(static_cast<int64_t>(inflight.prompts.size()));
        encoding_ = std::move(inflight);
      } else {
        book_.encode_aborted(inflight.prompts);
      }
      return;
    }
    if (auto id = book_.next_runnable()) {
      proto::GenerateRequest req = book_.start(*id, output_dir_);
      req.clip_path = mux_->clip_path_for(*id);
      if (engine_->send_request(req)) {
        generating_ = *id;
      } else {
        fail_job(*id, ErrorKind::kInternal, "could not send the job to the engine");
      }
    }
  }
}

// ------------------------------------------------------------------ shutdown and loop

void SupervisorImpl::begin_shutdown(const std::string& why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  notify_.stopping("stopping (" + why + ")");
  shutdown_deadline_ = Clock::now() + std::chrono::milliseconds(cfg_.shutdown_grace_ms);
  log_info("shutting down (" + why + "): handing back " + std::to_string(book_.unstarted().size()) +
           " unstarted jobs");
  for (int64_t id : book_.unstarted()) {
    const HeldJob* h = book_.find(id);
    session_.send(proto::HandBack{id, h->job.epoch});
    book_.remove(id);
  }
  if (encoding_) {
    book_.encode_aborted(encoding_->prompts);
  }
}

bool SupervisorImpl::read_signals() {
  signalfd_siginfo si;
  bool stop = false;
  while (::read(sigfd_, &si, sizeof si) == sizeof si)
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) stop = true;
  return stop;
}

int SupervisorImpl::run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigfd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd_ < 0) throw std::runtime_error(std::string("signalfd: ") + strerror(errno));

  notify_.status("starting the engine");
  engine_->spawn();
  for (;;) {
    std::vector<zmq::pollitem_t> items;
    items.push_back({static_cast<void*>(engine_->socket()), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, sigfd_, ZMQ_POLLIN, 0});
    items.push_back({nullptr, mux_->fd(), ZMQ_POLLIN, 0});
    if (session_.connected()) items.push_back({static_cast<void*>(session_.socket()), 0, ZMQ_POLLIN, 0});
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));

    if (read_signals()) begin_shutdown("signal");

    for (auto& m : engine_->receive()) on_engine_message(m);
    on_mux_done();
    if (session_.connected())
      for (auto& m : session_.receive()) on_dispatcher_message(m);

    if (auto why = engine_->check()) engine_lost(*why);
    if (!shutting_down_ && backoff_.exhausted()) {
      // Restarting again would only hide it: say why, and exit with a status systemd does not restart.
      exit_code_ = kExitEngineCannotStart;
      const std::string why = "engine cannot start: " + std::to_string(backoff_.start_failures()) +
                              " starts in a row failed, the last: " + engine_down_why_;
      log_error(why + " (check the model files and the device: framefarm-worker check-model --config FILE);"
                " exiting with status " + std::to_string(kExitEngineCannotStart));
      begin_shutdown(why);
    }
    if (engine_->state() == EngineLink::State::kDown && !shutting_down_ && Clock::now() >= restart_at_) {
      try {
        engine_->spawn();
        if (metrics_) metrics_->note_engine_restart();
      } catch (const std::exception& e) {
        log_error(std::string("engine: cannot start: ") + e.what());
        engine_down_why_ = std::string("cannot start: ") + e.what();
        restart_at_ = Clock::now() + std::max(backoff_.failed(Clock::now()), std::chrono::milliseconds(1000));
      }
    }
    if (metrics_)
      metrics_->set_status(engine_->state() == EngineLink::State::kIdle || engine_->state() == EngineLink::State::kBusy,
                           session_.connected() && session_.welcomed());
    if (session_.connected() && session_.tick() && !shutting_down_) dispatcher_lost();
    if (!notify_.is_ready() && !shutting_down_ && session_.welcomed())
      notify_.ready("serving: engine up, registered with " + cfg_.dispatcher_endpoint + " as " + cfg_.worker_id);
    notify_.watchdog_tick();
    schedule();
    if (cache_ && Clock::now() >= next_cache_flush_) {
      next_cache_flush_ = Clock::now() + std::chrono::seconds(10);
      cache_->flush_touches();
      if (metrics_) metrics_->update_cache(cache_->stats());
    }
    const bool retention = cfg_.cache_retention_max_rows > 0 || cfg_.cache_retention_max_age_s > 0;
    if (cache_ && retention && !cfg_.database_url.empty() && Clock::now() >= next_cache_prune_) {
      next_cache_prune_ = Clock::now() + std::chrono::seconds(cfg_.cache_prune_interval_s);
      const int64_t deleted = cache_->prune();
      if (deleted > 0) log_info("cache: retention deleted " + std::to_string(deleted) + " rows");
    }

    if (shutting_down_) {
      if ((generating_ || mux_->in_flight() > 0) && Clock::now() > shutdown_deadline_) {
        if (generating_) {
          engine_->stop(0);
          const int64_t id = *generating_;
          generating_.reset();
          fail_job(id, ErrorKind::kInternal, "worker stopped before the job finished");
        }
        for (const proto::Job& job : mux_->stop()) {
          proto::Result r;
          r.error_kind = ErrorKind::kInternal;
          r.error_message = "worker stopped before the job's MP4 was complete";
          log_job(job, "job failed", r.error_kind, r.error_message);
          send_result(job, std::move(r), true);
        }
      }
      if (!generating_ && mux_->in_flight() == 0) {
        session_.close("worker stopping", 2000);
        engine_->stop(5000);
        log_info("stopped");
        return exit_code_;
      }
    }
  }
}

Supervisor::Supervisor(WorkerConfig cfg) : impl_(std::make_unique<SupervisorImpl>(std::move(cfg))) {}
Supervisor::~Supervisor() = default;
int Supervisor::run() { return impl_->run(); }

}  // namespace ff::worker
