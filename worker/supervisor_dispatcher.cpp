// The supervisor's dispatcher side: registration, jobs and cancels in, results and credits out.
#include <algorithm>
#include <chrono>

#include "worker/log.hpp"
#include "worker/supervisor_impl.hpp"

namespace ff::worker {

using proto::ErrorKind;

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
  // With several dispatchers the next one is asked (round robin): a live one adopts the leases of
  // the jobs we hold (the Register carries them) before the dead one's are taken over, so a
  // running job is not run again elsewhere.
  const std::string silent = session_.endpoint();
  session_.next_endpoint();
  log_warn("session: dispatcher " + silent + " silent too long; handing back unstarted jobs and registering with " +
           session_.endpoint());
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

}  // namespace ff::worker
