#include "dispatcher/scheduler.hpp"

#include <algorithm>

namespace ff::dispatcher {
namespace {

bool eligible(const ClaimedJob& j, const WorkerSlot& w) {
  return w.credit > 0 && (j.job.model.empty() || j.job.model == w.model);
}

bool cached_for(const ClaimedJob& j, const WorkerSlot& w) {
  if (w.encoder_fingerprint.empty()) return false;
  return std::find(j.cached_fps.begin(), j.cached_fps.end(), w.encoder_fingerprint) !=
         j.cached_fps.end();
}

}  // namespace

ScheduleResult schedule(std::vector<ClaimedJob> jobs, std::vector<WorkerSlot>& slots,
                        int64_t& next_group) {
  std::stable_sort(jobs.begin(), jobs.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.job.job_id < b.job.job_id;
  });
  ScheduleResult out;
  std::vector<ClaimedJob> misses;
  for (auto& j : jobs) {
    WorkerSlot* best = nullptr;
    for (auto& w : slots)
      if (eligible(j, w) && cached_for(j, w) && (!best || w.credit > best->credit)) best = &w;
    if (best) {
      --best->credit;
      j.job.embedding_cached = true;
      j.job.encode_group = 0;
      out.assignments.push_back({best->identity, std::move(j)});
    } else {
      misses.push_back(std::move(j));
    }
  }
  std::vector<bool> done(misses.size(), false);
  for (size_t i = 0; i < misses.size(); ++i) {
    if (done[i]) continue;
    WorkerSlot* best = nullptr;
    for (auto& w : slots)
      if (eligible(misses[i], w) && (!best || w.credit > best->credit)) best = &w;
    if (!best) {
      done[i] = true;
      out.unassigned.push_back(std::move(misses[i]));
      continue;
    }
    int64_t room = std::min<int64_t>(best->credit, std::max<int32_t>(1, best->max_encode_batch));
    int64_t group = ++next_group;
    if (group == 0) group = ++next_group;
    for (size_t k = i; k < misses.size() && room > 0; ++k) {
      if (done[k] || !eligible(misses[k], *best)) continue;
      done[k] = true;
      --room;
      --best->credit;
      misses[k].job.embedding_cached = false;
      misses[k].job.encode_group = group;
      out.assignments.push_back({best->identity, std::move(misses[k])});
    }
  }
  return out;
}

}  // namespace ff::dispatcher
