// The serve loop's claims (state and threads: serve_state.hpp; loop thread only).
//
// Contract: claims never exceed the credit of live workers (a worker whose connection failed is
// skipped until the link heard from it again), at most claim_batch_max per statement, at most 8
// statements per turn. Every claimed job is either sent to a worker (one credit spent, the lease
// recorded in its session with the attempt's deadline) or handed back at once without using an
// attempt; after jobs no worker can take, claims pause until the next poll tick (a hand-back
// NOTIFY would otherwise spin the loop).
#include <algorithm>
#include <set>

#include "dispatcher/job_log.hpp"
#include "dispatcher/scheduler.hpp"
#include "dispatcher/serve_state.hpp"

namespace ff::dispatcher {

using namespace serve_detail;

void Dispatcher::Impl::claim_and_send() {
  if (draining || !db || !queue_maybe_ready || Clock::now() < claims_paused_until) return;
  for (int round = 0; round < 8; ++round) {
    std::vector<WorkerSlot> slots;
    std::set<std::string> models, fps;
    int64_t credit = 0;
    for (auto& [id, s] : registry.sessions()) {
      if (s.suspect) {
        // Eligible again only once the link thread heard from it after the failure.
        auto t = link.last_heard(id);
        if (!t || *t <= s.suspect_since) continue;
        s.suspect = false;
      }
      if (s.credit <= 0) continue;
      slots.push_back({id, s.caps.model, s.caps.encoder_fingerprint, s.credit, s.caps.max_encode_batch});
      models.insert(s.caps.model);
      if (!s.caps.encoder_fingerprint.empty()) fps.insert(s.caps.encoder_fingerprint);
      credit += s.credit;
    }
    if (credit == 0) return;
    int64_t limit = std::min<int64_t>(credit, cfg.claim_batch_max);
    std::vector<ClaimedJob> claimed;
    auto claim_start = Clock::now();
    if (!with_db([&](JobStore& d) {
          claimed = d.claim(cfg.dispatcher_id, limit, {models.begin(), models.end()},
                            cfg.lease_timeout_ms, {fps.begin(), fps.end()});
        }))
      return;
    stats.claims_total++;
    stats.claim_us_total += std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - claim_start).count();
    log::debug(kLog, "claimed ", claimed.size(), " of ", limit, " in ",
               std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - claim_start).count(), " us");
    if (static_cast<int64_t>(claimed.size()) < limit) queue_maybe_ready = false;
    if (claimed.empty()) return;
    auto plan = schedule(std::move(claimed), slots, next_group);
    for (auto& a : plan.assignments) {
      WorkerSession* s = registry.find(a.identity);
      Lease l{a.job.job.job_id, a.job.job.epoch, a.job.job.attempt, a.job.max_attempts, false, false};
      const int64_t deadline_ms = a.job.deadline_ms > 0 ? a.job.deadline_ms : cfg.job_deadline_ms;
      if (deadline_ms > 0) l.deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
      if (s) {
        send(a.identity, a.job.job);
        s->credit--;
        registry.add_lease(a.identity, l);
        stats.jobs_sent_total++;
        log_job_dispatched(l, s->caps.worker_id);
      } else {
        pending_handbacks.push_back(mine(l.job_id, l.epoch));
        queue_maybe_ready = true;
      }
    }
    for (auto& u : plan.unassigned) pending_handbacks.push_back(mine(u.job.job_id, u.job.epoch));
    if (!plan.unassigned.empty()) {
      // Ready jobs no worker with credit can take (model/credit mismatch): give them back and
      // do not claim again before the next poll tick (the hand-back NOTIFY would spin us).
      log::debug(kLog, "handing back ", plan.unassigned.size(), " job(s) no worker with credit can take");
      flush();
      claims_paused_until = Clock::now() + std::chrono::milliseconds(cfg.poll_interval_ms);
      return;
    }
    if (!queue_maybe_ready) return;
  }
}

}  // namespace ff::dispatcher
