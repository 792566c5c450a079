// The supervisor's mux thread: clip file in -> <job>.png poster + <job>.mp4 out -> completion.
// The engine hands a finished job's frames and audio over as a clip file (common/clip_file.hpp)
// and starts its next job at once; the MP4 is encoded here, off the GPU's path.
//
// One thread, one queue, requests done in order. Per request:
//   1. open and validate the clip (a bad clip fails with its ClipFileError text)
//   2. poster: frame 0 as PNG (png_poster.hpp), written whole or not at all
//   3. MP4 (mp4_writer.hpp), written whole or not at all
//   4. the clip file is deleted, whatever the outcome
//   5. the completion callback runs ON THE MUX THREAD with the MuxOutcome
// On failure nothing of this request stays: no .mp4, no part file, and a poster written in step 2
// is removed again. A job "succeeds" only when its outcome says ok (the MP4 is complete).
// Destruction (or stop()) aborts the mux in progress at its next frame and fails every request
// not done with "mux worker stopped"; their callbacks still run (on the mux thread, before the
// destructor returns) and their clips are deleted.
// submit() and pending() are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "worker/media/mp4_writer.hpp"

namespace ff::media {

struct MuxRequest {
  int64_t job_id = 0;
  std::string clip_path;  // read, then deleted
  std::string mp4_path;   // <output_root>/<job id>.mp4
  std::string png_path;   // <output_root>/<job id>.png
  Mp4Options options;
};

struct MuxOutcome {
  int64_t job_id = 0;
  bool ok = false;
  std::string error;      // when !ok: "<step>: <why>", e.g. "clip file ...: truncated: ..."
  std::string mp4_path;   // the rest is set when ok
  std::string png_path;
  double duration_s = 0;
  int32_t frames = 0;
  double fps = 0;
  int32_t width = 0, height = 0;
  int32_t audio_sample_rate = 0;  // 0 = the MP4 has no audio stream
  int32_t audio_channels = 0;
  int64_t bytes = 0;              // MP4 size
  double seconds = 0;             // wall time of this mux (poster + MP4), set on failure too
};

class MuxWorker {
 public:
  using Completion = std::function<void(MuxOutcome)>;

  // Starts the thread. `on_done` must not throw (an exception is swallowed) and must not call
  // back into this object's destructor.
  explicit MuxWorker(Completion on_done);
  ~MuxWorker();
  MuxWorker(const MuxWorker&) = delete;
  MuxWorker& operator=(const MuxWorker&) = delete;

  // Queues a request (after stop(): fails it at once, on the calling thread).
  void submit(MuxRequest r);
  // Requests queued or in progress.
  size_t pending() const;
  // Aborts the current mux, fails the queued ones, joins the thread (idempotent).
  void stop();

 private:
  void loop();
  MuxOutcome run_one(const MuxRequest& r);
  void finish(MuxOutcome o);

  Completion on_done_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<MuxRequest> queue_;
  size_t in_progress_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// The completion of a request that never ran (stopped worker): ok = false, `why`, clip deleted.
MuxOutcome failed_outcome(const MuxRequest& r, const std::string& why);

}  // namespace ff::media
