#include "worker/job_book.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

namespace ff::worker {

bool JobBook::add(const proto::Job& job, const std::vector<int32_t>& prompt_ids,
                  const std::vector<int32_t>& negative_ids) {
  if (jobs_.count(job.job_id)) return false;
  const uint64_t s = seq_++;
  order_[s] = job.job_id;
  jobs_[job.job_id] = {s, Entry{HeldJob{job}, prompt_ids, negative_ids}};
  return true;
}

void JobBook::set_embedding(const std::string& prompt, proto::PromptEmbedding emb) {
  encoding_.erase(prompt);
  suspect_.erase(prompt);
  for (const auto& [id, se] : jobs_) {
    const auto& j = se.second.held;
    if (!j.started && (j.job.prompt == prompt || j.job.negative_prompt == prompt)) {
      embeddings_[prompt] = std::move(emb);
      return;
    }
  }
}

void JobBook::mark_suspect(const std::vector<std::string>& prompts) {
  for (const auto& p : prompts) suspect_[p] = true;
}

std::vector<PromptToEncode> JobBook::take_encode_batch(int32_t max_batch) {
  std::vector<PromptToEncode> out;
  std::unordered_set<std::string> seen;
  if (!suspect_.empty()) {  // a suspect alone first
    for (const auto& [s, id] : order_) {
      const Entry& e = jobs_.at(id).second;
      if (e.held.started) continue;
      for (const auto& [p, ids] : {std::pair{&e.held.job.prompt, &e.prompt_ids},
                                   std::pair{&e.held.job.negative_prompt, &e.negative_ids}}) {
        if (!suspect_.count(*p) || embeddings_.count(*p) || encoding_.count(*p)) continue;
        encoding_[*p] = true;
        return {{*p, *ids}};
      }
    }
  }
  for (const auto& [s, id] : order_) {
    const Entry& e = jobs_.at(id).second;
    if (e.held.started) continue;
    const std::pair<const std::string*, const std::vector<int32_t>*> parts[] = {
        {&e.held.job.prompt, &e.prompt_ids}, {&e.held.job.negative_prompt, &e.negative_ids}};
    for (const auto& [p, ids] : parts) {
      if (static_cast<int32_t>(out.size()) >= max_batch) break;
      if (embeddings_.count(*p) || encoding_.count(*p) || seen.count(*p) || suspect_.count(*p)) continue;
      seen.insert(*p);
      out.push_back({*p, *ids});
    }
  }
  for (const auto& p : out) encoding_[p.prompt] = true;
  return out;
}

void JobBook::encode_aborted(const std::vector<std::string>& prompts) {
  for (const auto& p : prompts) encoding_.erase(p);
}

std::vector<int64_t> JobBook::jobs_using(const std::vector<std::string>& prompts) const {
  std::unordered_set<std::string> set(prompts.begin(), prompts.end());
  std::vector<int64_t> out;
  for (const auto& [s, id] : order_) {
    const HeldJob& j = jobs_.at(id).second.held;
    if (!j.started && (set.count(j.job.prompt) || set.count(j.job.negative_prompt)))
      out.push_back(id);
  }
  return out;
}

std::optional<int64_t> JobBook::next_runnable() const {
  for (const auto& [s, id] : order_) {
    const HeldJob& j = jobs_.at(id).second.held;
    if (!j.started && embeddings_.count(j.job.prompt) && embeddings_.count(j.job.negative_prompt))
      return id;
  }
  return std::nullopt;
}

proto::GenerateRequest JobBook::start(int64_t job_id, const std::string& output_dir) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) throw std::logic_error("job_book: start of unknown job " + std::to_string(job_id));
  HeldJob& j = it->second.second.held;
  proto::GenerateRequest req;
  req.job_id = job_id;
  req.params = j.job.params;
  req.positive = embeddings_.at(j.job.prompt);
  req.negative = embeddings_.at(j.job.negative_prompt);
  req.output_dir = output_dir;
  j.started = true;
  release_unused();
  return req;
}

HeldJob* JobBook::find(int64_t job_id) {
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second.second.held;
}

void JobBook::remove(int64_t job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  order_.erase(it->second.first);
  jobs_.erase(it);
  release_unused();
}

void JobBook::release_unused() {
  std::unordered_set<std::string> needed;
  for (const auto& [id, se] : jobs_) {
    if (se.second.held.started) continue;
    needed.insert(se.second.held.job.prompt);
    needed.insert(se.second.held.job.negative_prompt);
  }
  for (auto it = embeddings_.begin(); it != embeddings_.end();)
    it = needed.count(it->first) ? std::next(it) : embeddings_.erase(it);
  for (auto it = suspect_.begin(); it != suspect_.end();)
    it = needed.count(it->first) ? std::next(it) : suspect_.erase(it);
}

std::vector<int64_t> JobBook::unstarted() const {
  std::vector<int64_t> out;
  for (const auto& [s, id] : order_)
    if (!jobs_.at(id).second.held.started) out.push_back(id);
  return out;
}

std::optional<int64_t> JobBook::started_job() const {
  for (const auto& [s, id] : order_)
    if (jobs_.at(id).second.held.started) return id;
  return std::nullopt;
}

}  // namespace ff::worker
