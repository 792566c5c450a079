// The supervisor's engine side: the engine's messages, the requests it is sent (encode batches,
// then jobs), and what happens when it dies or hangs.
#include <algorithm>
#include <chrono>

#include "worker/log.hpp"
#include "worker/supervisor.hpp"
#include "worker/supervisor_impl.hpp"

namespace ff::worker {

using Clock = SupervisorImpl::Clock;
using proto::ErrorKind;

void SupervisorImpl::on_engine_message(proto::Message& m) {
  if (std::holds_alternative<proto::EngineHello>(m)) return on_engine_hello();
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

void SupervisorImpl::on_engine_hello() {
  const auto& h = *engine_->hello();
  backoff_.started(Clock::now());
  notify_.status(notify_.is_ready() ? "serving: engine restarted (" + h.device + ")"
                                    : "engine up (" + h.device + "); registering with " + session_.endpoint());
  if (h.encoder_fingerprint.empty()) {
    engine_lost("engine sent EngineHello without encoder_fingerprint; restarting it");
    return;
  }
  if (h.encoder_fingerprint != fingerprint_) {
    const bool changed = !fingerprint_.empty();
    fingerprint_ = h.encoder_fingerprint;
    replace_cache();
    if (changed) log_warn("engine: encoder fingerprint changed; registering again");
    // The Register carries the fingerprint: the dispatcher routes cached jobs by it.
    if (changed || !session_.connected()) register_with_dispatcher();
  } else if (!session_.connected()) {
    register_with_dispatcher();
  }
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

void SupervisorImpl::supervise_engine() {
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

}  // namespace ff::worker
