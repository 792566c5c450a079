// The slot ring's schedule: a recorded sequence of copy / wait / release events, checked for
// order (copies >= 2 blocks ahead of compute, in block order) and safety (a slot is refilled only
// after its previous block's release, and only with a device-side wait on that release).
#include "tests/worker/engine/doctest_torch.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "tests/worker/engine/runtime/recording_stream_ops.hpp"
#include "worker/engine/runtime/slot_ring.hpp"

using namespace ff::engine::rt;
using ff::test::OpEvent;
using ff::test::RecordingStreamOps;

namespace {

struct Fixture {
  explicit Fixture(int blocks, int k, size_t bytes = 64) {
    for (int j = 0; j < blocks; ++j) host.emplace_back(bytes, static_cast<char>('a' + j % 26));
    for (int s = 0; s < k; ++s) dev.emplace_back(bytes, '\0');
    std::vector<HostRange> ranges;
    for (auto& h : host) ranges.push_back({h.data(), h.size()});
    std::vector<void*> slots;
    for (auto& d : dev) slots.push_back(d.data());
    ring = std::make_unique<SlotRing>(ops, ranges, slots, bytes);
  }
  int block_of(const void* src) const {
    for (size_t j = 0; j < host.size(); ++j)
      if (host[j].data() == src) return static_cast<int>(j);
    return -1;
  }
  std::vector<std::vector<char>> host, dev;
  RecordingStreamOps ops;
  std::unique_ptr<SlotRing> ring;
};

// Runs a full pass, checking at each acquire that the slot holds that block's bytes.
void run_pass(Fixture& f, int blocks) {
  f.ring->start();
  for (int j = 0; j < blocks; ++j) {
    const int slot = f.ring->acquire(j);
    CHECK(slot == j % f.ring->slots());
    CHECK(f.dev[slot] == f.host[j]);
    // Prefetch depth: while block j computes, blocks up to j + K - 1 (>= j + 2) are issued.
    CHECK(f.ring->issued_up_to() >= std::min(j + 2, blocks - 1));
    f.ring->release(j);
  }
}

}  // namespace

TEST_CASE("ring of 3 over 10 blocks: copies in order, 2 ahead, slots reused only after release") {
  const int n = 10, k = 3;
  Fixture f(n, k);
  run_pass(f, n);

  std::vector<int> copied_blocks;
  std::map<int, int> slot_holder;        // slot -> block last copied into it
  std::map<int, bool> released_since;    // slot -> released since its last copy
  int computing = -1;                    // last block whose wait_filled was seen
  for (const OpEvent& e : f.ops.log) {
    switch (e.kind) {
      case OpEvent::kCopy: {
        const int b = f.block_of(e.src);
        REQUIRE(b >= 0);
        CHECK(e.slot == b % k);
        if (slot_holder.count(e.slot)) {
          // Refill: the previous occupant was released and the copy waits on that release.
          CHECK(released_since[e.slot]);
          CHECK(e.after_release);
          CHECK(slot_holder[e.slot] == b - k);
        } else {
          CHECK_FALSE(e.after_release);
        }
        CHECK(b <= computing + k);  // never further ahead than the ring allows
        slot_holder[e.slot] = b;
        released_since[e.slot] = false;
        copied_blocks.push_back(b);
        break;
      }
      case OpEvent::kWaitFilled:
        ++computing;
        CHECK(e.slot == computing % k);
        CHECK(slot_holder[e.slot] == computing);  // its copy was issued before compute waits
        break;
      case OpEvent::kRelease:
        CHECK(e.slot == computing % k);
        released_since[e.slot] = true;
        break;
    }
  }
  std::vector<int> expect(n);
  for (int j = 0; j < n; ++j) expect[j] = j;
  CHECK(copied_blocks == expect);
  CHECK(computing == n - 1);
  CHECK(f.ops.copied == n * 64);
}

TEST_CASE("the first K copies are issued before any compute waits") {
  Fixture f(8, 4);
  f.ring->start();
  REQUIRE(f.ops.log.size() == 4);
  for (int s = 0; s < 4; ++s) CHECK(f.ops.log[s].kind == OpEvent::kCopy);
  CHECK(f.ring->issued_up_to() == 3);
}

TEST_CASE("fewer blocks than slots, and larger rings, complete correctly") {
  for (int k : {3, 4, 6}) {
    for (int n : {1, 2, 3, 7}) {
      Fixture f(n, std::min(k, std::max(n, 3)));
      run_pass(f, n);
      int copies = 0;
      for (auto& e : f.ops.log) copies += e.kind == OpEvent::kCopy;
      CHECK(copies == n);
    }
  }
}

TEST_CASE("misuse is refused with a clear error") {
  Fixture f(5, 3);
  CHECK_THROWS_AS(f.ring->acquire(0), std::logic_error);  // before start
  f.ring->start();
  CHECK_THROWS_AS(f.ring->acquire(1), std::logic_error);  // out of order
  f.ring->acquire(0);
  CHECK_THROWS_AS(f.ring->acquire(1), std::logic_error);  // 0 not released
  CHECK_THROWS_AS(f.ring->release(1), std::logic_error);
  f.ring->release(0);
  CHECK(f.ring->acquire(1) == 1);

  RecordingStreamOps ops;
  std::vector<char> a(64), b(64), c(64), big(128);
  CHECK_THROWS_AS(SlotRing(ops, {{big.data(), 128}}, {a.data(), b.data(), c.data()}, 64),
                  std::invalid_argument);
  CHECK_THROWS_AS(SlotRing(ops, {{a.data(), 64}, {b.data(), 64}, {c.data(), 64}}, {a.data(), b.data()}, 64),
                  std::invalid_argument);
  CHECK_NOTHROW(SlotRing(ops, {{a.data(), 64}, {b.data(), 64}}, {a.data(), b.data()}, 64));
}
