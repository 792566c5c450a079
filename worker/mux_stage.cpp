#include "worker/mux_stage.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <sys/eventfd.h>
#include <unistd.h>

#include "worker/media/part_file.hpp"

namespace fs = std::filesystem;

namespace ff::worker {

media::Mp4Options mux_options(const proto::JobParams& p) {
  media::Mp4Options o;
  o.crf = p.crf;
  o.preset = p.preset;
  o.audio = p.audio;
  return o;
}

MuxStage::MuxStage(const std::string& run_dir, const std::string& output_dir,
                   const std::function<void(const std::string&)>& log)
    : clip_dir_(run_dir + "/clips"), output_dir_(output_dir) {
  std::error_code ec;
  fs::create_directories(clip_dir_, ec);
  if (ec) throw std::runtime_error("cannot create " + clip_dir_ + ": " + ec.message());
  size_t stale = 0;
  for (const auto& e : fs::directory_iterator(clip_dir_, ec)) stale += fs::remove(e.path(), ec) ? 1 : 0;
  if (stale > 0 && log) log("mux: removed " + std::to_string(stale) + " stale clip files from " + clip_dir_);
  for (const auto& name : media::remove_stale_parts(output_dir_))
    if (log) log("mux: removed " + output_dir_ + "/" + name + " (left by a process that died mid-mux)");
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  mux_ = std::make_unique<media::MuxWorker>([this](media::MuxOutcome o) { on_done(std::move(o)); });
}

MuxStage::~MuxStage() {
  stop();
  if (event_fd_ >= 0) ::close(event_fd_);
}

std::string MuxStage::clip_path_for(int64_t job_id) const {
  return clip_dir_ + "/" + std::to_string(job_id) + ".clip";
}

std::optional<std::string> MuxStage::start(const proto::Job& job, const std::string& clip_path,
                                           proto::Result partial) {
  std::string error;
  const media::Mp4Options opts = mux_options(job.params);
  if (clip_path != clip_path_for(job.job_id)) {
    error = "the engine reported clip '" + clip_path + "', expected " + clip_path_for(job.job_id);
  } else if (!mux_) {
    error = "the mux stage is stopped";
  } else {
    try {
      media::validate_mp4_options(opts);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (!error.empty()) {
    discard_clip(job.job_id);
    return error;
  }
  media::MuxRequest r;
  r.job_id = job.job_id;
  r.clip_path = clip_path;
  r.mp4_path = output_dir_ + "/" + std::to_string(job.job_id) + ".mp4";
  r.png_path = output_dir_ + "/" + std::to_string(job.job_id) + ".png";
  r.options = opts;
  jobs_[job.job_id] = Held{job, std::move(partial)};
  mux_->submit(std::move(r));
  return std::nullopt;
}

bool MuxStage::renew(const proto::Job& job) {
  auto it = jobs_.find(job.job_id);
  if (it == jobs_.end()) return false;
  it->second.job = job;
  return true;
}

void MuxStage::on_done(media::MuxOutcome o) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    done_.push_back(std::move(o));
  }
  const uint64_t one = 1;
  (void)!::write(event_fd_, &one, sizeof one);
}

std::vector<std::pair<proto::Job, proto::Result>> MuxStage::take_done() {
  uint64_t n;
  (void)!::read(event_fd_, &n, sizeof n);
  std::vector<media::MuxOutcome> outcomes;
  {
    std::lock_guard<std::mutex> lk(mu_);
    outcomes.swap(done_);
  }
  std::vector<std::pair<proto::Job, proto::Result>> out;
  for (auto& o : outcomes) {
    auto it = jobs_.find(o.job_id);
    if (it == jobs_.end()) continue;  // given up by stop()
    Held h = std::move(it->second);
    jobs_.erase(it);
    proto::Result& r = h.result;
    r.timings_s["mux"] = o.seconds;
    if (o.ok) {
      r.ok = true;
      r.output_path = o.mp4_path;
      r.media.mp4_path = o.mp4_path;
      r.media.poster_path = o.png_path;
      r.media.duration_s = o.duration_s;
      r.media.frames = o.frames;
      r.media.fps = o.fps;
      r.media.width = o.width;
      r.media.height = o.height;
      r.media.audio_sample_rate = o.audio_sample_rate;
      r.media.audio_channels = o.audio_channels;
      r.media.bytes = o.bytes;
    } else {
      r.ok = false;
      r.output_path.clear();
      r.error_kind = proto::ErrorKind::kInternal;
      r.error_message = "mux failed: " + o.error;
    }
    out.emplace_back(std::move(h.job), std::move(r));
  }
  return out;
}

void MuxStage::discard_clip(int64_t job_id) const {
  const std::string name = std::to_string(job_id) + ".clip";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(clip_dir_, ec)) {
    const std::string f = e.path().filename().string();
    if (f == name || f.rfind(name + ".tmp-", 0) == 0) fs::remove(e.path(), ec);
  }
}

std::vector<proto::Job> MuxStage::stop() {
  if (mux_) mux_->stop();  // outcomes of aborted muxes land in done_ and are ignored
  std::vector<proto::Job> lost;
  for (auto& [id, h] : jobs_) lost.push_back(h.job);
  jobs_.clear();
  return lost;
}

}  // namespace ff::worker
