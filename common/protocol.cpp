#include "common/protocol.hpp"
#include "common/protocol_msgpack.hpp"

#include <exception>

namespace ff::proto {
namespace {

template <class T> struct TypeOf;
#define FF_MSG(T, E) \
  template <> struct TypeOf<T> { static constexpr MsgType value = MsgType::E; };
FF_MSG(Register, kRegister)
FF_MSG(Welcome, kWelcome)
FF_MSG(Credit, kCredit)
FF_MSG(Heartbeat, kHeartbeat)
FF_MSG(Job, kJob)
FF_MSG(Progress, kProgress)
FF_MSG(Result, kResult)
FF_MSG(Cancel, kCancel)
FF_MSG(HandBack, kHandBack)
FF_MSG(Goodbye, kGoodbye)
FF_MSG(EngineHello, kEngineHello)
FF_MSG(EncodeRequest, kEncodeRequest)
FF_MSG(EncodeResult, kEncodeResult)
FF_MSG(GenerateRequest, kGenerateRequest)
FF_MSG(GenerateProgress, kGenerateProgress)
FF_MSG(GenerateResult, kGenerateResult)
FF_MSG(EngineCancel, kEngineCancel)
FF_MSG(EngineStats, kEngineStats)
FF_MSG(Shutdown, kShutdown)
FF_MSG(Reregister, kReregister)
#undef FF_MSG

// Finds the variant alternative whose TypeOf matches `t` and converts `body` into it.
template <size_t I = 0>
std::variant<Message, DecodeError> body_as(MsgType t, const msgpack::object& body) {
  if constexpr (I == std::variant_size_v<Message>) {
    return DecodeError{"unknown message type " + std::to_string(static_cast<int>(t))};
  } else {
    using T = std::variant_alternative_t<I, Message>;
    if (TypeOf<T>::value != t) return body_as<I + 1>(t, body);
    if (body.type != msgpack::type::MAP)
      return DecodeError{"body of '" + std::string(type_name(t)) + "' is not a map"};
    try {
      return Message{body.as<T>()};
    } catch (const std::exception& e) {
      return DecodeError{"bad body of '" + std::string(type_name(t)) + "': " + e.what()};
    }
  }
}

}  // namespace

MsgType type_of(const Message& msg) {
  return std::visit([](const auto& m) { return TypeOf<std::decay_t<decltype(m)>>::value; }, msg);
}

std::string_view type_name(MsgType t) {
  switch (t) {
    case MsgType::kRegister: return "register";
    case MsgType::kWelcome: return "welcome";
    case MsgType::kCredit: return "credit";
    case MsgType::kHeartbeat: return "heartbeat";
    case MsgType::kJob: return "job";
    case MsgType::kProgress: return "progress";
    case MsgType::kResult: return "result";
    case MsgType::kCancel: return "cancel";
    case MsgType::kHandBack: return "hand_back";
    case MsgType::kGoodbye: return "goodbye";
    case MsgType::kReregister: return "reregister";
    case MsgType::kEngineHello: return "engine_hello";
    case MsgType::kEncodeRequest: return "encode_request";
    case MsgType::kEncodeResult: return "encode_result";
    case MsgType::kGenerateRequest: return "generate_request";
    case MsgType::kGenerateProgress: return "generate_progress";
    case MsgType::kGenerateResult: return "generate_result";
    case MsgType::kEngineCancel: return "engine_cancel";
    case MsgType::kEngineStats: return "engine_stats";
    case MsgType::kShutdown: return "shutdown";
  }
  return "unknown";
}

std::string encode(const Message& msg) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(3);
  pk.pack(kVersion);
  pk.pack(static_cast<uint8_t>(type_of(msg)));
  std::visit([&](const auto& m) { pk.pack(m); }, msg);
  return std::string(buf.data(), buf.size());
}

std::variant<Message, DecodeError> decode(std::string_view frame) {
  if (frame.empty()) return DecodeError{"empty frame"};
  if (frame.size() > kMaxFrameBytes)
    return DecodeError{"frame of " + std::to_string(frame.size()) + " bytes exceeds limit of " +
                       std::to_string(kMaxFrameBytes)};
  try {
    // Limits bound what a hostile frame can make the unpacker allocate: no container may claim
    // more elements than the frame has bytes, and nesting is shallow.
    const size_t n = frame.size();
    msgpack::unpack_limit limit(n, n, n, n, n, 32);
    size_t offset = 0;
    msgpack::object_handle oh =
        msgpack::unpack(frame.data(), frame.size(), offset, nullptr, nullptr, limit);
    if (offset != frame.size())
      return DecodeError{"trailing bytes after message (" + std::to_string(frame.size() - offset) +
                         ")"};
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 3)
      return DecodeError{"frame is not an array of [version, type, body]"};
    const msgpack::object* a = o.via.array.ptr;
    if (a[0].type != msgpack::type::POSITIVE_INTEGER)
      return DecodeError{"protocol version is not an unsigned integer"};
    if (a[0].via.u64 != kVersion)
      return DecodeError{"protocol version " + std::to_string(a[0].via.u64) + " (expected " +
                         std::to_string(kVersion) + ")"};
    if (a[1].type != msgpack::type::POSITIVE_INTEGER || a[1].via.u64 > 255)
      return DecodeError{"message type is not a small unsigned integer"};
    auto result = body_as(static_cast<MsgType>(a[1].via.u64), a[2]);
    // Message holds std::strings copied out of the zone, so `oh` may die here.
    return result;
  } catch (const std::exception& e) {
    return DecodeError{std::string("not a valid msgpack frame: ") + e.what()};
  }
}

}  // namespace ff::proto
