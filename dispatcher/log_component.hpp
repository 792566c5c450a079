// The component name of every dispatcher log line (log::info(kLog, ...), common/log.hpp).
#pragma once

namespace ff::dispatcher {

inline constexpr const char* kLog = "dispatcher";

}  // namespace ff::dispatcher
