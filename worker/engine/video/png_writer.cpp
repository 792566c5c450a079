#include "worker/engine/video/png_writer.hpp"

#include <array>
#include <stdexcept>
#include <vector>

#ifdef FF_HAVE_ZLIB
#include <zlib.h>
#endif

#include "worker/engine/video/file_output.hpp"

namespace ff::video {
namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  return table;
}

void put_u32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  put_u32(out, crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951, BTYPE=00).
[[maybe_unused]] std::string zlib_stored(const std::vector<uint8_t>& raw) {
  std::string z;
  z.push_back(0x78);  // CMF: deflate, 32K window
  z.push_back(0x01);  // FLG: no dict, fastest; (0x78 * 256 + 0x01) % 31 == 0
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<char>(n & 0xFF));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 0xFF));
    z.push_back(static_cast<char>((~n >> 8) & 0xFF));
    z.append(reinterpret_cast<const char*>(raw.data()) + pos, n);
    pos += n;
  } while (pos < raw.size());
  put_u32(z, adler32(raw.data(), raw.size()));
  return z;
}

std::string zlib_stream(const std::vector<uint8_t>& raw) {
#ifdef FF_HAVE_ZLIB
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::string z(len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &len, raw.data(), static_cast<uLong>(raw.size()),
                6) != Z_OK)
    throw std::runtime_error("png: zlib compress2 failed");
  z.resize(len);
  return z;
#else
  return zlib_stored(raw);
#endif
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc) {
  const auto& t = crc_table();
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = t[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t adler32(const uint8_t* data, size_t n, uint32_t adler) {
  uint32_t a = adler & 0xFFFF, b = adler >> 16;
  for (size_t i = 0; i < n; ++i) {
    a = (a + data[i]) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

std::string encode_png_rgb(const uint8_t* rgb, int width, int height) {
  if (width <= 0 || height <= 0) throw std::invalid_argument("png: empty image");
  const size_t row = static_cast<size_t>(width) * 3;
  std::vector<uint8_t> raw;
  raw.reserve((row + 1) * height);
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), rgb + y * row, rgb + (y + 1) * row);
  }
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put_u32(ihdr, static_cast<uint32_t>(width));
  put_u32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // depth 8, RGB, deflate, filter 0, no interlace
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", zlib_stream(raw));
  put_chunk(png, "IEND", "");
  return png;
}

void write_png_rgb(const uint8_t* rgb, int width, int height, const std::string& path) {
  write_file_atomically(path, encode_png_rgb(rgb, width, height));
}

}  // namespace ff::video
