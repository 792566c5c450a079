// The pre-fix video decode path (see legacy_video_decode.cpp), for before/after measurements in
// `ops/bench decode` only. Same contracts as ltx2::video_decoder_forward / decode_video_to_uint8.
#pragma once

#include <optional>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/video_decoder.hpp"

namespace ff::bench::legacy {

at::Tensor forward(const ltx2::VideoDecoderWeights& w, const ltx2::VideoDecoderConfig& c, const at::Tensor& latent);
at::Tensor decode_to_uint8(const ltx2::VideoDecoderWeights& w, const ltx2::VideoDecoderConfig& c,
                           const at::Tensor& latent, const std::optional<ltx2::VideoTilingConfig>& tiling);

}  // namespace ff::bench::legacy
