// Atomic file output for the writers. Torch-free.
#pragma once

#include <string>
#include <string_view>

namespace ff::video {

// Writes `bytes` to "<path>.tmp", flushes, and renames it to `path`; creates missing parent
// directories. Throws std::runtime_error naming the path and the OS error on failure (the
// temporary file is removed).
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace ff::video
