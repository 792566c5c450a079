#include "worker/media/mux_worker.hpp"

#include <chrono>
#include <cstdio>
#include <vector>

#include <unistd.h>

#include "common/clip_file.hpp"
#include "worker/media/png_poster.hpp"

namespace ff::media {

MuxOutcome failed_outcome(const MuxRequest& r, const std::string& why) {
  ::unlink(r.clip_path.c_str());
  MuxOutcome o;
  o.job_id = r.job_id;
  o.ok = false;
  o.error = why;
  return o;
}

MuxWorker::MuxWorker(Completion on_done) : on_done_(std::move(on_done)) {
  thread_ = std::thread([this] { loop(); });
}

MuxWorker::~MuxWorker() { stop(); }

void MuxWorker::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MuxWorker::submit(MuxRequest r) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(r));
      cv_.notify_one();
      return;
    }
  }
  finish(failed_outcome(r, "mux worker stopped"));
}

size_t MuxWorker::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return queue_.size() + in_progress_;
}

void MuxWorker::finish(MuxOutcome o) {
  try {
    if (on_done_) on_done_(std::move(o));
  } catch (...) {
    // The callback's contract is not to throw; a mux thread must not die of it.
  }
}

void MuxWorker::loop() {
  for (;;) {
    MuxRequest r;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      r = std::move(queue_.front());
      queue_.pop_front();
      in_progress_ = 1;
    }
    MuxOutcome o = run_one(r);
    {
      std::lock_guard<std::mutex> lk(mu_);
      in_progress_ = 0;
    }
    finish(std::move(o));
  }
  // Stopping: fail what is still queued (their callbacks run here, on the mux thread).
  std::deque<MuxRequest> rest;
  {
    std::lock_guard<std::mutex> lk(mu_);
    rest.swap(queue_);
  }
  for (const auto& r : rest) finish(failed_outcome(r, "mux worker stopped"));
}

MuxOutcome MuxWorker::run_one(const MuxRequest& r) {
  const auto t0 = std::chrono::steady_clock::now();
  MuxOutcome o;
  o.job_id = r.job_id;
  bool poster_written = false;
  try {
    validate_mp4_options(r.options);
    clip::ClipReader clip(r.clip_path);
    const clip::ClipHeader& h = clip.header();
    std::vector<uint8_t> first(h.frame_bytes());
    clip.read_frame(0, first);
    write_png_poster(r.png_path, first, h.width, h.height);
    poster_written = true;
    const Mp4Info info = write_mp4(clip, r.mp4_path, r.options, [this](int32_t) {
      std::lock_guard<std::mutex> lk(mu_);
      return !stopping_;
    });
    o.ok = true;
    o.mp4_path = r.mp4_path;
    o.png_path = r.png_path;
    o.duration_s = info.duration_s;
    o.frames = info.frames;
    o.fps = static_cast<double>(info.fps_num) / info.fps_den;
    o.width = info.width;
    o.height = info.height;
    o.audio_sample_rate = info.audio_sample_rate;
    o.audio_channels = info.audio_channels;
    o.bytes = info.bytes;
  } catch (const std::exception& e) {
    o.ok = false;
    o.error = e.what();
    if (poster_written) ::unlink(r.png_path.c_str());
  }
  ::unlink(r.clip_path.c_str());
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

}  // namespace ff::media
