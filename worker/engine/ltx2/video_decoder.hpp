// LTX-2.3's video VAE decoder (ltx-core ConvVideoDecoder, non-causal, unconditioned):
//   x = latent * std-of-means + mean-of-means          (per channel, in the weights' dtype)
//   x = conv_in(x)                                       latent -> bottleneck channels
//   per block, in execution order:
//     res_x:      num_layers x [x + conv2(silu(pn(conv1(silu(pn(x))))))]
//     compress_*: depth-to-space of conv(x), "b (c p1 p2 p3) d h w -> b c (d p1) (h p2) (w p3)",
//                 dropping the first frame when the time stride is 2
//   frames = unpatchify(conv_out(silu(pn(x))))           "b (c r q) f h w -> b c f (h q) (w r)"
// pn = PixelNorm over channels, eps 1e-8. Every conv is 3x3x3, stride 1: time padded by
// replicating the edge frames, space zero-padded (layers::conv3d_same). Latent [B, C, F, H, W]
// gives [B, 3, 1 + (F-1)*t, H*s, W*s] with VideoDecoderConfig::scale() = {t, s, s}.
//
// Memory (video_decoder.cpp): every conv runs on a workspace [B, C, T + 2, H, W] whose first and
// last frames hold the replicate padding, in temporal chunks of about VideoDecoderMemory::chunk_bytes
// of output; a resnet's norm, SiLU and both convs work in place in one workspace (a chunk's
// output is written back once the next chunk has read its input), and the residual sum goes into
// the block's input when the caller handed it over (std::move, no other reference to its
// storage). A resnet stage then holds its input, the workspace and two chunk outputs (~2.1x its
// activation, against ~5x for the textbook form); an upsampler its padded input and the conv
// output, then the conv output and the depth-to-space copy. On CUDA the activations are
// channels-last (cuDNN's NDHWC kernels; conv weights are converted per call, a no-op when they
// already are). Every op and rounding point is the textbook form's (pixel norm as x / sqrt(mean(x^2)
// + eps), SiLU, conv, residual add, in the compute dtype), so results agree with it up to the conv
// algorithm's summation order.
//
// Dtypes (as ltx-core): compute in the weights' dtype; the forward returns the latent's dtype;
// frames and tiling buffers are in the latent's dtype. The pipeline passes a bf16 latent and bf16
// weights. Functions are stateless, run on the weights' device (the latent is moved there), any
// thread; inputs are not modified (a block's input given by value with its only reference may be
// reused as the output's storage).
#pragma once

#include <functional>
#include <optional>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/video_decoder_config.hpp"
#include "worker/engine/ltx2/video_decoder_weights.hpp"
#include "worker/engine/ltx2/video_tiling.hpp"

namespace ff::ltx2 {

// How a forward trades memory for speed. Defaults are what the pipeline uses.
struct VideoDecoderMemory {
  int channels_last = -1;                  // -1: on CUDA only; 0: never; 1: always
  int64_t chunk_bytes = int64_t{128} << 20;  // conv output per temporal chunk (>= 1 frame); 0: whole
};

// The stages of one forward, so blocks may come from anywhere (resident or a streamed slot).
// Statistics + conv_in: latent [B, C, F, H, W] -> [B, bottleneck, F, H, W] in the weights' dtype.
at::Tensor video_decoder_input(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                               const VideoDecoderMemory& m = {});
// Block `i` of `c` with its weights `bw` (only `bw` is read). Pass `x` with std::move to let a
// res_x block add into it (saves one activation); a shared `x` is left unchanged.
at::Tensor video_decoder_block(const VideoDecoderBlockWeights& bw, const VideoDecoderConfig& c, size_t i, at::Tensor x,
                               const VideoDecoderMemory& m = {});
// PixelNorm, SiLU, conv_out, unpatchify: -> [B, out_channels, F, H*p, W*p] cast to `out_dtype`.
// `x` as in video_decoder_block (released as soon as it is copied into the workspace when owned).
at::Tensor video_decoder_output(const VideoDecoderWeights& w, const VideoDecoderConfig& c, at::Tensor x,
                                at::ScalarType out_dtype, const VideoDecoderMemory& m = {});

// The whole forward (ConvVideoDecoder.forward): [B, 3, F', H', W'] in [-1, 1]-ish, latent's dtype.
at::Tensor video_decoder_forward(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 const VideoDecoderMemory& m = {});

// ltx-core decode_video's mapping of one decoded chunk: batch 0 only, [B, 3, f, H, W] ->
// [f, H, W, 3] contiguous, (x + 1) * 0.5 clamped to [0, 1], same dtype and device.
at::Tensor decoded_to_frames(const at::Tensor& decoded);

// The reference's RGB24 output path: clamp to [0, 1], * 255 in the frames' dtype, truncate to
// uint8. Same layout ([..., 3] stays [..., 3]) and device.
at::Tensor frames_to_uint8(const at::Tensor& frames);

// decode_video: frames [F', H', W', 3] in [0, 1] (latent's dtype, weights' device) for batch 0.
// `tiling` nullopt decodes the whole latent at once; otherwise tiles as ltx-core's tiled_decode
// (see video_tiling.hpp), whose result differs from the untiled one by design.
at::Tensor decode_video_latent(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                               const std::optional<VideoTilingConfig>& tiling);

// The same, delivered chunk by chunk in frame order ([f, H', W', 3] each, possibly f = 0) as the
// reference yields them; only the current temporal group's buffers are alive at once.
void decode_video_latent_chunks(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                                const std::optional<VideoTilingConfig>& tiling,
                                const std::function<void(const at::Tensor& frames)>& on_frames);

// What the lead calls for a final latent: uint8 RGB frames [F', H', W', 3] on the CPU, converted
// chunk by chunk (the values of frames_to_uint8(decoded_to_frames(chunk)), computed in place on
// the chunk, which the decode owns) into one preallocated host tensor, so the device holds at
// most one temporal group of frames and no full-size float temporaries. Latent [1, C, F, H, W] in the decode dtype (bf16 in the pipeline).
at::Tensor decode_video_to_uint8(const VideoDecoderWeights& w, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 const std::optional<VideoTilingConfig>& tiling, const VideoDecoderMemory& m = {});

// The same with the forward supplied (e.g. a pass that streams the blocks): `forward` maps a
// latent (or a tile of it) on `device` to what video_decoder_forward would return for it.
at::Tensor decode_video_to_uint8(const TileDecodeFn& forward, const VideoDecoderConfig& c, const at::Tensor& latent,
                                 at::Device device, const std::optional<VideoTilingConfig>& tiling);

}  // namespace ff::ltx2
