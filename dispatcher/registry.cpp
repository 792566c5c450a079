#include "dispatcher/registry.hpp"

#include <algorithm>

namespace ff::dispatcher {

std::optional<WorkerSession> WorkerRegistry::register_worker(const std::string& identity,
                                                             const proto::Register& caps,
                                                             Clock::time_point now) {
  std::optional<WorkerSession> old;
  for (auto& [id, s] : sessions_) {
    if (id != identity && s.caps.worker_id == caps.worker_id) {
      old = remove(id);
      break;
    }
  }
  auto it = sessions_.find(identity);
  if (it == sessions_.end()) {
    WorkerSession s;
    s.identity = identity;
    it = sessions_.emplace(identity, std::move(s)).first;
  }
  it->second.caps = caps;
  it->second.credit = std::max<int64_t>(0, caps.free_slots);
  it->second.last_heard = now;
  return old;
}

WorkerSession* WorkerRegistry::find(const std::string& identity) {
  auto it = sessions_.find(identity);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::optional<WorkerSession> WorkerRegistry::remove(const std::string& identity) {
  auto it = sessions_.find(identity);
  if (it == sessions_.end()) return std::nullopt;
  WorkerSession s = std::move(it->second);
  sessions_.erase(it);
  for (const auto& [job, l] : s.leases) {
    auto h = job_holder_.find(job);
    if (h != job_holder_.end() && h->second == identity) job_holder_.erase(h);
  }
  return s;
}

std::vector<WorkerSession> WorkerRegistry::take_silent(Clock::time_point now,
                                                      Clock::duration silence) {
  std::vector<std::string> ids;
  for (const auto& [id, s] : sessions_)
    if (now - s.last_heard > silence) ids.push_back(id);
  std::vector<WorkerSession> out;
  for (const auto& id : ids) out.push_back(*remove(id));
  return out;
}

WorkerSession* WorkerRegistry::holder(int64_t job_id) {
  auto h = job_holder_.find(job_id);
  if (h == job_holder_.end()) return nullptr;
  return find(h->second);
}

int64_t WorkerRegistry::total_credit() const {
  int64_t n = 0;
  for (const auto& [id, s] : sessions_) n += s.credit;
  return n;
}

void WorkerRegistry::add_lease(const std::string& identity, const Lease& lease) {
  auto* s = find(identity);
  if (!s) return;
  s->leases[lease.job_id] = lease;
  job_holder_[lease.job_id] = identity;
}

std::optional<Lease> WorkerRegistry::drop_lease(const std::string& identity, int64_t job_id) {
  auto* s = find(identity);
  if (!s) return std::nullopt;
  auto it = s->leases.find(job_id);
  if (it == s->leases.end()) return std::nullopt;
  Lease l = it->second;
  s->leases.erase(it);
  auto h = job_holder_.find(job_id);
  if (h != job_holder_.end() && h->second == identity) job_holder_.erase(h);
  return l;
}

}  // namespace ff::dispatcher
