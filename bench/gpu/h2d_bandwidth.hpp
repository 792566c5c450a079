// Pinned host -> device copy bandwidth, measured on the same slab and device the pipeline streams
// from (the "copy floor" of a streamed pass is its streamed bytes over this).
#pragma once

#include "worker/engine/runtime/block_store.hpp"

namespace ff::bench {

// Copies the store's first blocks (up to ~2 GiB) to the device `repeats` times; bytes per second.
double measure_h2d_bandwidth(engine::rt::BlockStore& store, int repeats);

}  // namespace ff::bench
