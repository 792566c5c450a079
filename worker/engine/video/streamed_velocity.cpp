#include "worker/engine/video/streamed_velocity.hpp"

#include <memory>
#include <stdexcept>
#include <string>

#include "worker/engine/runtime/block_pass.hpp"
#include "worker/engine/video/transformer_block_fields.hpp"

namespace ff::video {

namespace rt = ff::engine::rt;

VelocityFn streamed_velocity(const TransformerConfig& config, const TransformerGlobals& globals,
                             rt::BlockStore& store, const LatentGrid& grid, int slots,
                             PassObserver observer) {
  if (store.size() != config.num_layers)
    throw std::invalid_argument(store.component() + ": block store holds " + std::to_string(store.size()) +
                                " blocks, the config has " + std::to_string(config.num_layers) + " layers");
  const auto dtype = globals.patchify_proj.weight.scalar_type();
  const auto device = globals.patchify_proj.weight.device();
  auto rope = std::make_shared<RopeTables>(rope_tables(config, grid, device, dtype));
  return [&config, &globals, &store, grid, rope, dtype, device, slots, observer](
             const at::Tensor& latent, double sigma, const at::Tensor& context) {
    const auto& c = config;
    if (context.dim() != 3 || context.size(2) != c.cross_attention_dim)
      throw std::invalid_argument("streamed velocity: context must be [B, T, " +
                                  std::to_string(c.cross_attention_dim) + "]");
    // Started first: the first blocks' copies overlap the host-side preparation below.
    rt::BlockPass pass(store, slots);
    auto tokens = patchify(latent, c.patch_size_t, c.patch_size).to(device, dtype);
    auto sig = at::full({latent.size(0)}, sigma, at::TensorOptions().dtype(at::kFloat).device(device));
    auto ctx = context.to(device);
    auto mod = timestep_modulation(globals, c, sig);
    auto x = embed_patches(globals, tokens);
    for (int i = 0; i < store.size(); ++i) {
      const TransformerBlockWeights w = transformer_block_from(pass.acquire(i));
      x = block_forward(w, c, x, ctx, mod, *rope);
      pass.release(i);
    }
    auto out = project_out(globals, c, x, mod);
    const rt::PassTimings t = pass.finish();
    if (observer) observer(t);
    return unpatchify(out.to(at::kFloat), c.in_channels, grid, c.patch_size_t, c.patch_size)
        .to(latent.device());
  };
}

}  // namespace ff::video
