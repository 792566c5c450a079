// The jobs a worker holds, and what each still needs before the engine can run it.
//
// A held job moves: waiting for embeddings -> runnable (both prompt embeddings known) -> started
// (GenerateRequest sent) -> removed (Result or HandBack sent). Embeddings are keyed by the prompt
// text exactly as the job carries it (the cache key is sha256 of those bytes); one embedding serves
// every held job with that prompt or negative prompt.
//
// Pure bookkeeping: no I/O, no clocks. Not thread-safe: the supervisor's loop thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/protocol.hpp"

namespace ff::worker {

struct HeldJob {
  proto::Job job;
  bool started = false;           // a GenerateRequest was sent for it
  bool cancel_requested = false;  // the dispatcher asked to cancel it while started
};

// One prompt to encode: its text (the cache key) and its token ids.
struct PromptToEncode {
  std::string prompt;
  std::vector<int32_t> ids;
};

class JobBook {
 public:
  // Adds a job with the token ids of its prompt and negative prompt. Returns false (and adds
  // nothing) for a duplicate job_id.
  bool add(const proto::Job& job, const std::vector<int32_t>& prompt_ids,
           const std::vector<int32_t>& negative_ids);

  // Records an embedding for `prompt` (from the cache or the engine); every held job using it
  // benefits. Embeddings no held job needs are dropped.
  void set_embedding(const std::string& prompt, proto::PromptEmbedding emb);
  bool has_embedding(const std::string& prompt) const { return embeddings_.count(prompt) != 0; }

  // Distinct prompts of held, unstarted jobs that have no embedding and are not being encoded,
  // in job arrival order, at most `max_batch`. Marks them as being encoded. A suspect prompt
  // (see mark_suspect) is always encoded alone, before the others.
  std::vector<PromptToEncode> take_encode_batch(int32_t max_batch);
  // The encode of these prompts ended without embeddings (engine error or crash): they may be
  // taken again.
  void encode_aborted(const std::vector<std::string>& prompts);
  // These prompts were in an encode pass that killed the engine: each is encoded alone from now
  // on, so the one that crashes it again can be told apart from the innocent ones.
  void mark_suspect(const std::vector<std::string>& prompts);
  bool is_suspect(const std::string& prompt) const { return suspect_.count(prompt) != 0; }
  // Held unstarted job ids whose prompt or negative prompt is in `prompts`.
  std::vector<int64_t> jobs_using(const std::vector<std::string>& prompts) const;

  // The first unstarted job (arrival order) whose two embeddings are known; nullopt if none.
  std::optional<int64_t> next_runnable() const;
  // Marks `job_id` started and returns its request parts (embeddings copied out).
  proto::GenerateRequest start(int64_t job_id, const std::string& output_dir);

  HeldJob* find(int64_t job_id);
  // Removes the job; embeddings nobody needs any more are released.
  void remove(int64_t job_id);
  // Ids of held jobs not started, in arrival order.
  std::vector<int64_t> unstarted() const;
  // Id of the started job, if any (the engine runs one at a time).
  std::optional<int64_t> started_job() const;
  size_t size() const { return jobs_.size(); }
  size_t embeddings_held() const { return embeddings_.size(); }

 private:
  struct Entry {
    HeldJob held;
    std::vector<int32_t> prompt_ids, negative_ids;
  };
  void release_unused();
  std::map<uint64_t, int64_t> order_;  // arrival sequence -> job id
  std::unordered_map<int64_t, std::pair<uint64_t, Entry>> jobs_;
  std::unordered_map<std::string, proto::PromptEmbedding> embeddings_;
  std::unordered_map<std::string, bool> encoding_;  // prompts in an encode request now
  std::unordered_map<std::string, bool> suspect_;   // prompts to encode one at a time
  uint64_t seq_ = 0;
};

}  // namespace ff::worker
