#include "common/clip_file.hpp"

#include <bit>
#include <cerrno>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace ff::clip {

static_assert(std::endian::native == std::endian::little, "the clip file is little-endian");

namespace {

constexpr int32_t kMaxSide = 16384;
constexpr int32_t kMaxFrames = 100000;

std::string errno_text() { return std::strerror(errno); }

void put32(unsigned char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void put64(unsigned char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void encode_header(const ClipHeader& h, unsigned char (&b)[kHeaderBytes]) {
  std::memset(b, 0, sizeof b);
  std::memcpy(b, kMagic, 8);
  put32(b + 8, kVersion);
  put32(b + 12, kHeaderBytes);
  put32(b + 16, static_cast<uint32_t>(h.width));
  put32(b + 20, static_cast<uint32_t>(h.height));
  put32(b + 24, static_cast<uint32_t>(h.frames));
  put32(b + 28, static_cast<uint32_t>(h.fps_num));
  put32(b + 32, static_cast<uint32_t>(h.fps_den));
  put32(b + 36, static_cast<uint32_t>(h.audio_sample_rate));
  put32(b + 40, static_cast<uint32_t>(h.audio_channels));
  put32(b + 44, kPixelFormatRgb24);
  put64(b + 48, static_cast<uint64_t>(h.audio_samples));
}

}  // namespace

void validate_header(const ClipHeader& h, const std::string& what) {
  auto bad = [&](const std::string& why) { throw ClipFileError(what + ": " + why); };
  auto range = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      bad(std::string(name) + " = " + std::to_string(v) + " is out of range [" + std::to_string(lo) +
          ", " + std::to_string(hi) + "]");
  };
  range("width", h.width, 1, kMaxSide);
  range("height", h.height, 1, kMaxSide);
  range("frames", h.frames, 1, kMaxFrames);
  range("fps_num", h.fps_num, 1, 1000000);
  range("fps_den", h.fps_den, 1, 1000000);
  if (h.audio_channels == 0) {
    if (h.audio_sample_rate != 0 || h.audio_samples != 0)
      bad("audio_channels = 0 (no audio) but audio_sample_rate = " + std::to_string(h.audio_sample_rate) +
          " and audio_samples = " + std::to_string(h.audio_samples) + " (both must be 0)");
    return;
  }
  range("audio_channels", h.audio_channels, 1, 2);
  range("audio_sample_rate", h.audio_sample_rate, 8000, 192000);
  // At most one hour of audio: bounds what a bad header can make a reader allocate.
  range("audio_samples", h.audio_samples, 1, int64_t(h.audio_sample_rate) * 3600);
}

// ---------------------------------------------------------------- ClipWriter

ClipWriter::ClipWriter(const std::string& path, const ClipHeader& h)
    : path_(path), tmp_(path + ".tmp-" + std::to_string(::getpid())), h_(h) {
  validate_header(h_, "clip file " + path_);
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw ClipFileError("clip file " + path_ + ": cannot create " + tmp_ + ": " + errno_text());
  unsigned char b[kHeaderBytes];
  encode_header(h_, b);
  if (std::fwrite(b, 1, sizeof b, f_) != sizeof b) fail("writing the header: " + errno_text());
}

ClipWriter::~ClipWriter() {
  if (f_) std::fclose(f_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void ClipWriter::fail(const std::string& why) {
  if (f_) std::fclose(f_);
  f_ = nullptr;
  ::unlink(tmp_.c_str());
  committed_ = true;  // nothing left to remove
  throw ClipFileError("clip file " + path_ + ": " + why);
}

void ClipWriter::write_frames(std::span<const uint8_t> rgb) {
  if (!f_) throw ClipFileError("clip file " + path_ + ": writer already closed");
  const uint64_t fb = h_.frame_bytes();
  if (rgb.size() % fb != 0)
    fail("write_frames got " + std::to_string(rgb.size()) + " bytes, not a multiple of one frame (" +
         std::to_string(fb) + ")");
  if (audio_written_ > 0) fail("write_frames after write_audio");
  const uint64_t n = rgb.size() / fb;
  if (frames_written_ + n > uint64_t(h_.frames))
    fail("write_frames past the header's " + std::to_string(h_.frames) + " frames");
  if (!rgb.empty() && std::fwrite(rgb.data(), 1, rgb.size(), f_) != rgb.size())
    fail("writing frames: " + errno_text());
  frames_written_ += n;
}

void ClipWriter::write_audio(std::span<const float> samples) {
  if (!f_) throw ClipFileError("clip file " + path_ + ": writer already closed");
  if (frames_written_ != uint64_t(h_.frames))
    fail("write_audio before all " + std::to_string(h_.frames) + " frames were written (" +
         std::to_string(frames_written_) + ")");
  if (!h_.has_audio() && !samples.empty()) fail("write_audio on a clip without audio");
  if (h_.has_audio() && samples.size() % uint64_t(h_.audio_channels) != 0)
    fail("write_audio got " + std::to_string(samples.size()) + " values, not a multiple of " +
         std::to_string(h_.audio_channels) + " channels");
  if (audio_written_ + samples.size() > h_.audio_values())
    fail("write_audio past the header's " + std::to_string(h_.audio_samples) + " samples");
  if (!samples.empty() && std::fwrite(samples.data(), 4, samples.size(), f_) != samples.size())
    fail("writing audio: " + errno_text());
  audio_written_ += samples.size();
}

void ClipWriter::commit() {
  if (!f_) throw ClipFileError("clip file " + path_ + ": writer already closed");
  if (frames_written_ != uint64_t(h_.frames))
    fail("commit after " + std::to_string(frames_written_) + " of " + std::to_string(h_.frames) + " frames");
  if (audio_written_ != h_.audio_values())
    fail("commit after " + std::to_string(audio_written_) + " of " + std::to_string(h_.audio_values()) +
         " audio values");
  // No fsync: a clip is a hand-off between two processes of one machine, not durable state (a
  // crash retries the job), and the engine writes it on the GPU's path.
  if (std::fflush(f_) != 0) fail("flush: " + errno_text());
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) fail("close: " + errno_text());
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail("rename into place: " + errno_text());
  committed_ = true;
}

void write_clip_file(const std::string& path, const ClipHeader& h, std::span<const uint8_t> rgb,
                     std::span<const float> audio) {
  validate_header(h, "clip file " + path);
  if (rgb.size() != h.video_bytes())
    throw ClipFileError("clip file " + path + ": " + std::to_string(rgb.size()) + " bytes of frames for " +
                        std::to_string(h.frames) + " frames of " + std::to_string(h.width) + "x" +
                        std::to_string(h.height) + " RGB24 (expected " + std::to_string(h.video_bytes()) + ")");
  if (audio.size() != h.audio_values())
    throw ClipFileError("clip file " + path + ": " + std::to_string(audio.size()) + " audio values for " +
                        std::to_string(h.audio_samples) + " samples x " + std::to_string(h.audio_channels) +
                        " channels (expected " + std::to_string(h.audio_values()) + ")");
  ClipWriter w(path, h);
  w.write_frames(rgb);
  w.write_audio(audio);
  w.commit();
}

// ---------------------------------------------------------------- ClipReader

ClipReader::ClipReader(const std::string& path) : path_(path) {
  const std::string what = "clip file " + path_;
  f_ = std::fopen(path_.c_str(), "rb");
  if (!f_) throw ClipFileError(what + ": cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fileno(f_), &st) != 0) {
    std::fclose(f_);
    f_ = nullptr;
    throw ClipFileError(what + ": fstat: " + errno_text());
  }
  try {
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < kHeaderBytes)
      throw ClipFileError(what + ": truncated: " + std::to_string(size) + " bytes, shorter than the " +
                          std::to_string(kHeaderBytes) + "-byte header");
    unsigned char b[kHeaderBytes];
    read_at(0, b, kHeaderBytes, "header");
    if (std::memcmp(b, kMagic, 8) != 0) throw ClipFileError(what + ": bad magic (not a framefarm clip file)");
    const uint32_t version = get32(b + 8);
    if (version != kVersion)
      throw ClipFileError(what + ": version " + std::to_string(version) + " (this build reads version " +
                          std::to_string(kVersion) + ")");
    if (get32(b + 12) != kHeaderBytes)
      throw ClipFileError(what + ": header_bytes " + std::to_string(get32(b + 12)) + " (expected " +
                          std::to_string(kHeaderBytes) + ")");
    if (get32(b + 44) != kPixelFormatRgb24)
      throw ClipFileError(what + ": pixel_format " + std::to_string(get32(b + 44)) + " (only 1 = RGB24)");
    h_.width = static_cast<int32_t>(get32(b + 16));
    h_.height = static_cast<int32_t>(get32(b + 20));
    h_.frames = static_cast<int32_t>(get32(b + 24));
    h_.fps_num = static_cast<int32_t>(get32(b + 28));
    h_.fps_den = static_cast<int32_t>(get32(b + 32));
    h_.audio_sample_rate = static_cast<int32_t>(get32(b + 36));
    h_.audio_channels = static_cast<int32_t>(get32(b + 40));
    h_.audio_samples = static_cast<int64_t>(get64(b + 48));
    validate_header(h_, what);
    if (size < h_.file_bytes())
      throw ClipFileError(what + ": truncated: " + std::to_string(size) + " bytes, the header promises " +
                          std::to_string(h_.file_bytes()) + " (" + std::to_string(h_.frames) + " frames of " +
                          std::to_string(h_.width) + "x" + std::to_string(h_.height) + ", " +
                          std::to_string(h_.audio_samples) + " audio samples x " +
                          std::to_string(h_.audio_channels) + ")");
    if (size > h_.file_bytes())
      throw ClipFileError(what + ": " + std::to_string(size - h_.file_bytes()) +
                          " trailing bytes after the audio (the header promises " +
                          std::to_string(h_.file_bytes()) + ")");
  } catch (...) {
    std::fclose(f_);
    f_ = nullptr;
    throw;
  }
}

ClipReader::~ClipReader() {
  if (f_) std::fclose(f_);
}

void ClipReader::read_at(uint64_t offset, void* dst, uint64_t n, const char* what) {
  if (::fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0)
    throw ClipFileError("clip file " + path_ + ": seek to the " + what + ": " + errno_text());
  if (n > 0 && std::fread(dst, 1, n, f_) != n)
    throw ClipFileError("clip file " + path_ + ": truncated while reading the " + what);
}

void ClipReader::read_frame(int32_t index, std::span<uint8_t> out) {
  if (index < 0 || index >= h_.frames)
    throw ClipFileError("clip file " + path_ + ": frame " + std::to_string(index) + " of " +
                        std::to_string(h_.frames));
  if (out.size() != h_.frame_bytes())
    throw ClipFileError("clip file " + path_ + ": frame buffer of " + std::to_string(out.size()) +
                        " bytes (a frame is " + std::to_string(h_.frame_bytes()) + ")");
  read_at(kHeaderBytes + uint64_t(index) * h_.frame_bytes(), out.data(), out.size(), "frames");
}

std::vector<float> ClipReader::read_audio() {
  std::vector<float> a(h_.audio_values());
  read_at(kHeaderBytes + h_.video_bytes(), a.data(), a.size() * 4, "audio");
  return a;
}

Clip read_clip_file(const std::string& path) {
  ClipReader r(path);
  Clip c;
  c.header = r.header();
  c.rgb.resize(c.header.video_bytes());
  const uint64_t fb = c.header.frame_bytes();
  for (int32_t i = 0; i < c.header.frames; ++i)
    r.read_frame(i, std::span<uint8_t>(c.rgb.data() + uint64_t(i) * fb, fb));
  c.audio = r.read_audio();
  return c;
}

}  // namespace ff::clip
