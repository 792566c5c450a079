#include "worker/engine/app/serve.hpp"

#include <unistd.h>

#include <chrono>
#include <deque>
#include <iostream>
#include <optional>

#include <c10/util/Exception.h>
#include <zmq.hpp>

#include "common/log.hpp"
#include "common/protocol.hpp"
#include "worker/engine/app/encode_entry.hpp"
#include "worker/engine/app/fingerprint.hpp"
#include "worker/engine/app/ltx2_job.hpp"
#include "worker/engine/app/ltx2_model.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {
namespace {

void log(const std::string& line) { ff::log::info("engine", line); }
void log_warn(const std::string& line) { ff::log::warn("engine", line); }

int64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * page : int64_t(1) << 34;
}

// Classifies an exception escaping a request into the wire's ErrorKind and a message.
std::pair<proto::ErrorKind, std::string> classify(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const ltx2::Cancelled& e) {
    return {proto::ErrorKind::kCancelled, e.what()};
  } catch (const c10::OutOfMemoryError& e) {
    return {proto::ErrorKind::kOutOfMemory, std::string("out of memory: ") + e.what_without_backtrace()};
  } catch (const rt::OutOfMemory& e) {
    return {proto::ErrorKind::kOutOfMemory, std::string("out of memory: ") + e.what()};
  } catch (const rt::VramBudgetError& e) {
    return {proto::ErrorKind::kVramBudget, e.what()};
  } catch (const std::invalid_argument& e) {
    return {proto::ErrorKind::kBadInput, e.what()};
  } catch (const c10::Error& e) {
    return {proto::ErrorKind::kInternal, e.what_without_backtrace()};
  } catch (const std::exception& e) {
    return {proto::ErrorKind::kInternal, e.what()};
  } catch (...) {
    return {proto::ErrorKind::kInternal, "unknown exception"};
  }
}

class Server {
 public:
  explicit Server(const ServeOptions& o) : opts_(o) {
    const auto& c = o.config;
    backend_ = rt::make_backend(c.device, c.vram_budget_bytes > 0 ? c.vram_budget_bytes : physical_memory_bytes());
    // Checks every model file before loading a weight; the stages charge what they keep on the
    // device (all of a resident stage; the globals and the planned resident prefix of a
    // streamed/auto one).
    model_ = std::make_unique<Ltx2Model>(load_ltx2_model(c, *backend_));
    encode_ = open_encode_session(model_->files.text_encoder, model_->files.checkpoint, c, *backend_);
    fingerprint_ = encoder_fingerprint(model_->files.text_encoder, model_->files.checkpoint);
    if (c.vram_budget_bytes > 0) backend_->cap_allocations(c.vram_budget_bytes);
    for (auto name : kComponentNames) peaks_[std::string(name)] = 0;

    socket_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
    socket_.set(zmq::sockopt::linger, 1000);
    socket_.connect(o.ipc_endpoint);
  }

  int run() {
    send(hello());
    send_stats();  // the supervisor's GPU memory gauges are real before the first job
    log("ready on " + opts_.ipc_endpoint + " device " + backend_->name() + " fingerprint " + fingerprint_);
    while (!shutdown_) {
      if (pending_.empty()) {
        receive(kStatsEveryMs);
        if (pending_.empty()) send_stats_if_due();  // idle: keep the GPU memory gauges fresh
      }
      while (!pending_.empty() && !shutdown_) {
        proto::Message m = std::move(pending_.front());
        pending_.pop_front();
        handle(m);
      }
    }
    log("shutting down");
    return 0;
  }

 private:
  proto::EngineHello hello() {
    proto::EngineHello h;
    h.pid = static_cast<int32_t>(::getpid());
    h.device = backend_->name();
    h.gpu_name = backend_->device_name();
    const auto snap = backend_->meter().snapshot();
    h.vram_total_bytes = snap.total_bytes;
    h.vram_budget_bytes = opts_.config.vram_budget_bytes > 0 ? opts_.config.vram_budget_bytes : snap.total_bytes;
    h.encoder_fingerprint = fingerprint_;
    h.max_encode_batch = opts_.config.max_encode_batch;
    for (auto comp : kComponentNames)
      if (opts_.config.placement(comp) == rt::Placement::kResident) h.components_resident.emplace_back(comp);
    return h;
  }

  void send(const proto::Message& m) {
    const std::string frame = proto::encode(m);
    socket_.send(zmq::buffer(frame), zmq::send_flags::none);
  }

  // Reads frames (waiting up to timeout_ms for the first; -1 = forever) into pending_, applying
  // control messages that concern the running job at once.
  void receive(long timeout_ms) {
    zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) <= 0) return;
    while (true) {
      zmq::message_t msg;
      if (!socket_.recv(msg, zmq::recv_flags::dontwait)) return;
      while (msg.more()) {  // keep the last frame of a multipart message
        zmq::message_t next;
        if (!socket_.recv(next, zmq::recv_flags::dontwait)) break;
        msg = std::move(next);
      }
      auto decoded = proto::decode(std::string_view(static_cast<const char*>(msg.data()), msg.size()));
      if (auto* err = std::get_if<proto::DecodeError>(&decoded)) {
        log_warn("dropped malformed frame: " + err->what);
        continue;
      }
      auto& m = std::get<proto::Message>(decoded);
      if (auto* c = std::get_if<proto::EngineCancel>(&m)) {
        if (running_job_ && *running_job_ == c->job_id) cancel_requested_ = true;
        else log("cancel for job " + std::to_string(c->job_id) + " which is not running: ignored");
        continue;
      }
      if (std::holds_alternative<proto::Shutdown>(m) && running_job_) cancel_requested_ = true;
      pending_.push_back(std::move(m));
    }
  }

  void handle(const proto::Message& m) {
    if (std::holds_alternative<proto::Shutdown>(m)) {
      shutdown_ = true;
    } else if (auto* e = std::get_if<proto::EncodeRequest>(&m)) {
      send(encode(*e));
      send_stats();
    } else if (auto* g = std::get_if<proto::GenerateRequest>(&m)) {
      send(generate(*g));
      send_stats();
    } else {
      log(std::string("ignored unexpected message '") + std::string(proto::type_name(proto::type_of(m))) + "'");
    }
  }

  proto::EncodeResult encode(const proto::EncodeRequest& req) {
    proto::EncodeResult r;
    r.request_id = req.request_id;
    try {
      r.embeddings = encode_prompts(*encode_, req);
      r.ok = true;
    } catch (...) {
      std::tie(r.error_kind, r.error_message) = classify(std::current_exception());
      log_warn("encode request " + std::to_string(req.request_id) + " failed: " + r.error_message);
    }
    return r;
  }

  proto::GenerateResult generate(const proto::GenerateRequest& req) {
    proto::GenerateResult r;
    r.job_id = req.job_id;
    running_job_ = req.job_id;
    cancel_requested_ = false;
    ltx2::StepHooks hooks;
    hooks.cancelled = [this] {
      receive(0);
      return cancel_requested_;
    };
    hooks.progress = [this, &req](const std::string& phase, int done, int total) {
      send(proto::GenerateProgress{req.job_id, phase, done, total});
      send_stats_if_due();  // long jobs: the GPU memory gauges follow the job
    };
    try {
      auto out = run_ltx2_job(*model_, opts_.config, req, *backend_, hooks);
      r.ok = true;
      r.clip_path = out.clip_path;
      r.timings_s = out.timings_s;
      r.peak_vram_bytes = out.peak_vram_bytes;
      for (const auto& [k, v] : out.peak_vram_bytes) peaks_[k] = v;
    } catch (...) {
      std::tie(r.error_kind, r.error_message) = classify(std::current_exception());
      log_warn("job " + std::to_string(req.job_id) + " failed: " + r.error_message);
    }
    running_job_.reset();
    cancel_requested_ = false;
    return r;
  }

  // EngineStats at least every kStatsEveryMs while idle or reporting progress (besides after
  // each request), so the supervisor's gauges are never older than that plus one step.
  static constexpr long kStatsEveryMs = 10000;
  void send_stats() {
    send(stats());
    last_stats_ = std::chrono::steady_clock::now();
  }
  void send_stats_if_due() {
    if (std::chrono::steady_clock::now() - last_stats_ >= std::chrono::milliseconds(kStatsEveryMs)) send_stats();
  }

  proto::EngineStats stats() {
    proto::EngineStats s;
    const auto snap = backend_->meter().snapshot();
    s.gpu_used_bytes = snap.allocated_bytes;
    s.gpu_total_bytes = snap.total_bytes;
    s.vram_budget_bytes = opts_.config.vram_budget_bytes > 0 ? opts_.config.vram_budget_bytes : snap.total_bytes;
    for (auto [name, c] : model_->stats()) {
      c.peak_vram_bytes = peaks_[name];
      s.components[name] = c;
    }
    encode_stats(*encode_, s);
    return s;
  }

  ServeOptions opts_;
  std::unique_ptr<rt::DeviceBackend> backend_;
  std::unique_ptr<Ltx2Model> model_;
  std::shared_ptr<EncodeSession> encode_;
  std::string fingerprint_;
  std::chrono::steady_clock::time_point last_stats_{};
  std::map<std::string, int64_t> peaks_;
  zmq::context_t ctx_;
  zmq::socket_t socket_;
  std::deque<proto::Message> pending_;
  std::optional<int64_t> running_job_;
  bool cancel_requested_ = false;
  bool shutdown_ = false;
};

}  // namespace

int serve(const ServeOptions& opts) {
  Server s(opts);
  return s.run();
}

}  // namespace ff::engine
