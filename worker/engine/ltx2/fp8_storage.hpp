// FP8 weight storage for LTX-2's transformer, as ltx-core's "fp8-cast" quantization policy
// (quantization/fp8_cast.py) does it: the chosen Linears keep their weight AND bias as
// float8_e4m3fn, converted with a plain dtype cast (round to nearest even, no scale; values past
// the e4m3fn range become NaN as in torch's .to()); at compute time each is cast back to the
// activation dtype (layers::linear casts per call) and the matmul runs there. No per-tensor or
// per-channel scaling.
//
// Which Linears: names containing "transformer_blocks." and ending in ".to_q", ".to_k", ".to_v",
// ".to_out.0", "ff.net.0.proj" or "ff.net.2" -- every attention projection of the six attentions
// and both feed-forwards (video and audio) of every block; NOT to_gate_logits, and nothing
// outside the blocks (patchify, AdaLN, proj_out stay in their dtype).
// Order with a LoRA: ltx-core downcasts at load and fuses the LoRA afterwards into the fp8
// weight (fuse_lora handles fp8 weights), so call cast_linears_to_fp8 first, then fuse_lora.
//
// Needs libtorch >= 2.1 (float8 types). Built against an older libtorch (Debian's 1.13), the
// functions below throw std::runtime_error "fp8 weights need libtorch >= 2.1 ..." so a config
// asking for fp8 fails when it is read.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "worker/engine/layers/layers.hpp"

namespace ff::ltx2 {

// Whether this build has float8 types.
bool fp8_weights_supported();
// Throws the "fp8 weights need libtorch >= 2.1" error when !fp8_weights_supported(); for config
// validation.
void require_fp8_weights();

// ltx-core's selection rule for one Linear name (no prefix, no ".weight").
bool is_fp8_cast_linear(const std::string& name);

// Casts weight (and bias, when defined) of every selected Linear in `linears` to float8_e4m3fn
// in place of the old tensors (their storage is not written); others are left alone. Returns how
// many were cast. Throws (see above) without float8 support.
size_t cast_linears_to_fp8(const std::vector<std::pair<std::string, ff::layers::Linear*>>& linears);

}  // namespace ff::ltx2
