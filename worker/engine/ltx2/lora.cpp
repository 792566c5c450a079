#include "worker/engine/ltx2/lora.hpp"

#include <stdexcept>

#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/runtime/torch_version.hpp"

namespace ff::ltx2 {
namespace {

constexpr const char* kPrefix = "diffusion_model.";
constexpr const char* kSuffixA = ".lora_A.weight";
constexpr const char* kSuffixB = ".lora_B.weight";

bool is_fp8(at::ScalarType t) {
#if FF_TORCH_AT_LEAST(2, 1)
  return t == at::kFloat8_e4m3fn || t == at::kFloat8_e5m2;
#else
  (void)t;
  return false;
#endif
}

std::string key_of(const std::string& target, bool a) { return kPrefix + target + (a ? kSuffixA : kSuffixB); }

// One Linear to change, checked.
struct Match {
  const std::string* name;
  ff::layers::Linear* linear;
  const LoraFactors* factors;
};

std::vector<Match> match(const Lora& lora, const NamedLinears& linears, const LoraApply& how) {
  std::map<std::string, ff::layers::Linear*> by_name;
  for (const auto& [name, l] : linears) by_name[name] = l;
  std::vector<Match> out;
  for (const auto& [target, f] : lora.pairs) {
    auto it = by_name.find(target);
    if (it == by_name.end()) {
      bool skipped = false;
      for (const auto& p : how.skip_prefixes) skipped = skipped || target.rfind(p, 0) == 0;
      if (skipped) continue;
      throw std::invalid_argument(lora.path + ": LoRA key '" + key_of(target, true) +
                                  "' targets '" + target + "', which is not a Linear of this model");
    }
    const at::Tensor& w = it->second->weight;
    if (!w.defined() || w.dim() != 2)
      throw std::invalid_argument(lora.path + ": LoRA target '" + target + "' has no 2-D weight loaded");
    if (f.a.size(1) != w.size(1) || f.b.size(0) != w.size(0))
      throw std::invalid_argument(lora.path + ": LoRA key '" + key_of(target, true) + "' " +
                                  io::shape_string(f.a.sizes()) + " / '" + key_of(target, false) + "' " +
                                  io::shape_string(f.b.sizes()) + " do not fit the weight " +
                                  io::shape_string(w.sizes()) + " of '" + target + "'");
    out.push_back({&target, it->second, &f});
  }
  return out;
}

}  // namespace

Lora open_lora(const std::string& path) {
  const auto file = io::SafetensorsFile::open(path);
  Lora lora;
  lora.path = path;
  for (const auto& t : file->tensors()) {
    const bool a = t.name.ends_with(kSuffixA), b = t.name.ends_with(kSuffixB);
    if (t.name.rfind(kPrefix, 0) != 0 || !(a || b))
      throw io::CheckpointError(path + ": key '" + t.name +
                                "' is not a LoRA factor (expected diffusion_model.<module>.lora_{A,B}.weight)");
    const std::string target =
        t.name.substr(std::string(kPrefix).size(), t.name.size() - std::string(kPrefix).size() - std::string(kSuffixA).size());
    if (t.scalar_type != at::kFloat && t.scalar_type != at::kBFloat16 && t.scalar_type != at::kHalf)
      throw io::CheckpointError(path + ": key '" + t.name + "' has dtype " + t.dtype + ", expected F32, BF16 or F16");
    if (t.shape.size() != 2)
      throw io::CheckpointError(path + ": key '" + t.name + "' has shape " + io::shape_string(t.shape) +
                                ", expected 2-D");
    auto& f = lora.pairs[target];
    (a ? f.a : f.b) = file->view(t.name);
  }
  for (const auto& [target, f] : lora.pairs) {
    if (!f.a.defined() || !f.b.defined())
      throw io::CheckpointError(path + ": key '" + key_of(target, !f.a.defined()) + "' is missing (its pair '" +
                                key_of(target, f.a.defined()) + "' is present)");
    if (f.a.size(0) != f.b.size(1))
      throw io::CheckpointError(path + ": ranks differ: '" + key_of(target, true) + "' " + io::shape_string(f.a.sizes()) +
                                " vs '" + key_of(target, false) + "' " + io::shape_string(f.b.sizes()));
  }
  if (lora.pairs.empty()) throw io::CheckpointError(path + ": no LoRA factors in the file");
  return lora;
}

at::Tensor fused_weight(const at::Tensor& weight, const at::Tensor& a, const at::Tensor& b, double strength,
                        std::optional<at::Device> compute_device) {
  const at::Device dev = compute_device.value_or(weight.device());
  const auto bf16 = at::TensorOptions().device(dev).dtype(at::kBFloat16);
  // ltx-core: aggregated = matmul(B * strength, A) with A, B in the bf16 aggregation dtype.
  // torch 2.x computes B * strength in fp32 (the scalar as float) and rounds to bf16 once;
  // libtorch 1.13 rounds the scalar to bf16 first, so the product is written out in fp32. Its bf16
  // matmul (CPU and cuBLAS) accumulates in fp32 and rounds once; written out the same way here
  // (bf16 x bf16 products are exact in fp32), so the result does not depend on the libtorch.
  const at::Tensor b_scaled = (b.to(dev).to(at::kFloat) * strength).to(at::kBFloat16);
  at::Tensor delta = at::matmul(b_scaled.to(at::kFloat), a.to(bf16).to(at::kFloat)).to(at::kBFloat16);
  const at::Tensor w = weight.to(dev);
  // bf16 accumulator += W (fp8 weights are upcast to bf16 first), then back to W's dtype.
  delta.add_(is_fp8(w.scalar_type()) ? w.to(at::kBFloat16) : w);
  return delta.to(weight.device(), weight.scalar_type());
}

size_t fuse_lora(const Lora& lora, const NamedLinears& linears, const LoraApply& how) {
  const auto matches = match(lora, linears, how);
  for (const auto& m : matches)
    m.linear->weight = fused_weight(m.linear->weight, m.factors->a, m.factors->b, how.strength, how.compute_device);
  return matches.size();
}

size_t attach_lora_delta(const Lora& lora, const NamedLinears& linears, const LoraApply& how) {
  const auto matches = match(lora, linears, how);
  for (const auto& m : matches)
    if (m.linear->lora_a.defined())
      throw std::invalid_argument(lora.path + ": Linear '" + *m.name + "' already carries a LoRA delta");
  for (const auto& m : matches) {
    const at::Device dev = m.linear->weight.device();
    const at::ScalarType t = how.delta_dtype.value_or(m.factors->a.scalar_type());
    m.linear->lora_a = m.factors->a.to(dev, t).contiguous();
    m.linear->lora_b = m.factors->b.to(dev, t).contiguous();
    m.linear->lora_scale = how.strength;
  }
  return matches.size();
}

void detach_lora_delta(const NamedLinears& linears) {
  for (const auto& [name, l] : linears) {
    l->lora_a = at::Tensor();
    l->lora_b = at::Tensor();
    l->lora_scale = 0.0;
  }
}

int64_t lora_bytes(const Lora& lora) {
  int64_t n = 0;
  for (const auto& [target, f] : lora.pairs) n += static_cast<int64_t>(f.a.nbytes() + f.b.nbytes());
  return n;
}

}  // namespace ff::ltx2
