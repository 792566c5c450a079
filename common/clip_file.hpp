// The clip file: how the engine hands one job's decoded frames and audio to the torch-free
// supervisor, which muxes the MP4 from it on its own thread (worker/media/). Whole clips never
// travel through msgpack: the engine writes this file into the worker's run_dir and names it in
// GenerateResult::clip_path.
//
// Layout (version 1; every integer little-endian, the file is exactly this long):
//   offset  size  field
//        0     8  magic "FFCLIP\r\n"
//        8     4  u32 version = 1
//       12     4  u32 header_bytes = 64 (where the frames start)
//       16     4  i32 width   (pixels, 1..16384)
//       20     4  i32 height  (pixels, 1..16384)
//       24     4  i32 frames  (1..100000)
//       28     4  i32 fps_num (> 0)   frame rate = fps_num / fps_den frames per second
//       32     4  i32 fps_den (> 0)
//       36     4  i32 audio_sample_rate (Hz, 8000..192000; 0 = no audio)
//       40     4  i32 audio_channels    (1 or 2; 0 = no audio)
//       44     4  u32 pixel_format = 1  (RGB24; the only format of version 1)
//       48     8  i64 audio_samples     (samples per channel; 0 = no audio)
//       56     8  reserved, zero
//       64        frames: frames x height x width x 3 bytes, RGB24, row-major, top row first,
//                 frame 0 first; 0 = black, 255 = full scale (the decoder's [0, 1] x 255)
//  64 + video     audio: audio_samples x audio_channels float32, interleaved (L R L R ...),
//                 nominal range [-1, 1] (the vocoder's waveform; clipped when encoded)
// No audio is all three audio fields 0 (a clip with channels but no samples is refused).
//
// Writers go through a temporary name in the target's directory and rename into place, so a
// reader never sees a partial clip under the final name. Torch-free, no threads; every function
// may be called from any thread (no shared state).
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ff::clip {

inline constexpr char kMagic[8] = {'F', 'F', 'C', 'L', 'I', 'P', '\r', '\n'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kHeaderBytes = 64;
inline constexpr uint32_t kPixelFormatRgb24 = 1;

// Every failure of this file names the path and what is wrong ("truncated: ...", "bad magic").
class ClipFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClipHeader {
  int32_t width = 0;
  int32_t height = 0;
  int32_t frames = 0;
  int32_t fps_num = 24;
  int32_t fps_den = 1;
  int32_t audio_sample_rate = 0;  // 0 with audio_channels 0 and audio_samples 0: no audio
  int32_t audio_channels = 0;
  int64_t audio_samples = 0;      // per channel

  bool has_audio() const { return audio_channels > 0; }
  double fps() const { return static_cast<double>(fps_num) / fps_den; }
  uint64_t frame_bytes() const { return uint64_t(width) * uint64_t(height) * 3; }
  uint64_t video_bytes() const { return frame_bytes() * uint64_t(frames); }
  uint64_t audio_values() const { return uint64_t(audio_samples) * uint64_t(audio_channels); }
  uint64_t file_bytes() const { return kHeaderBytes + video_bytes() + audio_values() * 4; }
};

// Throws ClipFileError("<what>: <field> ...") when a field is out of the ranges above.
void validate_header(const ClipHeader& h, const std::string& what);

// Writes a clip incrementally: frames in order (any number per call), then the audio, then
// commit() renames the temporary file into place. Destroyed without commit(), it removes the
// temporary file (nothing stays under either name). Not copyable; one thread at a time.
class ClipWriter {
 public:
  // Validates `h` and creates "<path>.tmp-<pid>" (its directory must exist).
  ClipWriter(const std::string& path, const ClipHeader& h);
  ~ClipWriter();
  ClipWriter(const ClipWriter&) = delete;
  ClipWriter& operator=(const ClipWriter&) = delete;

  // Appends whole frames: rgb.size() must be a multiple of frame_bytes() and not go past
  // `frames`.
  void write_frames(std::span<const uint8_t> rgb);
  // Appends interleaved samples (a multiple of audio_channels); only after every frame.
  void write_audio(std::span<const float> samples);
  // Checks that exactly the promised frames and samples were written, flushes (no fsync: the
  // file is a hand-off, not durable state) and renames into place.
  void commit();

 private:
  void fail(const std::string& why);
  std::string path_, tmp_;
  ClipHeader h_;
  std::FILE* f_ = nullptr;
  uint64_t frames_written_ = 0, audio_written_ = 0;
  bool committed_ = false;
};

// The whole clip in one call: what the engine calls after decoding. `rgb` holds h.frames frames
// (h.video_bytes() bytes), `audio` h.audio_values() floats (empty when there is no audio).
void write_clip_file(const std::string& path, const ClipHeader& h, std::span<const uint8_t> rgb,
                     std::span<const float> audio);

// Opens and validates a clip without reading its payload: the header (magic, version, ranges)
// and the file size against the header. Frames are read one at a time (the muxer holds one frame,
// not the clip).
class ClipReader {
 public:
  explicit ClipReader(const std::string& path);  // throws ClipFileError
  ~ClipReader();
  ClipReader(const ClipReader&) = delete;
  ClipReader& operator=(const ClipReader&) = delete;

  const ClipHeader& header() const { return h_; }
  const std::string& path() const { return path_; }
  // Reads frame `index` (h.frame_bytes() bytes) into `out`.
  void read_frame(int32_t index, std::span<uint8_t> out);
  // Reads every audio value (h.audio_values() floats, interleaved).
  std::vector<float> read_audio();

 private:
  void read_at(uint64_t offset, void* dst, uint64_t n, const char* what);
  std::string path_;
  ClipHeader h_;
  std::FILE* f_ = nullptr;
};

struct Clip {
  ClipHeader header;
  std::vector<uint8_t> rgb;   // header.video_bytes()
  std::vector<float> audio;   // header.audio_values()
};

// Reads and validates a whole clip (tests, small clips); throws ClipFileError.
Clip read_clip_file(const std::string& path);

}  // namespace ff::clip
