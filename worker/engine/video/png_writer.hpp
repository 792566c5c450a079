// PNG writer for one RGB frame (8-bit truecolour, no interlace, filter 0 on every row).
// IDAT is zlib-compressed when built with zlib (FF_HAVE_ZLIB), else a valid zlib stream of stored
// deflate blocks (no compression). Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace ff::video {

// CRC-32 (ISO-HDLC, as PNG chunks use) of `n` bytes, continuing from `crc` (0 to start).
uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0);
// Adler-32 (as zlib streams use) of `n` bytes, continuing from `adler` (1 to start).
uint32_t adler32(const uint8_t* data, size_t n, uint32_t adler = 1);

// The complete PNG file for interleaved RGB pixels (width*height*3 bytes, row-major).
std::string encode_png_rgb(const uint8_t* rgb, int width, int height);

// Writes encode_png_rgb(...) to `path` atomically; throws std::runtime_error naming the path.
void write_png_rgb(const uint8_t* rgb, int width, int height, const std::string& path);

}  // namespace ff::video
