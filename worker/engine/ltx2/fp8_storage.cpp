#include "worker/engine/ltx2/fp8_storage.hpp"

#include <stdexcept>

#include "worker/engine/runtime/torch_version.hpp"

namespace ff::ltx2 {

bool fp8_weights_supported() {
#if FF_TORCH_AT_LEAST(2, 1)
  return true;
#else
  return false;
#endif
}

void require_fp8_weights() {
  if (!fp8_weights_supported())
    throw std::runtime_error("fp8 weights need libtorch >= 2.1 (float8_e4m3fn); this build has libtorch " +
                             std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR));
}

bool is_fp8_cast_linear(const std::string& name) {
  if (name.find("transformer_blocks.") == std::string::npos) return false;
  for (const char* s : {".to_q", ".to_k", ".to_v", ".to_out.0", "ff.net.0.proj", "ff.net.2"})
    if (name.ends_with(s)) return true;
  return false;
}

size_t cast_linears_to_fp8(const std::vector<std::pair<std::string, ff::layers::Linear*>>& linears) {
  require_fp8_weights();
  size_t n = 0;
#if FF_TORCH_AT_LEAST(2, 1)
  for (const auto& [name, l] : linears) {
    if (!is_fp8_cast_linear(name)) continue;
    if (l->weight.defined()) l->weight = l->weight.to(at::kFloat8_e4m3fn);
    if (l->bias.defined()) l->bias = l->bias.to(at::kFloat8_e4m3fn);
    ++n;
  }
#else
  (void)linears;
#endif
  return n;
}

}  // namespace ff::ltx2
