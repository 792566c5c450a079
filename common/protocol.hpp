// Wire protocol: every message between dispatcher, worker supervisor and engine, in one place.
//
// Framing. One ZeroMQ frame per message (after the ROUTER identity frame, where there is one).
// The frame is a msgpack array of three: [protocol_version, MsgType, body], where body is a
// msgpack map whose keys are the field names below, in declaration order. Unknown keys in a body
// are ignored (forward compatibility); a missing key leaves the field at its default.
// The structs here are plain: their msgpack adaptors (one field list per struct) live in
// common/protocol_msgpack.hpp, included only by protocol.cpp and by tests that read raw maps, so
// the ~55 files that include this header do not parse msgpack. Adding a field: the member here
// and its name in that header's list (tests/common/test_protocol_wire.cpp pins the bytes).
//
// Contract of decode(): any byte string either decodes to a message or returns a DecodeError
// naming what was wrong (too large, not msgpack, wrong version, unknown type, bad body). It never
// throws and never crashes: callers log the error and drop the frame.
//
// Two links use this protocol:
//   dispatcher ROUTER  <-> worker supervisor DEALER   (tcp://, see "Dispatcher link")
//   supervisor ROUTER  <-> engine DEALER              (ipc://, see "Engine link")
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ff::proto {

inline constexpr uint32_t kVersion = 1;
// Frames larger than this are dropped unread (a job message is < 64 KiB; an encode result for
// 32 prompts of 12 MiB each travels over ipc only, hence the generous bound).
inline constexpr size_t kMaxFrameBytes = 512ull << 20;
// Prompts are bounded in SQL too (schema/): same number, in bytes of UTF-8.
inline constexpr size_t kMaxPromptBytes = 8192;

enum class MsgType : uint8_t {
  // ---- Dispatcher link ----
  kRegister = 1,    // worker -> dispatcher: first message; capabilities.
  kWelcome = 2,     // dispatcher -> worker: registration accepted; timing parameters.
  kCredit = 3,      // worker -> dispatcher: "send me up to `slots` more jobs".
  kHeartbeat = 4,   // both ways, every heartbeat interval; carries nothing else.
  kJob = 5,         // dispatcher -> worker: one leased job (consumes one credit).
  kProgress = 6,    // worker -> dispatcher: phase/step of a running job.
  kResult = 7,      // worker -> dispatcher: terminal outcome of a job (success or failure).
  kCancel = 8,      // dispatcher -> worker: stop this job at its next step boundary.
  kHandBack = 9,    // worker -> dispatcher: this job was not started; requeue it (no attempt used).
  kGoodbye = 10,    // worker -> dispatcher: worker is leaving; release everything it holds.
  kReregister = 11, // dispatcher -> worker: this connection is not registered here (the
                    // dispatcher restarted): send Register again, with the jobs held.
  // ---- Engine link ----
  kEngineHello = 32,     // engine -> supervisor: engine is up, models loaded.
  kEncodeRequest = 33,   // supervisor -> engine: encode these prompts in one pass.
  kEncodeResult = 34,    // engine -> supervisor: embeddings (or error) for an EncodeRequest.
  kGenerateRequest = 35, // supervisor -> engine: run the video stages for one job.
  kGenerateProgress = 36,// engine -> supervisor: a step finished.
  kGenerateResult = 37,  // engine -> supervisor: terminal outcome of a GenerateRequest.
  kEngineCancel = 38,    // supervisor -> engine: cancel a job at its next step boundary.
  kEngineStats = 39,     // engine -> supervisor: per-component memory/streaming metrics.
  kShutdown = 40,        // supervisor -> engine: exit cleanly.
};

// Why a job failed; the dispatcher decides retry vs dead from it.
enum class ErrorKind : uint8_t {
  kNone = 0,
  kBadInput = 1,      // the job itself is invalid (not retried).
  kOutOfMemory = 2,   // a CUDA OOM escaped inside the engine (retried).
  kVramBudget = 3,    // the job cannot fit the worker's VRAM budget even streamed (not retried here).
  kEngineCrash = 4,   // the engine process died or hung (retried).
  kCancelled = 5,     // stopped by a cancel request.
  kInternal = 6,      // anything else (retried).
};

// Generation parameters of a job: the keys of framefarm.jobs.params. Each member's name is its
// JSON key; kinds, ranges and rules are in common/job_params.hpp (one table, checked against
// schema/ by tests). Defaults are the LTX-2.3 reference's (ltx-pipelines LTX_2_3_PARAMS): a
// 1536x1024 output (stage 1 at 768x512), 121 frames at 24 fps, 30 stage-1 steps, seed 10, and
// the multimodal guidance of both modalities (pred = c + (cfg-1)(c-u) + stg(c-p) + (mod-1)(c-m),
// then rescaled toward std(c) by `rescale`).
struct JobParams {
  int32_t width = 1536;               // output pixels; multiple of 64 (stage 1 at half size)
  int32_t height = 1024;
  int32_t num_frames = 121;           // 8k+1
  int32_t frame_rate = 24;
  int32_t num_inference_steps = 30;   // stage-1 denoising steps
  int64_t seed = 10;
  double video_cfg = 3.0;             // classifier-free guidance (negative prompt)
  double video_stg = 1.0;             // spatio-temporal guidance (perturbed self-attention)
  double video_modality = 3.0;        // modality guidance (audio<->video cross-attention off)
  double video_rescale = 0.7;         // 0 = no rescale, 1 = full std rescale
  double audio_cfg = 7.0;
  double audio_stg = 1.0;
  double audio_modality = 3.0;
  double audio_rescale = 0.7;
  // The MP4 (the supervisor's mux, worker/media/mp4_writer.hpp): libx264 quality and speed as the
  // reference encodes (crf 19, preset veryfast), and whether the MP4 carries the AAC track.
  int32_t crf = 19;                   // 0..51, lower = better
  std::string preset = "veryfast";    // an x264 preset name
  bool audio = true;
};

// ---------------------------------------------------------------- Dispatcher link

// A job a worker holds (received, no Result/HandBack sent yet), announced in Register so that a
// restarted (or another) dispatcher keeps its lease while the epoch is current.
struct HeldLease {
  int64_t job_id = 0;
  int64_t epoch = 0;
  bool started = false;  // a Progress went out for it
};

struct Register {
  std::string worker_id;      // stable name, e.g. "gpu-node-3/cuda:0"
  std::string gpu_name;       // "NVIDIA H200" or "cpu"
  int64_t vram_total_bytes = 0;
  int64_t vram_budget_bytes = 0;
  std::string model;          // model name the worker serves, matched against jobs.model
  int32_t free_slots = 0;     // initial credit
  int32_t max_encode_batch = 1;
  std::vector<std::string> components_resident;
  std::string encoder_fingerprint;  // key of this worker's rows in framefarm.prompt_embeddings
  // Re-registration: the jobs the worker still holds. The dispatcher keeps (or takes over from
  // the database) each lease whose epoch is still current and sends Cancel for the others.
  std::vector<HeldLease> held;
};

struct Welcome {
  int32_t heartbeat_interval_ms = 1000;
  int32_t heartbeat_misses_dead = 3;
};

struct Credit {
  int32_t slots = 0;  // additional jobs the worker can take now
};

struct Heartbeat {
  int64_t sent_unix_ms = 0;
};

struct Job {
  int64_t job_id = 0;
  int64_t epoch = 0;              // fencing epoch: echoed on every Progress/Result/HandBack
  int32_t attempt = 1;
  std::string prompt;
  std::string negative_prompt;
  std::string model;
  JobParams params;
  bool embedding_cached = false;  // dispatcher saw (prompt, negative) in prompt_embeddings
  int64_t encode_group = 0;       // jobs sent together for one encoder pass share a nonzero group
  int64_t enqueued_unix_us = 0;   // INSERT commit time, for queue-wait metrics
};

struct Progress {
  int64_t job_id = 0;
  int64_t epoch = 0;
  std::string phase;   // "encode", "stage1", "stage2", "decode", "write"
  int32_t step = 0;
  int32_t total_steps = 0;
};

// The MP4 of a successful job, as the supervisor's mux thread wrote it (worker/media/). Recorded
// in framefarm.jobs.result under "media"; an empty mp4_path means no MP4 (a stand-in engine that
// wrote its own video file: output_path only).
struct MediaInfo {
  std::string mp4_path;           // <output_root>/<job id>.mp4 (also Result::output_path)
  std::string poster_path;        // <output_root>/<job id>.png: the first frame
  double duration_s = 0;          // max(video, audio) duration
  int32_t frames = 0;
  double fps = 0;
  int32_t width = 0;
  int32_t height = 0;
  int32_t audio_sample_rate = 0;  // of the AAC stream; 0 = no audio stream
  int32_t audio_channels = 0;
  int64_t bytes = 0;              // MP4 file size
};

struct Result {
  int64_t job_id = 0;
  int64_t epoch = 0;
  bool ok = false;
  std::string output_path;                  // on success: the video file
  std::map<std::string, double> timings_s;  // phase -> seconds
  std::map<std::string, int64_t> peak_vram_bytes;  // component -> peak bytes
  ErrorKind error_kind = ErrorKind::kNone;
  std::string error_message;
  MediaInfo media;                          // on success with an MP4
};

struct Cancel {
  int64_t job_id = 0;
  int64_t epoch = 0;
};

struct HandBack {
  int64_t job_id = 0;
  int64_t epoch = 0;
};

struct Goodbye {
  std::string reason;
};

struct Reregister {
  std::string reason;
};

// ---------------------------------------------------------------- Engine link

// A dense tensor in transit: raw little-endian bytes, row-major. dtype is "bf16", "f16" or "f32".
struct TensorBlob {
  std::string dtype;
  std::vector<int64_t> shape;
  std::string data;
};

struct EngineHello {
  int32_t pid = 0;
  std::string device;          // "cuda:0" or "cpu"
  std::string gpu_name;
  int64_t vram_total_bytes = 0;
  int64_t vram_budget_bytes = 0;
  std::string encoder_fingerprint;  // identifies text encoder + embeddings processor weights
  int32_t max_encode_batch = 1;
  std::vector<std::string> components_resident;
};

// Token ids of one prompt as the tokenizer produced them: real tokens only, BOS first, no pads.
// The engine places them LEFT-padded in a row of max_length (position ids over the padded row).
struct PromptTokens {
  std::vector<int32_t> ids;
};

struct EncodeRequest {
  int64_t request_id = 0;
  int32_t max_length = 1024;
  std::vector<PromptTokens> prompts;  // duplicates already removed by the supervisor
};

// The contexts the stage transformers consume for one prompt. Rows are the real tokens only
// (trimmed, when lossless) or all max_length rows; `real_tokens` says how many are real.
struct PromptEmbedding {
  int32_t real_tokens = 0;
  TensorBlob video;  // [rows, video_dim]
  TensorBlob audio;  // [rows, audio_dim]
};

struct EncodeResult {
  int64_t request_id = 0;
  bool ok = false;
  std::vector<PromptEmbedding> embeddings;  // same order as EncodeRequest::prompts
  ErrorKind error_kind = ErrorKind::kNone;
  std::string error_message;
};

struct GenerateRequest {
  int64_t job_id = 0;
  JobParams params;
  PromptEmbedding positive;
  PromptEmbedding negative;
  std::string output_dir;  // stand-in engine only: it writes <output_dir>/<job_id>.y4m and .png
  // Where the engine writes the job's clip file (common/clip_file.hpp): decoded RGB24 frames at
  // params.frame_rate and the float32 waveform, through clip::write_clip_file (or ClipWriter).
  // Always <run_dir>/clips/<job_id>.clip; the supervisor muxes the MP4 from it.
  std::string clip_path;
};

struct GenerateProgress {
  int64_t job_id = 0;
  std::string phase;
  int32_t step = 0;
  int32_t total_steps = 0;
};

// The engine's side of a finished job. The real engine sets clip_path (the clip file it wrote,
// = GenerateRequest::clip_path) and replies as soon as the file is complete: the supervisor
// muxes the MP4 on its own thread while the engine starts the next job, and reports the job to
// the dispatcher only once the MP4 is complete. video_path/preview_path are the stand-in
// engine's (a Y4M it wrote itself, reported as is); they go once it is gone.
struct GenerateResult {
  int64_t job_id = 0;
  bool ok = false;
  std::string video_path;    // stand-in engine only
  std::string preview_path;  // stand-in engine only
  std::map<std::string, double> timings_s;
  std::map<std::string, int64_t> peak_vram_bytes;
  ErrorKind error_kind = ErrorKind::kNone;
  std::string error_message;
  std::string clip_path;     // on success: the clip file to mux (in <run_dir>/clips/)
};

struct EngineCancel {
  int64_t job_id = 0;
};

// Per-component memory and streaming figures, cumulative since engine start unless named peak.
struct ComponentStats {
  std::string placement;            // "resident" | "stream" | "auto:<resident>/<total>"
  int64_t peak_vram_bytes = 0;      // peak during this component's last phase
  int64_t resident_bytes = 0;
  int64_t pinned_host_bytes = 0;
  int64_t streamed_bytes_total = 0;
  double stream_seconds_total = 0;  // time copies were in flight
  double stall_seconds_total = 0;   // compute waiting for a copy
  int32_t resident_blocks = 0;
  int32_t total_blocks = 0;
};

struct EngineStats {
  int64_t gpu_used_bytes = 0;
  int64_t gpu_total_bytes = 0;
  int64_t vram_budget_bytes = 0;
  int64_t ooms_avoided_total = 0;  // micro-batch shrinks that avoided an OOM
  std::map<std::string, ComponentStats> components;
};

struct Shutdown {
  std::string reason;
};

// ---------------------------------------------------------------- Encoding / decoding

using Message = std::variant<Register, Welcome, Credit, Heartbeat, Job, Progress, Result, Cancel,
                             HandBack, Goodbye, EngineHello, EncodeRequest, EncodeResult,
                             GenerateRequest, GenerateProgress, GenerateResult, EngineCancel,
                             EngineStats, Shutdown, Reregister>;

struct DecodeError {
  std::string what;  // human-readable reason, e.g. "unknown message type 77"
};

// Serialises one message into a frame. Thread-safe (pure).
std::string encode(const Message& msg);

// Parses one frame; never throws. Thread-safe (pure).
std::variant<Message, DecodeError> decode(std::string_view frame);

// The MsgType of a message value.
MsgType type_of(const Message& msg);

// Lower-case name of a type, for logs ("job", "result", ...); "unknown" for other values.
std::string_view type_name(MsgType t);

}  // namespace ff::proto
