// msgpack adaptors of the wire structs (common/protocol.hpp): each body is a msgpack map whose keys
// are the member names, in the order listed here (the declaration order). Exactly what
// MSGPACK_DEFINE_MAP inside the structs produced before they became plain structs: same keys,
// same order, same encodings (tests/common/test_protocol_wire.cpp pins the bytes of every type).
//
// Include this only where msgpack itself is used: common/protocol.cpp (encode/decode) and tests
// that inspect a body as a raw msgpack map. Everything else goes through encode()/decode(), so
// msgpack's headers stay out of the ~55 files that include protocol.hpp.
#pragma once

#include <msgpack.hpp>

#include "common/protocol.hpp"

MSGPACK_ADD_ENUM(ff::proto::MsgType);
MSGPACK_ADD_ENUM(ff::proto::ErrorKind);

// FF_PROTO_FIELDS(v, a, b) -> ("a", v.a, "b", v.b): the argument list MSGPACK_DEFINE_MAP builds.
#define FF_PROTO_FIELD(r, obj, field) (MSGPACK_PP_STRINGIZE(field))(obj.field)
#define FF_PROTO_FIELDS(obj, ...)                                                               \
  MSGPACK_PP_SEQ_TO_TUPLE(                                                                      \
      MSGPACK_PP_SEQ_FOR_EACH(FF_PROTO_FIELD, obj, MSGPACK_PP_VARIADIC_TO_SEQ(__VA_ARGS__)))

// The three adaptors MSGPACK_DEFINE_MAP's member functions stood for: pack, convert and
// object_with_zone, each over msgpack's own define_map.
#define FF_PROTO_MAP(T, ...)                                                                    \
  namespace msgpack {                                                                           \
  MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {                                       \
    namespace adaptor {                                                                         \
    template <>                                                                                 \
    struct pack<ff::proto::T> {                                                                 \
      template <typename Stream>                                                                \
      packer<Stream>& operator()(packer<Stream>& pk, const ff::proto::T& v) const {             \
        type::make_define_map FF_PROTO_FIELDS(v, __VA_ARGS__).msgpack_pack(pk);                 \
        return pk;                                                                              \
      }                                                                                         \
    };                                                                                          \
    template <>                                                                                 \
    struct convert<ff::proto::T> {                                                              \
      const msgpack::object& operator()(const msgpack::object& o, ff::proto::T& v) const {      \
        type::make_define_map FF_PROTO_FIELDS(v, __VA_ARGS__).msgpack_unpack(o);                \
        return o;                                                                               \
      }                                                                                         \
    };                                                                                          \
    template <>                                                                                 \
    struct object_with_zone<ff::proto::T> {                                                     \
      void operator()(msgpack::object::with_zone& o, const ff::proto::T& v) const {             \
        type::make_define_map FF_PROTO_FIELDS(v, __VA_ARGS__).msgpack_object(&o, o.zone);       \
      }                                                                                         \
    };                                                                                          \
    }                                                                                           \
  }                                                                                             \
  }

// Nested structs first: an adaptor must be declared before one that packs it.
FF_PROTO_MAP(JobParams, width, height, num_frames, frame_rate, num_inference_steps, seed,
             video_cfg, video_stg, video_modality, video_rescale, audio_cfg, audio_stg,
             audio_modality, audio_rescale, crf, preset, audio)
FF_PROTO_MAP(HeldLease, job_id, epoch, started)
FF_PROTO_MAP(MediaInfo, mp4_path, poster_path, duration_s, frames, fps, width, height,
             audio_sample_rate, audio_channels, bytes)
FF_PROTO_MAP(TensorBlob, dtype, shape, data)
FF_PROTO_MAP(PromptTokens, ids)
FF_PROTO_MAP(PromptEmbedding, real_tokens, video, audio)
FF_PROTO_MAP(ComponentStats, placement, peak_vram_bytes, resident_bytes, pinned_host_bytes,
             streamed_bytes_total, stream_seconds_total, stall_seconds_total, resident_blocks,
             total_blocks)

// Dispatcher link.
FF_PROTO_MAP(Register, worker_id, gpu_name, vram_total_bytes, vram_budget_bytes, model, free_slots,
             max_encode_batch, components_resident, encoder_fingerprint, held)
FF_PROTO_MAP(Welcome, heartbeat_interval_ms, heartbeat_misses_dead)
FF_PROTO_MAP(Credit, slots)
FF_PROTO_MAP(Heartbeat, sent_unix_ms)
FF_PROTO_MAP(Job, job_id, epoch, attempt, prompt, negative_prompt, model, params, embedding_cached,
             encode_group, enqueued_unix_us)
FF_PROTO_MAP(Progress, job_id, epoch, phase, step, total_steps)
FF_PROTO_MAP(Result, job_id, epoch, ok, output_path, timings_s, peak_vram_bytes, error_kind,
             error_message, media)
FF_PROTO_MAP(Cancel, job_id, epoch)
FF_PROTO_MAP(HandBack, job_id, epoch)
FF_PROTO_MAP(Goodbye, reason)
FF_PROTO_MAP(Reregister, reason)

// Engine link.
FF_PROTO_MAP(EngineHello, pid, device, gpu_name, vram_total_bytes, vram_budget_bytes,
             encoder_fingerprint, max_encode_batch, components_resident)
FF_PROTO_MAP(EncodeRequest, request_id, max_length, prompts)
FF_PROTO_MAP(EncodeResult, request_id, ok, embeddings, error_kind, error_message)
FF_PROTO_MAP(GenerateRequest, job_id, params, positive, negative, output_dir, clip_path)
FF_PROTO_MAP(GenerateProgress, job_id, phase, step, total_steps)
FF_PROTO_MAP(GenerateResult, job_id, ok, video_path, preview_path, timings_s, peak_vram_bytes,
             error_kind, error_message, clip_path)
FF_PROTO_MAP(EngineCancel, job_id)
FF_PROTO_MAP(EngineStats, gpu_used_bytes, gpu_total_bytes, vram_budget_bytes, ooms_avoided_total,
             components)
FF_PROTO_MAP(Shutdown, reason)

#undef FF_PROTO_MAP
#undef FF_PROTO_FIELDS
#undef FF_PROTO_FIELD
