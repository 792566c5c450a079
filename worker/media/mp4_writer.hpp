// The job's MP4: H.264 (libx264, yuv420p, BT.709 limited range) + AAC (FFmpeg's native "aac",
// 48 kHz stereo), muxed through FFmpeg's libraries from a clip file, as the LTX-2.3 reference
// writes it (ltx-pipelines media_io/encode.py; conversions in frame_convert.hpp):
//   video  libx264, crf 19 and preset veryfast unless the job says otherwise, frame threads,
//          yuv420p; tagged colour space BT.709 and range MPEG (limited) as the reference does,
//          plus primaries and transfer BT.709 and chroma location "center" (where the 2x2
//          average puts chroma; the reference leaves those three unspecified); time
//          base 1/fps with fps = fps_num/fps_den exactly (the reference's int(fps) for the
//          integer rates jobs use)
//   audio  when the clip has audio and the job wants it: s16 (clip, x32767, truncate) resampled
//          by libswresample to fltp 48 kHz stereo (a mono clip is duplicated to both channels,
//          other rates are resampled to 48 kHz), AAC at the encoder's default bit rate
//   file   mp4 with +faststart (index in front, for streaming; the reference does not), written
//          under a part name in the destination directory and renamed into place
//          (part_file.hpp): the final name only ever holds a complete file. Every FFmpeg object
//          is freed on every path; an error names the step that failed ("open libx264: ...").
// Memory: one RGB frame, one YUV frame and the clip's audio. Runs on the calling thread (the mux
// thread, see mux_worker.hpp); libx264 adds its own threads (threads = 0: automatic).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/clip_file.hpp"

namespace ff::media {

inline constexpr int kAacSampleRate = 48000;
inline constexpr int kAacChannels = 2;

struct Mp4Options {
  int crf = 19;                     // libx264 constant rate factor, 0..51 (lower = better)
  std::string preset = "veryfast";  // one of kX264Presets
  bool audio = true;                // false: no audio stream even when the clip has audio
  int threads = 0;                  // libx264 threads; 0 = automatic
};

// libx264's preset names, fastest first.
inline constexpr const char* kX264Presets[] = {"ultrafast", "superfast", "veryfast", "faster",
                                               "fast",      "medium",    "slow",     "slower",
                                               "veryslow",  "placebo"};

// Throws MediaError naming the option when crf or preset is out of range.
void validate_mp4_options(const Mp4Options& o);

// What was written.
struct Mp4Info {
  int32_t frames = 0;
  int32_t width = 0, height = 0;
  int32_t fps_num = 0, fps_den = 1;
  double duration_s = 0;          // max(frames / fps, audio samples / clip sample rate)
  int32_t audio_sample_rate = 0;  // of the AAC stream; 0 = no audio stream
  int32_t audio_channels = 0;
  int64_t bytes = 0;              // size of the final file
};

// Called before each frame with the number of frames done; returning false aborts the mux
// (MediaError "cancelled after N of M frames"). May be empty.
using KeepGoing = std::function<bool(int32_t frames_done)>;

// Encodes the clip behind `clip` into `mp4_path` (its directory must exist). Throws MediaError;
// then neither `mp4_path` (an older file there is left as it was) nor a part file remains.
Mp4Info write_mp4(clip::ClipReader& clip, const std::string& mp4_path, const Mp4Options& options,
                  const KeepGoing& keep_going = {});

}  // namespace ff::media
