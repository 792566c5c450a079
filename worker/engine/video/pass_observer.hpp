// The callback a streamed component calls after each rt::BlockPass with that pass's copy figures.
#pragma once

#include <functional>

#include "worker/engine/runtime/stream_ops.hpp"

namespace ff::video {

// Called on the computing thread after every pass (may be empty: nobody listens).
using PassObserver = std::function<void(const ff::engine::rt::PassTimings&)>;

}  // namespace ff::video
