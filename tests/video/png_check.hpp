// Test helper: checks a PNG file's structure (signature, chunk CRCs, IHDR, IDAT zlib header and
// Adler-32 when stored) with an independent bitwise CRC. Header-only, torch-free.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ff::test {

struct PngInfo {
  uint32_t width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  std::string idat;  // concatenated IDAT payloads (a zlib stream)
  std::vector<std::string> chunk_types;
};

inline uint32_t bitwise_crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

inline uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

// Throws std::runtime_error on the first violation.
inline PngInfo check_png(const std::string& png) {
  if (png.size() < 8 || png.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0)
    throw std::runtime_error("png: bad signature");
  PngInfo info;
  size_t pos = 8;
  while (pos < png.size()) {
    if (png.size() - pos < 12) throw std::runtime_error("png: truncated chunk");
    const uint32_t len = be32(png, pos);
    if (png.size() - pos - 12 < len) throw std::runtime_error("png: chunk overruns file");
    const std::string type = png.substr(pos + 4, 4);
    const std::string data = png.substr(pos + 8, len);
    if (bitwise_crc32(type + data) != be32(png, pos + 8 + len))
      throw std::runtime_error("png: bad CRC in " + type);
    info.chunk_types.push_back(type);
    if (type == "IHDR") {
      if (len != 13) throw std::runtime_error("png: IHDR length");
      info.width = be32(data, 0);
      info.height = be32(data, 4);
      info.bit_depth = uint8_t(data[8]);
      info.color_type = uint8_t(data[9]);
      info.interlace = uint8_t(data[12]);
    } else if (type == "IDAT") {
      info.idat += data;
    }
    pos += 12 + len;
  }
  if (info.chunk_types.empty() || info.chunk_types.front() != "IHDR") throw std::runtime_error("png: IHDR not first");
  if (info.chunk_types.back() != "IEND") throw std::runtime_error("png: IEND not last");
  if (info.idat.size() < 6) throw std::runtime_error("png: no IDAT");
  const unsigned cmf = uint8_t(info.idat[0]), flg = uint8_t(info.idat[1]);
  if ((cmf & 0x0F) != 8 || (cmf * 256 + flg) % 31 != 0) throw std::runtime_error("png: bad zlib header");
  return info;
}

}  // namespace ff::test
