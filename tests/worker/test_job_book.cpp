// Unit tests of JobBook: deduplicated encode batches, runnable order, embedding release.
#include <doctest/doctest.h>

#include "worker/job_book.hpp"

using ff::proto::Job;
using ff::proto::PromptEmbedding;
using ff::worker::JobBook;

namespace {
Job job(int64_t id, std::string prompt, std::string negative = "") {
  Job j;
  j.job_id = id;
  j.epoch = 100 + id;
  j.prompt = std::move(prompt);
  j.negative_prompt = std::move(negative);
  return j;
}
PromptEmbedding emb(int32_t n) {
  PromptEmbedding e;
  e.real_tokens = n;
  return e;
}
std::vector<std::string> prompts(const std::vector<ff::worker::PromptToEncode>& b) {
  std::vector<std::string> out;
  for (const auto& p : b) out.push_back(p.prompt);
  return out;
}
}  // namespace

TEST_CASE("misses of all held jobs are encoded together, deduplicated, in arrival order") {
  JobBook b;
  CHECK(b.add(job(1, "cat", ""), {2, 10}, {2}));
  CHECK(b.add(job(2, "dog", ""), {2, 11}, {2}));
  CHECK(b.add(job(3, "cat", "dog"), {2, 10}, {2, 11}));
  CHECK_FALSE(b.add(job(3, "x"), {2}, {2}));  // duplicate id
  const auto batch = b.take_encode_batch(8);
  CHECK(prompts(batch) == std::vector<std::string>{"cat", "", "dog"});
  CHECK(batch[0].ids == std::vector<int32_t>{2, 10});
  // Being encoded: not offered again.
  CHECK(b.take_encode_batch(8).empty());
  CHECK_FALSE(b.next_runnable());
}

TEST_CASE("the batch size is capped and the rest follows in the next batch") {
  JobBook b;
  for (int i = 0; i < 5; ++i) b.add(job(i, "p" + std::to_string(i), "neg"), {2, i}, {2, 99});
  CHECK(prompts(b.take_encode_batch(3)) == std::vector<std::string>{"p0", "neg", "p1"});
  CHECK(prompts(b.take_encode_batch(3)) == std::vector<std::string>{"p2", "p3", "p4"});
}

TEST_CASE("a job becomes runnable once both embeddings are known, start hands them out") {
  JobBook b;
  b.add(job(7, "a", "n"), {2, 5}, {2, 6});
  b.set_embedding("a", emb(2));
  CHECK_FALSE(b.next_runnable());
  b.set_embedding("n", emb(2));
  REQUIRE(b.next_runnable() == 7);
  const auto req = b.start(7, "/out");
  CHECK(req.job_id == 7);
  CHECK(req.output_dir == "/out");
  CHECK(req.positive.real_tokens == 2);
  CHECK(b.started_job() == 7);
  CHECK(b.unstarted().empty());
  CHECK(b.embeddings_held() == 0);  // nobody else needs them
  b.remove(7);
  CHECK(b.size() == 0);
}

TEST_CASE("an aborted encode can be retried, jobs_using finds the jobs of a prompt") {
  JobBook b;
  b.add(job(1, "a"), {2, 5}, {2});
  b.add(job(2, "b"), {2, 6}, {2});
  auto batch = prompts(b.take_encode_batch(8));
  CHECK(b.jobs_using({"a"}) == std::vector<int64_t>{1});
  CHECK(b.jobs_using({""}) == std::vector<int64_t>{1, 2});
  b.encode_aborted(batch);
  CHECK(prompts(b.take_encode_batch(8)) == batch);
}

TEST_CASE("embeddings nobody holds a job for are not kept") {
  JobBook b;
  b.set_embedding("orphan", emb(1));
  CHECK_FALSE(b.has_embedding("orphan"));
  b.add(job(1, "x", "x"), {2, 4}, {2, 4});
  b.set_embedding("x", emb(2));
  CHECK(b.next_runnable() == 1);
  b.remove(1);
  CHECK(b.embeddings_held() == 0);
}

TEST_CASE("suspect prompts are encoded alone, first, until they get an embedding") {
  JobBook b;
  b.add(job(1, "a"), {2, 5}, {2});
  b.add(job(2, "b"), {2, 6}, {2});
  auto first = prompts(b.take_encode_batch(8));
  CHECK(first == std::vector<std::string>{"a", "", "b"});
  b.encode_aborted(first);
  b.mark_suspect(first);
  CHECK(prompts(b.take_encode_batch(8)) == std::vector<std::string>{"a"});
  CHECK(prompts(b.take_encode_batch(8)) == std::vector<std::string>{""});
  b.set_embedding("a", emb(2));
  b.set_embedding("", emb(1));
  CHECK_FALSE(b.is_suspect("a"));
  CHECK(prompts(b.take_encode_batch(8)) == std::vector<std::string>{"b"});
  CHECK(b.take_encode_batch(8).empty());
}
