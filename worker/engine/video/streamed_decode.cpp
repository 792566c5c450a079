#include "worker/engine/video/streamed_decode.hpp"

#include <stdexcept>
#include <string>

#include "worker/engine/runtime/block_pass.hpp"
#include "worker/engine/video/decoder_level_fields.hpp"

namespace ff::video {

namespace rt = ff::engine::rt;

at::Tensor streamed_decode_latent(const DecoderWeights& globals, const DecoderConfig& c, rt::BlockStore& store,
                                  const at::Tensor& latent, int slots, const PassObserver& observer) {
  if (store.size() != static_cast<int>(c.block_out_channels.size()))
    throw std::invalid_argument(store.component() + ": block store holds " + std::to_string(store.size()) +
                                " levels, the config has " + std::to_string(c.block_out_channels.size()));
  // Started first: the first levels' copies overlap the input statistics and conv_in.
  rt::BlockPass pass(store, slots);
  auto x = decoder_input(globals, c, latent);
  for (int i = 0; i < store.size(); ++i) {
    const DecoderLevelWeights w = decoder_level_from(pass.acquire(i));
    x = decoder_level(w, c, static_cast<size_t>(i), x);
    pass.release(i);
  }
  auto frames = decoder_output(globals, c, x);
  const rt::PassTimings t = pass.finish();
  if (observer) observer(t);
  return frames;
}

}  // namespace ff::video
