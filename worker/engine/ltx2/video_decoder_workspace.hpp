// The video decoder's memory-lean building blocks (used by video_decoder.cpp): a time-padded
// workspace, 3x3x3 convolutions over it in temporal chunks (in place or into a new tensor),
// in-place pixel norm + SiLU, depth-to-space into a chosen memory format.
//
// Workspace: [B, C, T + 2, H, W]; frames 1..T hold the data ("interior"), frames 0 and T + 1 the
// replicate padding of the first and last frame (the decoder's non-causal time padding). Space is
// zero-padded by the convolution itself (padding {0, 1, 1}). Every function computes in the
// tensors' dtype with the same ops as the textbook forward (see video_decoder.hpp). Any thread;
// the caller's stream orders the chunk writes after the reads that need the old values.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/video_decoder.hpp"

namespace ff::ltx2::vdws {

// The activations' layout for `x` under `m` (channels-last 3-D on CUDA by default).
at::MemoryFormat format_for(const at::Tensor& x, const VideoDecoderMemory& m);

// Whether `x` is the only reference to its storage (then it may be overwritten).
bool exclusively_owned(const at::Tensor& x);

// Frames per chunk so that a chunk of `channels` x H x W frames stays within m.chunk_bytes.
int64_t chunk_frames(const at::Tensor& like, int64_t channels, const VideoDecoderMemory& m);

// A new workspace in `fmt` with `x` [B, C, T, H, W] copied into its interior and padded.
at::Tensor padded_workspace(const at::Tensor& x, at::MemoryFormat fmt);
// Re-writes the two padding frames from the interior's edge frames.
void pad_edges(at::Tensor& ws);
// The interior view [B, C, T, H, W].
inline at::Tensor interior(const at::Tensor& ws) { return ws.narrow(2, 1, ws.size(2) - 2); }

// PixelNorm over channels (eps) then SiLU, in place on `x` (any view), `frames` at a time.
void norm_silu_(const at::Tensor& x, double eps, int64_t frames);

// conv(weight [C, C, 3, 3, 3], bias) of the padded interior, written back into the interior.
// Pads first. Two chunk outputs are alive at a time.
void conv_in_place(at::Tensor& ws, const at::Tensor& weight, const at::Tensor& bias, const VideoDecoderMemory& m);
// conv(weight [Co, C, 3, 3, 3], bias) of the padded interior into a new [B, Co, T, H, W] in the
// workspace's format. Pads first.
at::Tensor conv_to_new(at::Tensor& ws, const at::Tensor& weight, const at::Tensor& bias, const VideoDecoderMemory& m);

// "b (c p1 p2 p3) d h w -> b c (d p1) (h p2) (w p3)" (p1 = t, p2 = p3 = s) written once into a
// new tensor in `fmt`.
at::Tensor depth_to_space(const at::Tensor& x, int64_t t, int64_t s, at::MemoryFormat fmt);

}  // namespace ff::ltx2::vdws
