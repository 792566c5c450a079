// Shared by the media tests: a temp dir, a synthetic clip (colour gradient + 440 Hz stereo tone),
// a PNG reader (libpng's simplified API), PSNR, and running a command for its stdout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clip_file.hpp"

namespace ff::test {

struct MediaTempDir {
  std::string path;
  MediaTempDir();
  ~MediaTempDir();
  std::vector<std::string> names() const;  // sorted file names in the dir
};

// A clip of `frames` frames of width x height: R ramps left to right, G top to bottom, B with
// the frame index; with audio: 48 kHz stereo, 440 Hz, amplitude 0.5 left and 0.25 right, as long
// as the video (frames / fps seconds).
struct SynthClip {
  clip::ClipHeader header;
  std::vector<uint8_t> rgb;
  std::vector<float> audio;
};
SynthClip synth_clip(int width, int height, int frames, int fps, bool audio);
// Writes it with clip::write_clip_file; returns the path.
std::string write_synth_clip(const std::string& path, const SynthClip& c);

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};
Image read_png(const std::string& path);  // REQUIREs a readable 8-bit PNG; returns RGB24

// Peak signal-to-noise ratio of two equal-size byte buffers, in dB (inf when equal).
double psnr(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// Runs `cmd` through /bin/sh; returns its stdout; `rc` gets the exit status.
std::string run_command(const std::string& cmd, int* rc);

}  // namespace ff::test
