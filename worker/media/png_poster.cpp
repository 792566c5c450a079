#include "worker/media/png_poster.hpp"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <png.h>

#include "worker/media/part_file.hpp"

namespace ff::media {
namespace {

// libpng reports errors through a callback that must not return: it records the message and
// longjmps back into encode_png(), which holds no C++ objects across setjmp.
struct PngError {
  char message[256];
};

extern "C" void on_png_error(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof e->message, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}
extern "C" void on_png_warning(png_structp, png_const_charp) {}

// Returns true on success; on failure `err->message` says why. Plain C: safe with longjmp.
bool encode_png(std::FILE* f, const uint8_t* rgb, int width, int height, PngError* err) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(err->message, sizeof err->message, "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(err->message, sizeof err->message, "png_create_info_struct failed");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t row = static_cast<size_t>(width) * 3;
  for (int r = 0; r < height; ++r) png_write_row(png, const_cast<png_bytep>(rgb + row * r));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

void write_png_poster(const std::string& path, std::span<const uint8_t> rgb, int width, int height) {
  if (width <= 0 || height <= 0 || rgb.size() != static_cast<size_t>(width) * height * 3)
    throw MediaError("png: " + path + ": " + std::to_string(rgb.size()) + " bytes for a " +
                     std::to_string(width) + "x" + std::to_string(height) + " RGB frame");
  PartFile part(path);
  std::FILE* f = std::fopen(part.path().c_str(), "wb");
  if (!f) throw MediaError("png: create " + part.path() + ": " + std::strerror(errno));
  PngError err{};
  const bool ok = encode_png(f, rgb.data(), width, height, &err);
  const bool flushed = std::fflush(f) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok) throw MediaError("png: write " + path + ": " + err.message);
  if (!flushed || !closed) throw MediaError("png: write " + path + ": " + std::strerror(errno));
  part.commit();
}

}  // namespace ff::media
