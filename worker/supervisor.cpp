// The supervisor's construction, poll loop and shutdown (the loop's state: supervisor_impl.hpp).
#include "worker/supervisor.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <sys/signalfd.h>
#include <unistd.h>

#include "common/curve_keys.hpp"
#include "common/log.hpp"
#include "worker/engine_process.hpp"
#include "worker/log.hpp"
#include "worker/supervisor_impl.hpp"

namespace fs = std::filesystem;

namespace ff::worker {

using Clock = SupervisorImpl::Clock;
using proto::ErrorKind;

void block_supervisor_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SupervisorImpl::SupervisorImpl(WorkerConfig cfg)
    : cfg_(std::move(cfg)),
      ctx_(1),
      session_(ctx_, cfg_.dispatcher_endpoints, cfg_.heartbeat_interval_ms) {
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
  std::string engine_cmd;
  try {
    engine_cmd = find_engine(cfg_.engine_command);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("worker config: ") + e.what());
  }

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
    mc.gpu = cfg_.engine_device.empty() ? "cpu" : cfg_.engine_device;  // the engine's default
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
    encode_seconds_.erase(id);
  }
  if (encoding_) book_.encode_aborted(encoding_->prompts);
}

bool SupervisorImpl::read_signals() {
  signalfd_siginfo si;
  bool stop = false;
  while (::read(sigfd_, &si, sizeof si) == sizeof si)
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) stop = true;
  return stop;
}


bool SupervisorImpl::shutdown_done() {
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
  if (generating_ || mux_->in_flight() > 0) return false;
  session_.close("worker stopping", 2000);
  engine_->stop(5000);
  log_info("stopped");
  return true;
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

    supervise_engine();
    if (metrics_)
      metrics_->set_status(engine_->state() == EngineLink::State::kIdle || engine_->state() == EngineLink::State::kBusy,
                           session_.connected() && session_.welcomed());
    if (session_.connected() && session_.tick() && !shutting_down_) dispatcher_lost();
    if (!notify_.is_ready() && !shutting_down_ && session_.welcomed())
      notify_.ready("serving: engine up, registered with " + session_.endpoint() + " as " + cfg_.worker_id);
    notify_.watchdog_tick();
    schedule();
    maintain_cache();

    if (shutting_down_ && shutdown_done()) return exit_code_;
  }
}

Supervisor::Supervisor(WorkerConfig cfg) : impl_(std::make_unique<SupervisorImpl>(std::move(cfg))) {}
Supervisor::~Supervisor() = default;
int Supervisor::run() { return impl_->run(); }

}  // namespace ff::worker
