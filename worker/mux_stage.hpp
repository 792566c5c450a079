// The supervisor's MP4 stage: finished jobs whose clip file is being muxed on the mux thread
// (worker/media/mux_worker.hpp), between the engine's GenerateResult and the dispatcher's Result.
//
//   engine: GenerateResult{ok, clip_path} --start()--> mux thread: <job>.png + <job>.mp4
//   mux thread done --(eventfd readable)--> take_done() --> the supervisor sends the Result
//
// The engine is idle again as soon as its GenerateResult arrives (the link does not wait for the
// mux), so the next job's denoising overlaps this job's encoding. A job in this stage is still
// held by the worker: it keeps its credit until its Result goes out (in_flight() counts it).
// Clips live in <run_dir>/clips/<job id>.clip (clip_path_for); stale clips of an earlier run and
// stale MP4 part files of dead processes in output_root are removed at construction.
// A successful mux gives the Result output_path = the MP4, `media` filled and timings_s["mux"];
// a failed one gives ok = false, kInternal (retried), "mux failed: <step>: <why>"; either way no
// half-written file stays and the clip is deleted. A Cancel for a job in this stage is ignored:
// its video exists, only the file is being written.
// Not thread-safe: the supervisor's loop thread owns it (the mux thread only touches the
// mailbox, under its mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/protocol.hpp"
#include "worker/media/mux_worker.hpp"

namespace ff::worker {

class MuxStage {
 public:
  // Creates <run_dir>/clips (emptied) and sweeps stale part files in output_dir. `log` receives
  // one line per notable event (sweeps). Throws std::runtime_error when a folder cannot be made.
  MuxStage(const std::string& run_dir, const std::string& output_dir,
           const std::function<void(const std::string&)>& log);
  ~MuxStage();  // aborts muxes in progress (their files are removed); see stop()
  MuxStage(const MuxStage&) = delete;
  MuxStage& operator=(const MuxStage&) = delete;

  // Where the engine writes job `job_id`'s clip (GenerateRequest::clip_path).
  std::string clip_path_for(int64_t job_id) const;
  // Hands a finished job's clip to the mux thread. `partial` is the Result so far (ok, timings,
  // peaks); it goes out when the mux completes. Returns an error (and starts nothing; the clip is
  // deleted) when the clip is not this job's clip in <run_dir>/clips, or the job's crf/preset are
  // refused; the caller fails the job with it.
  std::optional<std::string> start(const proto::Job& job, const std::string& clip_path,
                                   proto::Result partial);
  // Readable (poll for POLLIN) while completions wait in the mailbox.
  int fd() const { return event_fd_; }
  // Completed jobs with their final Result (job_id/epoch left for the caller). Clears the fd.
  std::vector<std::pair<proto::Job, proto::Result>> take_done();
  // Jobs handed over and not yet taken back through take_done().
  size_t in_flight() const { return jobs_.size(); }
  // The dispatcher leased a job in this stage to us again (after a re-registration): its Result
  // will carry the newest epoch. Returns false when the job is not in this stage.
  bool renew(const proto::Job& job);
  // Removes job_id's clip and any partial clip the engine was writing (an engine that died).
  void discard_clip(int64_t job_id) const;
  // Aborts the mux in progress, drops queued ones; returns the jobs that will never complete
  // (the caller fails them). Idempotent.
  std::vector<proto::Job> stop();

 private:
  struct Held {
    proto::Job job;
    proto::Result result;
  };
  void on_done(media::MuxOutcome o);  // mux thread

  std::string clip_dir_, output_dir_;
  int event_fd_ = -1;
  std::map<int64_t, Held> jobs_;
  std::mutex mu_;                          // guards done_
  std::vector<media::MuxOutcome> done_;
  std::unique_ptr<media::MuxWorker> mux_;  // last: its thread stops before the rest goes
};

// The mux options a job's params ask for (crf, preset, audio).
media::Mp4Options mux_options(const proto::JobParams& p);

}  // namespace ff::worker
