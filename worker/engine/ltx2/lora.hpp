// LoRA adapters for LTX-2's transformer (e.g. ltx-2.3-22b-distilled-lora-384-1.1.safetensors,
// which the two-stage pipeline applies to the stage-2 transformer).
//
// File layout (ltx-core LTXV_LORA_COMFY_RENAMING_MAP strips "diffusion_model."):
//   diffusion_model.<path>.lora_A.weight  [r, in]
//   diffusion_model.<path>.lora_B.weight  [out, r]
// where <path> names an nn.Linear of LTXModel (e.g. "transformer_blocks.3.attn1.to_q"). No alpha,
// no rank scaling: the delta is strength * B @ A.
//
// Two ways to apply one:
//  - fuse_lora: W <- W + (B * strength) @ A, exactly as ltx-core's bf16 fuse rule: A and B cast to
//    bf16, (B * strength) rounded to bf16, the matmul in bf16 (fp32 accumulation, one rounding, as
//    torch 2.x's CPU and cuBLAS kernels do; written out so libtorch 1.13 gives the same bits), then
//    the add (bf16 accumulator += W, computed in the wider of the two types and rounded to bf16),
//    then cast to W's dtype. Bit-identical to ltx-core's apply_loras (tests/worker/engine/ltx2/test_lora). So
//    an fp32 W comes back bf16-rounded, as in ltx-core. An fp8 W (ltx-core's fp8-cast policy)
//    is upcast to bf16 for the add and the sum cast back to fp8 with round-to-nearest; ltx-core
//    on CUDA with Triton rounds stochastically there instead (not reproduced).
//  - attach_lora_delta: leaves W alone and sets Linear::lora_a/lora_b/lora_scale, so
//    layers::linear computes x W^T + strength (x A^T) B^T (cheaper to switch on and off; not
//    bit-identical to the fused weights).
// Linears are named as ltx2::av_transformer_linears(...) names them: no prefix, no ".weight".
// Every pair must be complete, every target must be one of the given Linears (unless its name
// starts with one of `skip_prefixes`, for modules that live elsewhere), shapes must match;
// errors (std::invalid_argument / io::CheckpointError) name the file and the key.
// Threads: no shared state; the functions modify only the Linears they are given.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/layers/layers.hpp"

namespace ff::ltx2 {

struct LoraFactors {
  at::Tensor a;  // [r, in]   zero-copy CPU views over the file mapping, the file's dtype
  at::Tensor b;  // [out, r]
};

struct Lora {
  std::string path;
  std::map<std::string, LoraFactors> pairs;  // by target Linear name, e.g. "transformer_blocks.0.attn1.to_q"
};

// Opens and checks a LoRA file: every key is "diffusion_model.<path>.lora_{A,B}.weight" with a
// floating dtype, every A has its B and vice versa, ranks agree (A [r, in], B [out, r]).
Lora open_lora(const std::string& path);

using NamedLinears = std::vector<std::pair<std::string, ff::layers::Linear*>>;

struct LoraApply {
  double strength = 1.0;                   // ltx-core DEFAULT_LORA_STRENGTH
  std::vector<std::string> skip_prefixes;  // targets outside `linears` to ignore (default: none)
  // fuse_lora: where the matmul and add run (the result goes back to the weight's device); default
  // the weight's device. attach_lora_delta: ignored (factors go to the weight's device).
  std::optional<at::Device> compute_device;
  // attach_lora_delta: dtype of the stored factors (default: the file's).
  std::optional<at::ScalarType> delta_dtype;
};

// Fuses `lora` into the matching Linears' weights (replacing Linear::weight with a new tensor;
// the old storage is not written). Returns the number of Linears changed. Checks everything
// before changing anything.
size_t fuse_lora(const Lora& lora, const NamedLinears& linears, const LoraApply& how = {});

// Attaches `lora` as an unfused delta to the matching Linears (refuses a Linear that already
// carries one). Returns the number of Linears changed.
size_t attach_lora_delta(const Lora& lora, const NamedLinears& linears, const LoraApply& how = {});

// Removes any attached delta from `linears`.
void detach_lora_delta(const NamedLinears& linears);

// Bytes of the LoRA's factors as stored in the file (what attaching keeps resident, in the
// file's dtype).
int64_t lora_bytes(const Lora& lora);

// The fused weight for one Linear, as fuse_lora computes it (exposed for tests and for callers
// that fuse block by block): returns (W + (B*strength)@A) per ltx-core's rule, on W's device and
// in W's dtype; computes on `compute_device` when given.
at::Tensor fused_weight(const at::Tensor& weight, const at::Tensor& a, const at::Tensor& b, double strength,
                        std::optional<at::Device> compute_device = std::nullopt);

}  // namespace ff::ltx2
