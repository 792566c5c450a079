// ff_bench_decode: LTX-2.3's decoders at the ltx23-22b preset's real sizes (random bf16 weights built
// on the device) beside ltx-core's own decoders measured in the same run (bench/gpu/decode_reference.py,
// run as a child process BEFORE this process allocates on the GPU, so the two never share it).
//
// Shapes of a 121-frame 1024x1536 job: video latent [1, 128, 16, 32, 48] -> 121 x 1024 x 1536 RGB,
// audio latent [1, 8, 126, 16] -> 48 kHz stereo, stage-1 latent [1, 128, 16, 16, 24] -> x2 upsampled.
// Measured, median of --repeats after a warm-up, with the allocator's peak (weights included) and
// what was allocated before (weights + inputs):
//   video, tiled with the pipeline's default tiling (default_video_tiling: 18 tiles here) and untiled,
//     through decode_video_to_uint8 (frames end on the host as uint8 RGB), with the decoder's
//     defaults; variants: NCDHW activations, smaller conv chunks, cuDNN benchmark mode (the pre-fix
//     path was measured once beside them: bench/results/decode_h200.json, bench/NOTES.md);
//   audio decoder + vocoder (BWE) -> waveform on the host; upsampler (un-normalize, x2, normalize);
//   mux (where FFmpeg's dev files exist, FF_BENCH_MUX): clip hand-off + write_mp4 of the decoded
//     clip, alone and on a thread while the GPU decodes the video again (wall vs sum and max).
//   ops/bench decode [--json FILE] [--device cuda|cpu] [--preset full|tiny] [--repeats N]
//                    [--reference run|skip|FILE] [--mux-only]   (--mux-only: synthetic real-size
//                    clip muxed on this machine, no decoders)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bench/gpu/bench_report.hpp"
#include "bench/gpu/decode_bench_parts.hpp"
#include "common/cli_flags.hpp"
#include "common/json_fields.hpp"
#include "worker/engine/ltx2/video_decoder_working_set.hpp"
#ifdef FF_BENCH_MUX
#include "bench/gpu/decode_mux.hpp"
#endif

using namespace ff;
using namespace ff::bench;

namespace {

Json run_reference(const std::string& how, int repeats, bool tiny) {
  std::string path = how;
  if (how == "run") {
    path = "/tmp/ff_decode_reference_" + std::to_string(::getpid()) + ".json";
    const std::string cmd = "python3 " FF_SOURCE_DIR "/bench/gpu/decode_reference.py --json " + path +
                            " --repeats " + std::to_string(repeats) + " --short-repeats " +
                            std::to_string(tiny ? 1 : std::max(repeats, 20)) + (tiny ? " --tiny" : "");
    std::printf("reference: %s\n", cmd.c_str());
    std::fflush(stdout);
    const int rc = std::system(cmd.c_str());
    if (rc != 0) std::printf("reference run failed (exit %d); continuing with ours only\n", rc);
  }
  std::ifstream f(path);
  if (!f) return nullptr;
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str(), "reference JSON " + path);
  } catch (const std::exception& e) {
    std::printf("%s; continuing with ours only\n", e.what());
    return nullptr;
  }
}

// A reference measurement {seconds, peak_bytes, base_bytes} or nothing.
struct RefRun {
  double seconds = -1, peak = -1, base = -1;
  bool ok() const { return seconds > 0; }
};
RefRun ref_run(const Json& ref, const char* key) {
  RefRun r;
  if (!ref.is_object() || !ref.contains(key) || !ref[key].is_object()) return r;
  const Json& v = ref[key];
  auto num = [&](const char* k) { return v.contains(k) && v[k].is_number() ? v[k].get<double>() : -1.0; };
  r.seconds = num("seconds");
  r.peak = num("peak_bytes");
  r.base = num("base_bytes");
  return r;
}

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

void add_run(Report& rep, const std::string& key, const Measured& m, const std::string& note) {
  rep.add(key + "_seconds", m.seconds, "s", note);
  rep.add(key + "_peak_gib", m.peak_bytes / kGiB, "GiB", "allocator peak, weights included");
  rep.add(key + "_activations_gib", (m.peak_bytes - m.base_bytes) / kGiB, "GiB", "peak - allocated before");
}

// Ours beside the reference: ratios and, where given, the floors (time <= 1.0x; peak <= ref peak).
void compare(Report& rep, const std::string& key, const Measured& m, const RefRun& r, const std::string& what,
             bool floor_time, bool floor_peak) {
  if (!r.ok()) return;
  rep.add("ref_" + key + "_seconds", r.seconds, "s", "ltx-core: " + what);
  rep.add("ref_" + key + "_peak_gib", r.peak / kGiB, "GiB");
  rep.add("ref_" + key + "_activations_gib", (r.peak - r.base) / kGiB, "GiB");
  const double tr = m.seconds / r.seconds, pr = m.peak_bytes / r.peak;
  rep.add("ratio_" + key + "_time", tr, "x", "ours / ltx-core");
  rep.add("ratio_" + key + "_peak", pr, "x", "ours / ltx-core (weights included on both sides)");
  rep.add("ratio_" + key + "_activations", static_cast<double>(m.peak_bytes - m.base_bytes) / (r.peak - r.base), "x",
          "ours / ltx-core, peak - allocated before");
  char buf[160];
  if (floor_time) {
    std::snprintf(buf, sizeof buf, "%.3f s vs %.3f s (%.3fx, floor 1.0x)", m.seconds, r.seconds, tr);
    rep.check(key + "_time_floor", tr <= 1.0, buf);
  }
  if (floor_peak) {
    std::snprintf(buf, sizeof buf, "%.2f GiB vs %.2f GiB", m.peak_bytes / kGiB, r.peak / kGiB);
    rep.check(key + "_peak_floor", m.peak_bytes <= r.peak, buf);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  BenchArgs args;
  std::string reference = "default";
  bool mux_only = false;
  CLI::App app("", "ff_bench_decode");
  ff::cli::configure(app, "ff_bench_decode [options]");
  add_bench_flags(app, args);
  app.add_option("--reference", reference,
                 "run (bench/gpu/decode_reference.py), skip, or FILE (a JSON it wrote); default: run on "
                 "CUDA, skip on CPU")
      ->type_name("run|skip|FILE");
  app.add_flag("--mux-only", mux_only, "only the MP4 mux of a synthetic real-size clip (CPU)");
  if (const int rc = parse_bench_flags(app, argc, argv); rc >= 0) return rc;
  const bool full = args.preset == "full";
  const bool cuda = args.device.rfind("cuda", 0) == 0;
  if (reference == "default") reference = cuda ? "run" : "skip";
  Report rep("decode");

  if (mux_only) {
#ifdef FF_BENCH_MUX
    const int32_t frames = full ? 121 : 9, height = full ? 1024 : 64, width = full ? 1536 : 96;
    const std::string rgb = synthetic_frames(frames, height, width);
    std::vector<float> audio(static_cast<size_t>(48000 * frames / 24) * 2);
    for (size_t i = 0; i < audio.size(); ++i) audio[i] = 0.2f * static_cast<float>(std::sin(0.05 * (i / 2)));
    const auto dir = std::filesystem::temp_directory_path().string();
    const MuxTiming t = mux_clip(dir, "ff_bench_decode_mux_" + std::to_string(::getpid()),
                                 {reinterpret_cast<const uint8_t*>(rgb.data()), rgb.size()}, frames, height, width,
                                 audio, 48000);
    rep.context("mux_clip", "synthetic " + std::to_string(frames) + "x" + std::to_string(height) + "x" +
                                std::to_string(width) + " + stereo 48 kHz, this machine's CPU");
    rep.context("cpu_threads", static_cast<int64_t>(std::thread::hardware_concurrency()));
    rep.add("mux_clip_handoff_seconds", t.clip_seconds, "s", "write_clip_file");
    rep.add("mux_mp4_seconds", t.mp4_seconds, "s", "write_mp4: libx264 crf 19 veryfast + AAC");
    rep.add("mux_mp4_mb", t.mp4_bytes / 1e6, "MB");
    rep.check("mux_frames", t.frames == frames, std::to_string(t.frames) + " frames");
    return rep.finish(args.json_path);
#else
    throw std::runtime_error("--mux-only: built without FFmpeg (FF_BENCH_MUX)");
#endif
  }

  Json ref;
  if (reference != "skip") ref = run_reference(reference, args.repeats, !full);
  const bool have_ref = ref.is_object();

  auto be = engine::rt::make_backend(args.device, 256ll << 30);
  rep.context("device", be->name());
  rep.context("gpu", be->device_name());
  rep.context("preset", args.preset);
  rep.context("repeats", args.repeats);
  if (have_ref) rep.context("reference", ref);
  const at::ScalarType dtype = full ? at::kBFloat16 : at::kFloat;
  DecodeParts parts = make_decode_parts(full, be->device(), dtype);
  // Each component is measured with only its own weights resident (like the reference).
  build_video(parts);
  rep.add("video_decoder_weights_gib", parts.video_weight_bytes / kGiB, "GiB", "random, built on the device");
  const at::Tensor& latent = parts.video_latent;
  const auto tiling = ltx2::default_video_tiling(latent.size(3) * parts.video.scale().height,
                                                  latent.size(4) * parts.video.scale().width);
  const auto tiles = ltx2::make_video_tiles(latent.size(2), latent.size(3), latent.size(4), tiling, parts.video.scale());
  rep.add("video_tiles", static_cast<double>(tiles.size()), "count", "default tiling");
  std::printf("video latent [1, %lld, %lld, %lld, %lld], %zu tiles\n", (long long)latent.size(1),
              (long long)latent.size(2), (long long)latent.size(3), (long long)latent.size(4), tiles.size());
  std::fflush(stdout);

  // Video: ours with the defaults, then variants, then the pre-fix path.
  auto ours = [&](const std::optional<ltx2::VideoTilingConfig>& t, const ltx2::VideoDecoderMemory& m) {
    return [&, t, m] { return ltx2::decode_video_to_uint8(parts.video_weights, parts.video, latent, t, m); };
  };
  const ltx2::VideoDecoderMemory defaults;
  Measured tiled = time_it(*be, ours(tiling, defaults), args.repeats, "video tiled");
  add_run(rep, "video_tiled", tiled, "default tiling, decoder defaults, uint8 frames on the host");
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t est_tiled = ltx2::video_decoder_working_set_bytes(parts.video, latent.size(2), latent.size(3),
                                                                  latent.size(4), tiling, elem, !cuda);
  rep.add("video_tiled_estimate_gib", est_tiled / kGiB, "GiB", "video_decoder_working_set_bytes (planner)");
  rep.check("video_tiled_estimate_covers_peak", est_tiled >= tiled.peak_bytes - tiled.base_bytes,
            "planner estimate >= measured activations");
  Measured untiled = time_it(*be, ours(std::nullopt, defaults), args.repeats, "video untiled");
  add_run(rep, "video_untiled", untiled, "one forward, decoder defaults");
  const int64_t est_untiled = ltx2::video_decoder_working_set_bytes(parts.video, latent.size(2), latent.size(3),
                                                                    latent.size(4), std::nullopt, elem, !cuda);
  rep.add("video_untiled_estimate_gib", est_untiled / kGiB, "GiB", "video_decoder_working_set_bytes");
  rep.check("video_untiled_estimate_covers_peak", est_untiled >= untiled.peak_bytes - untiled.base_bytes,
            "planner estimate >= measured activations");
  const double diff = (untiled.out.to(at::kFloat) - tiled.out.to(at::kFloat)).abs().mean().item<double>();
  rep.add("video_tiled_vs_untiled_mean_abs_levels", diff, "levels", "tiling differs from untiled by design");

  if (cuda) {
    ltx2::VideoDecoderMemory ncdhw;
    ncdhw.channels_last = 0;
    add_run(rep, "video_tiled_ncdhw", time_it(*be, ours(tiling, ncdhw), args.repeats, "video tiled NCDHW"),
            "activations NCDHW (channels_last 0)");
    ltx2::VideoDecoderMemory small;
    small.chunk_bytes = int64_t{64} << 20;
    add_run(rep, "video_tiled_chunk64m", time_it(*be, ours(tiling, small), args.repeats, "video tiled 64 MiB chunks"),
            "conv chunks of 64 MiB");
    ltx2::VideoDecoderMemory whole;
    whole.chunk_bytes = 0;
    add_run(rep, "video_tiled_unchunked", time_it(*be, ours(tiling, whole), args.repeats, "video tiled unchunked"),
            "each conv over all frames at once");
    add_run(rep, "video_untiled_unchunked", time_it(*be, ours(std::nullopt, whole), args.repeats,
                                                    "video untiled unchunked"),
            "each conv over all frames at once");
    set_cudnn_benchmark(true);
    Measured bm = time_it(*be, ours(tiling, defaults), args.repeats, "video tiled cudnn benchmark");
    add_run(rep, "video_tiled_cudnn_benchmark", bm, "cuDNN benchmark mode on (timed after the tuning warm-up)");
    Measured bmu = time_it(*be, ours(std::nullopt, defaults), args.repeats, "video untiled cudnn benchmark");
    add_run(rep, "video_untiled_cudnn_benchmark", bmu, "cuDNN benchmark mode on");
    set_cudnn_benchmark(false);
  }
  drop_video(parts);

  // Audio and upsampler: short, so more repeats (on both sides).
  const int short_repeats = std::max(args.repeats, full ? 20 : 1);
  build_audio(parts);
  Measured audio = time_it(*be, [&] { return decode_audio_to_host(parts); }, short_repeats, "audio + vocoder");
  add_run(rep, "audio", audio, "audio decoder + vocoder (BWE) -> waveform on the host");
  rep.add("audio_samples", static_cast<double>(audio.out.size(-1)), "count", "per channel at 48 kHz");
  drop_audio(parts);
  build_upsampler(parts);
  Measured ups = time_it(*be, [&] { return upsample(parts); }, short_repeats, "upsampler");
  drop_upsampler(parts);
  add_run(rep, "upsampler", ups, "un-normalize, x2 upsampler, normalize");

  if (have_ref) {
    compare(rep, "video_tiled", tiled, ref_run(ref, "video_tiled"), "tiled, memory-efficient (pipeline default)", true,
            true);
    compare(rep, "video_untiled", untiled, ref_run(ref, "video_untiled_me"), "untiled, memory-efficient", true, false);
    compare(rep, "video_untiled_vs_plain", untiled, ref_run(ref, "video_untiled_plain"), "untiled, plain forward",
            false, false);
    compare(rep, "audio", audio, ref_run(ref, "audio"), "decode_audio (decoder bf16, vocoder bf16 + fp32 autocast)",
            true, false);
    compare(rep, "upsampler", ups, ref_run(ref, "upsampler"), "upsample_video math", true, false);
    const RefRun tp = ref_run(ref, "video_tiled_plain");
    if (tp.ok()) rep.add("ref_video_tiled_plain_seconds", tp.seconds, "s", "ltx-core tiled with its plain forward");
    rep.check("reference_ran", ref_run(ref, "video_tiled").ok(), "ltx-core tiled decode present");
  }

#ifdef FF_BENCH_MUX
  {
    // The decoded clip through the supervisor's writer, alone and beside the next decode.
    const at::Tensor rgb = tiled.out.contiguous();
    const at::Tensor wave = audio.out.select(0, 0).t().contiguous();  // [samples, 2] interleaved
    const auto dir = std::filesystem::temp_directory_path().string();
    const std::span<const uint8_t> frames{rgb.data_ptr<uint8_t>(), static_cast<size_t>(rgb.numel())};
    const std::span<const float> samples{wave.data_ptr<float>(), static_cast<size_t>(wave.numel())};
    const auto fr = static_cast<int32_t>(rgb.size(0)), hh = static_cast<int32_t>(rgb.size(1)),
               ww = static_cast<int32_t>(rgb.size(2));
    const MuxTiming alone = mux_clip(dir, "ff_bench_decode_a" + std::to_string(::getpid()), frames, fr, hh, ww,
                                     samples, 48000);
    rep.add("mux_clip_handoff_seconds", alone.clip_seconds, "s", "write_clip_file (engine side)");
    rep.add("mux_mp4_seconds", alone.mp4_seconds, "s", "write_mp4 alone (supervisor's mux thread)");
    const double mux_s = alone.clip_seconds + alone.mp4_seconds;
    build_video(parts);  // the next job's decode
    MuxTiming during;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread mux([&] { during = mux_clip(dir, "ff_bench_decode_b" + std::to_string(::getpid()), frames, fr, hh, ww,
                                            samples, 48000); });
    (void)ltx2::decode_video_to_uint8(parts.video_weights, parts.video, latent, tiling, defaults);
    be->synchronize();
    const double gpu_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mux.join();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rep.add("overlap_mux_seconds", during.clip_seconds + during.mp4_seconds, "s", "mux on a thread during the decode");
    rep.add("overlap_decode_seconds", gpu_s, "s", "the next tiled decode, concurrently");
    rep.add("overlap_wall_seconds", wall, "s", "both");
    rep.add("overlap_sum_seconds", mux_s + tiled.seconds, "s", "alone: mux + decode");
    rep.add("overlap_max_seconds", std::max(mux_s, tiled.seconds), "s", "alone: max(mux, decode)");
    // On a CPU device the decode and the mux share the cores: only the numbers are reported.
    if (cuda) rep.check("mux_overlaps_decode", wall < 0.8 * (mux_s + tiled.seconds), "wall well under the sum");
  }
#else
  rep.context("mux", "not built here: no FFmpeg development files (see bench/NOTES.md for the CPU measurement)");
#endif
  return rep.finish(args.json_path);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ff_bench_decode: %s\n", e.what());
  return 2;
}
