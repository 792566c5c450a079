// One GenerateRequest on the LTX-2.3 model, start to finish: the contexts from the wire, the
// pipeline (two_stages or distilled, ltx2/pipelines.hpp) with every transformer pass of a step in
// one sweep (AVStage), the video and audio decoders, and the clip file the supervisor muxes into
// the MP4 (common/clip_file.hpp) at request.clip_path.
#pragma once

#include <map>
#include <string>

#include "common/protocol.hpp"
#include "worker/engine/app/ltx2_model.hpp"
#include "worker/engine/runtime/memory_meter.hpp"
#include "worker/engine/ltx2/step_hooks.hpp"

namespace ff::engine {

struct JobOutcome {
  std::string clip_path;
  std::map<std::string, double> timings_s;         // "stage1", "upsample", "stage2", "decode", "write"
  std::map<std::string, int64_t> peak_vram_bytes;  // component -> meter peak in its phase
};

// Runs the job on `backend`'s device. hooks.cancelled is polled before every denoising step,
// hooks.progress after each. Throws ltx2::Cancelled, std::invalid_argument (bad params or
// contexts: the job's fault), rt::VramBudgetError, c10 errors (OOM...).
JobOutcome run_ltx2_job(Ltx2Model& model, const EngineConfig& config, const proto::GenerateRequest& req,
                        rt::DeviceBackend& backend, const ltx2::StepHooks& hooks);

}  // namespace ff::engine
