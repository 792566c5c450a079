// The poster of a job: its first frame as an 8-bit RGB PNG, written through libpng under a part
// name and renamed into place (part_file.hpp). Replaces the engine's hand-written PNG encoder for
// the poster. Thread-safe (no shared state; libpng state is per call).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace ff::media {

// Writes `rgb` (width*height*3 bytes, row-major, top row first) to `path`. Throws MediaError
// naming the step ("png: create <part>: ...", "png: write: ..."); nothing stays on failure.
void write_png_poster(const std::string& path, std::span<const uint8_t> rgb, int width, int height);

}  // namespace ff::media
