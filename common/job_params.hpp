// The job parameters (the keys of framefarm.jobs.params), defined once for C++: key, kind,
// range, step rule and the proto::JobParams member each decodes into; and the bounds of the
// row's other submitted columns (priority, max_attempts, prompt, model, ...). Defaults are the
// JobParams member initializers (common/protocol.hpp), which are the LTX-2.3 reference's
// (ltx-pipelines utils/constants.py LTX_2_3_PARAMS).
//
// Who uses it:
//   - `framefarm-dispatcher submit`: one flag per key, checked here before any database
//     connection (same messages as the database's trigger);
//   - the dispatcher's claim (dispatcher/job_store.cpp): a row's params JSON -> JobParams;
//   - tests: schema/003_ltx23_params.sql's framefarm.job_param_keys must list exactly these keys
//     with the same kind, range, step rule, default and doc (tests/dispatcher/test_pg_params.cpp),
//     and JobParams' msgpack map must hold exactly these keys (tests/common/test_job_params.cpp).
//
// Messages are byte-identical to the trigger's (after its "framefarm.jobs: " prefix):
//   unknown key "widht" in params (allowed: audio_cfg, ..., width)
//   params.width must be a JSON integer, got "512"
//   params.width = 8 is out of range [64, 4096]
//   params.num_frames = 10 must be 8k+1 (e.g. 121): <step reason>
//   params.width = 100 must be a multiple of 64 (e.g. 1536): <step reason>
//   params.preset = "x" is not one of a, b
//
// Adding a key: a member in JobParams (and its name in common/protocol_msgpack.hpp), a row in kParamSpecs, a row
// INSERTed into framefarm.job_param_keys by a new schema/NNN_*.sql. The tests fail until all
// three agree. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/json_fields.hpp"
#include "common/protocol.hpp"

namespace ff::params {

// The jobs row's own bounded columns besides params: the bounds and defaults of
// schema/001_jobs.sql's CHECK constraints and column defaults, which `submit` applies before it
// connects (tests/common/test_job_params_pg.cpp checks them against a real database).
struct IntColumn {
  std::string_view column;
  int64_t min, max;       // inclusive
  int64_t default_value;  // the column's DEFAULT (what a job submitted without it gets)
};
inline constexpr IntColumn kPriority{"priority", -1000000, 1000000, 0};  // higher runs first
inline constexpr IntColumn kMaxAttempts{"max_attempts", 1, 100, 3};
inline constexpr IntColumn kRowInts[] = {kPriority, kMaxAttempts};

struct TextColumn {
  std::string_view column;
  size_t min_bytes, max_bytes;  // octet_length bounds (UTF-8 bytes)
};
inline constexpr TextColumn kPrompt{"prompt", 1, proto::kMaxPromptBytes};
inline constexpr TextColumn kNegativePrompt{"negative_prompt", 0, proto::kMaxPromptBytes};
inline constexpr TextColumn kModel{"model", 0, 200};  // "" = any worker's model
inline constexpr TextColumn kIdempotencyKey{"idempotency_key", 1, 200};  // NULL = none
inline constexpr TextColumn kRowTexts[] = {kPrompt, kNegativePrompt, kModel, kIdempotencyKey};

// The JSON type a key accepts; the names are framefarm.job_param_keys.kind.
enum class Kind { kInteger, kNumber, kBoolean, kString };
// "integer", "number", "boolean", "string".
std::string_view kind_name(Kind k);

// Where a key's value lives in JobParams (the member's name is the key).
using Member = std::variant<int32_t proto::JobParams::*, int64_t proto::JobParams::*,
                            double proto::JobParams::*, bool proto::JobParams::*,
                            std::string proto::JobParams::*>;

struct ParamSpec {
  std::string_view key;          // JSON key in jobs.params == the JobParams member name
  std::string_view flag;         // `submit --<flag>`
  Kind kind = Kind::kInteger;
  // integer/number: inclusive bounds as decimal literals, exactly as PostgreSQL prints the
  // numeric columns min_value/max_value (no trailing ".0"); "" for boolean/string.
  std::string_view min, max;
  // integer only: the value must be step*k + step_offset (step 0 = no rule).
  int64_t step = 0;
  int64_t step_offset = 0;
  std::string_view step_reason;  // why the step rule holds (ends the step message)
  std::string_view choices;      // string only: allowed values, ", "-separated ("" = any)
  std::string_view doc;          // one line: what the value means
  Member member;
};

// Every key, sorted by key.
std::span<const ParamSpec> specs();
// The spec of `key`, or nullptr.
const ParamSpec* find(std::string_view key);
// The keys, sorted and ", "-joined: the list in the unknown-key message.
std::string allowed_keys();

// The default of a key (JobParams{}'s member) as JSON text, as PostgreSQL prints the jsonb
// column default_value: 1536, 0.7, true, "veryfast".
std::string default_json(const ParamSpec& s);

// Checks one value. `shown` is how the value is written in the message (the user's literal;
// "" = v.dump()). Returns the message (without "framefarm.jobs: ") or nullopt if valid.
std::optional<std::string> check(const ParamSpec& s, const json::Json& v, std::string_view shown = {});

// Checks a whole params value (must be an object; unknown keys are errors). First error or
// nullopt. Keys are checked in document order.
std::optional<std::string> check_object(const json::Json& params);

// The value of `submit --<flag> TEXT` as JSON: a JSON scalar literal (512, 4.5, true), else (and
// always for string keys) the text itself, which check() then names in its message.
json::Json flag_value(const ParamSpec& s, const std::string& text);

// params JSON text (a jobs.params value) -> JobParams: defaults, then the given keys.
// Throws std::invalid_argument with the check() message when the text is not valid params.
proto::JobParams decode(std::string_view params_json);

// Formats a double the way PostgreSQL prints a numeric holding the same decimal: the shortest
// round-tripping form, without a trailing ".0" (0.7, 100, 1e-05 -> "0.00001").
std::string format_number(double v);

}  // namespace ff::params
