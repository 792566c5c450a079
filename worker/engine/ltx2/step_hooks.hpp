// What a sampling run reports and checks between denoising steps. Torch-free.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace ff::ltx2 {

// Thrown by the drivers when the cancel hook answers true at a step boundary.
struct Cancelled : std::runtime_error {
  Cancelled(const std::string& phase, int step)
      : std::runtime_error("cancelled in " + phase + " before step " + std::to_string(step)), phase(phase), step(step) {}
  std::string phase;
  int step;  // the step that did not run (0-based)
};

// Called on the sampling thread: `cancelled` before every step (true stops with Cancelled),
// `progress` after every step with (phase, steps done, total steps).
struct StepHooks {
  std::function<bool()> cancelled;
  std::function<void(const std::string& phase, int done, int total)> progress;
};

}  // namespace ff::ltx2
