// Supervisor logging: one line per event on stderr ("2026-11-29T15:40:01.123Z worker INFO ...").
// Thread-safe (each line is written with one write(2)).
#pragma once

#include <string_view>

namespace ff::worker {

void log_info(std::string_view line);
void log_warn(std::string_view line);
void log_error(std::string_view line);

}  // namespace ff::worker
