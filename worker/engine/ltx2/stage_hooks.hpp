// What a staged forward (the spatial upsampler, the audio decoder, the vocoder) calls around each
// of its stages, so that a stage's weights need to exist only while it runs: a streamed component
// binds stage i's tensors (from a GPU slot) into the weight struct the forward reads in begin(i),
// and drops them in end(i), once the stage's work is queued. Stages are numbered 0..n-1 in
// execution order; stage i reads only the weights its component's *_stage_prefixes list names for
// it (every other weight of the struct is "fixed" and always there). Empty hooks do nothing: the
// resident forward. Torch-free; the forward's thread.
#pragma once

#include <functional>

namespace ff::ltx2 {

struct StageHooks {
  std::function<void(int stage)> enter, leave;
  int offset = 0;  // added to the stage numbers (a forward made of sub-forwards numbers them on)

  void begin(int i) const {
    if (enter) enter(offset + i);
  }
  void end(int i) const {
    if (leave) leave(offset + i);
  }
  // The same hooks for a sub-forward whose stage 0 is this forward's stage `by`.
  StageHooks shifted(int by) const {
    StageHooks h = *this;
    h.offset += by;
    return h;
  }
};

}  // namespace ff::ltx2
