// Host slab + resident prefix + slot ring on the CPU backend: every placement hands compute the
// same bytes, the slab is one 256-B aligned allocation, and byte accounting sees ring and
// resident blocks (and refuses them over the cap).
#include "tests/worker/engine/doctest_torch.hpp"

#include "worker/engine/runtime/block_pass.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/component_stats.hpp"
#include "worker/engine/runtime/device_backend.hpp"

// torch (glog) defines CHECK too: doctest's must win, so it comes last.

using namespace ff::engine::rt;

namespace {

std::vector<BlockTensors> random_blocks(int n) {
  std::vector<BlockTensors> out;
  for (int i = 0; i < n; ++i) {
    BlockTensors b;
    b.add("w", at::randn({17 + i, 9}).to(at::kBFloat16));
    b.add("norm", at::randn({9}));
    b.add("idx", at::arange(5 + i, at::kLong));
    out.push_back(std::move(b));
  }
  return out;
}

std::unique_ptr<BlockStore> make_store(DeviceBackend& be, const std::vector<BlockTensors>& blocks) {
  std::vector<BlockLayout> layouts;
  for (const auto& b : blocks) layouts.push_back(BlockLayout::of(b));
  auto store = std::make_unique<BlockStore>("test", be, layouts);
  for (int i = 0; i < static_cast<int>(blocks.size()); ++i) store->fill(i, blocks[i]);
  return store;
}

}  // namespace

TEST_CASE("layout aligns every tensor to 256 bytes and round-trips through the slab") {
  auto blocks = random_blocks(3);
  auto layout = BlockLayout::of(blocks[0]);
  for (const auto& s : layout.specs()) CHECK(s.offset_bytes % 256 == 0);
  CHECK(layout.bytes() % 256 == 0);
  CHECK(layout.specs()[0].nbytes == 17 * 9 * 2);
  auto be = make_cpu_backend(1ll << 30);
  auto store = make_store(*be, blocks);
  for (int i = 0; i < 3; ++i) {
    CHECK(reinterpret_cast<uintptr_t>(store->host_data(i)) % 256 == 0);
    auto v = store->host_views(i);
    for (const auto& [name, t] : blocks[i].items()) CHECK(at::equal(v.get(name), t));
  }
  CHECK_THROWS_AS(store->host_views(0).get("nope"), std::out_of_range);
  BlockTensors wrong;
  wrong.add("w", at::zeros({3, 3}));
  CHECK_THROWS_AS(store->fill(0, wrong), std::invalid_argument);
}

TEST_CASE("streamed, partly resident and resident passes give identical bytes") {
  const int n = 7;
  auto blocks = random_blocks(n);
  auto be = make_cpu_backend(1ll << 30);
  auto store = make_store(*be, blocks);
  for (int prefix : {0, 1, 4, n}) {
    store->set_resident_prefix(prefix);
    CHECK(store->resident_prefix() == prefix);
    BlockPass pass(*store, 3);
    for (int i = 0; i < n; ++i) {
      const BlockTensors& w = pass.acquire(i);
      for (const auto& [name, t] : blocks[i].items()) CHECK(at::equal(w.get(name), t));
      pass.release(i);
    }
    PassTimings t = pass.finish();
    int64_t streamed = 0;
    for (int i = prefix; i < n; ++i) streamed += store->block_bytes(i);
    CHECK(t.copied_bytes == streamed);
    CHECK(pass.ring_bytes() == (prefix < n ? 3 * store->block_bytes(n - 1) : 0));
  }
}

TEST_CASE("byte accounting charges resident blocks and the ring, the cap refuses more") {
  const int n = 5;
  auto blocks = random_blocks(n);
  auto be = make_cpu_backend(1ll << 30);
  auto store = make_store(*be, blocks);
  MemoryMeter& m = be->meter();
  m.reset_peak();
  store->set_resident_prefix(2);
  CHECK(m.snapshot().allocated_bytes == store->block_bytes(0) + store->block_bytes(1));
  {
    BlockPass pass(*store, 3);
    CHECK(m.snapshot().allocated_bytes == store->resident_bytes() + pass.ring_bytes());
  }
  CHECK(m.peak_bytes() == store->resident_bytes() + 3 * store->block_bytes(n - 1));
  CHECK(m.snapshot().allocated_bytes == store->resident_bytes());
  store->set_resident_prefix(0);
  CHECK(m.snapshot().allocated_bytes == 0);

  be->cap_allocations(store->block_bytes(0) + store->block_bytes(1) + 10);
  CHECK_THROWS_AS(store->set_resident_prefix(3), OutOfMemory);
  CHECK(store->resident_prefix() == 2);
  CHECK_THROWS_AS(BlockPass(*store, 3), OutOfMemory);
}

TEST_CASE("component stats accumulate passes and export the plan") {
  ff::proto::ComponentStats s;
  PlacementPlan plan;
  plan.mode = Placement::kAuto;
  plan.total_blocks = 48;
  plan.resident_blocks = 30;
  plan.resident_bytes = 1000;
  record_plan(s, plan, 5000);
  CHECK(s.placement == "auto:30/48");
  CHECK(s.resident_blocks == 30);
  CHECK(s.pinned_host_bytes == 5000);
  record_pass(s, {1000, 0.5, 0.1});
  record_pass(s, {3000, 1.5, 0.2});
  CHECK(s.streamed_bytes_total == 4000);
  CHECK(stream_bandwidth_bytes_per_second(s) == doctest::Approx(2000.0));
  CHECK(s.stall_seconds_total == doctest::Approx(0.3));
  auto be = make_cpu_backend(1 << 20);
  auto e = make_engine_stats(*be, 777, 2, {{"text_encoder", s}});
  CHECK(e.vram_budget_bytes == 777);
  CHECK(e.gpu_total_bytes == (1 << 20));
  CHECK(e.ooms_avoided_total == 2);
  CHECK(e.components.at("text_encoder").placement == "auto:30/48");
}

TEST_CASE("device names are validated") {
  CHECK(make_backend("cpu", 1 << 20)->name() == "cpu");
  CHECK_THROWS_AS(make_backend("gpu0", 1 << 20), std::invalid_argument);
  CHECK_THROWS_AS(make_backend("cuda:x", 1 << 20), std::invalid_argument);
  if (!cuda_available()) CHECK_THROWS_AS(make_backend("cuda:0", 1 << 20), std::invalid_argument);
}
