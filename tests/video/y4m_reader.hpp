// Test helper: parses a YUV4MPEG2 file (header fields, frame markers and plane sizes, 4:2:0 only)
// without trusting the writer. Header-only, torch-free.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ff::test {

struct Y4mInfo {
  int width = 0, height = 0;
  int fps_num = 0, fps_den = 0;
  std::string colorspace;  // the C parameter, "" when absent
  char interlace = '?';
  int frames = 0;
  std::vector<std::string> frame_y;  // each frame's Y plane
};

// Throws std::runtime_error describing the first violation.
inline Y4mInfo parse_y4m(const std::string& bytes) {
  Y4mInfo info;
  const size_t eol = bytes.find('\n');
  if (eol == std::string::npos) throw std::runtime_error("y4m: no header line");
  std::istringstream hdr(bytes.substr(0, eol));
  std::string tok;
  hdr >> tok;
  if (tok != "YUV4MPEG2") throw std::runtime_error("y4m: bad signature '" + tok + "'");
  while (hdr >> tok) {
    const char k = tok[0];
    const std::string v = tok.substr(1);
    if (k == 'W') info.width = std::stoi(v);
    else if (k == 'H') info.height = std::stoi(v);
    else if (k == 'F') {
      const auto colon = v.find(':');
      if (colon == std::string::npos) throw std::runtime_error("y4m: bad F parameter");
      info.fps_num = std::stoi(v.substr(0, colon));
      info.fps_den = std::stoi(v.substr(colon + 1));
    } else if (k == 'C') info.colorspace = v;
    else if (k == 'I') info.interlace = v.empty() ? '?' : v[0];
  }
  if (info.width <= 0 || info.height <= 0) throw std::runtime_error("y4m: missing W/H");
  if (info.fps_num <= 0 || info.fps_den <= 0) throw std::runtime_error("y4m: missing or bad F");
  if (!info.colorspace.empty() && info.colorspace.rfind("420", 0) != 0)
    throw std::runtime_error("y4m: only 4:2:0 is parsed, got C" + info.colorspace);
  const size_t y = size_t(info.width) * info.height;
  const size_t c = size_t((info.width + 1) / 2) * ((info.height + 1) / 2);
  const size_t frame_bytes = y + 2 * c;
  size_t pos = eol + 1;
  while (pos < bytes.size()) {
    const size_t nl = bytes.find('\n', pos);
    if (nl == std::string::npos || bytes.compare(pos, 5, "FRAME") != 0)
      throw std::runtime_error("y4m: expected FRAME marker at byte " + std::to_string(pos));
    pos = nl + 1;
    if (bytes.size() - pos < frame_bytes)
      throw std::runtime_error("y4m: truncated frame " + std::to_string(info.frames));
    info.frame_y.push_back(bytes.substr(pos, y));
    pos += frame_bytes;
    ++info.frames;
  }
  return info;
}

inline Y4mInfo read_y4m(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("y4m: cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_y4m(ss.str());
}

}  // namespace ff::test
