#include "bench/gpu/h2d_bandwidth.hpp"

#include <chrono>

namespace ff::bench {

double measure_h2d_bandwidth(engine::rt::BlockStore& store, int repeats) {
  auto& be = store.backend();
  int nb = 0;
  int64_t bytes = 0;
  while (nb < store.size() && bytes < (2ll << 30)) bytes += store.block_bytes(nb++);
  at::Tensor dst = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(be.device()));
  auto once = [&] {
    int64_t off = 0;
    for (int i = 0; i < nb; ++i) {
      const int64_t n = store.block_bytes(i);
      at::Tensor src = at::from_blob(const_cast<uint8_t*>(store.host_data(i)), {n}, at::TensorOptions().dtype(at::kByte));
      dst.narrow(0, off, n).copy_(src, /*non_blocking=*/true);
      off += n;
    }
  };
  once();
  be.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) once();
  be.synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(bytes) * repeats / s;
}

}  // namespace ff::bench
