#include "worker/cache/store.hpp"

#include <stdexcept>

#include "common/pg_array.hpp"
#include "worker/cache/pg_connection.hpp"
#include "worker/cache/sql.hpp"
#include "worker/cache/validate.hpp"

namespace ff::worker {
namespace {

// Upper bound on the payload bytes sent in one upsert statement (a bytea value may not exceed
// 1 GB; this keeps each statement and its copies well below that).
constexpr uint64_t kMaxUpsertPayloadBytes = 256ull << 20;

std::string key_text(const std::string& fingerprint, const std::string& sha_hex, int32_t max_length) {
  return "(encoder_fingerprint=" + fingerprint + ", prompt_sha256=" + sha_hex +
         ", max_length=" + std::to_string(max_length) + ")";
}

[[noreturn]] void rethrow_db(const char* what, const std::exception& e) {
  throw std::runtime_error(std::string("embedding cache: ") + what + " failed: " + e.what());
}

}  // namespace

EmbeddingStore::EmbeddingStore(std::string database_url, std::string encoder_fingerprint,
                               int32_t max_length)
    : url_(std::move(database_url)), fingerprint_(std::move(encoder_fingerprint)),
      max_length_(max_length) {}

EmbeddingStore::~EmbeddingStore() = default;

void EmbeddingStore::connect() { conn(); }

PgConnection& EmbeddingStore::conn() {
  if (conn_ && !conn_->ok()) conn_.reset();
  if (!conn_) {
    try {
      conn_ = std::make_unique<PgConnection>(
          url_, std::vector<std::pair<std::string, std::string>>{
                    {sql::kLookupName, sql::kLookup},
                    {sql::kUpsertName, sql::kUpsert},
                    {sql::kPruneAgeName, sql::kPruneAge},
                    {sql::kPruneRowsName, sql::kPruneRows}});
    } catch (const std::exception& e) {
      rethrow_db("connecting to the database", e);
    }
  }
  return *conn_;
}

PgResult EmbeddingStore::exec(const char* what, const std::string& name,
                              const std::vector<PgParam>& params, bool binary_result,
                              int attempts) {
  for (int attempt = 1;; ++attempt) {
    try {
      return conn().exec_prepared(name, params, binary_result);
    } catch (const PgError& e) {
      if (conn_ && !conn_->ok()) conn_.reset();
      if (e.retryable() && attempt < attempts) continue;
      rethrow_db(what, e);
    } catch (const std::runtime_error&) {
      throw;  // from conn(): already names the failure
    }
  }
}

namespace {
PgParam text(const std::string& s) { return PgParam{std::string_view(s), false}; }
PgParam bytes(const std::string& s) { return PgParam{std::string_view(s), true}; }
}  // namespace

std::vector<StoreLookup> EmbeddingStore::get_many(const std::vector<std::string>& prompts,
                                                  const std::vector<std::string>& touch_only,
                                                  int64_t touch_interval_ms) {
  std::vector<StoreLookup> out(prompts.size());
  if (prompts.empty() && touch_only.empty()) return out;
  std::vector<const std::string*> want, touch;
  for (const auto& p : prompts) want.push_back(&p);
  for (const auto& p : touch_only) touch.push_back(&p);
  const std::string max_len = std::to_string(max_length_), want_arr = pg::text_array(want),
                    touch_arr = pg::text_array(touch), interval = std::to_string(touch_interval_ms);
  // Binary result: bytea arrives as raw bytes; int8/int4 big-endian; text columns as is.
  const PgResult r = exec("lookup", sql::kLookupName,
                          {text(fingerprint_), text(max_len), text(want_arr), text(touch_arr),
                           text(interval)},
                          /*binary_result=*/true, /*attempts=*/3);
  for (int row = 0; row < r.rows(); ++row) {
    if (r.is_null(row, 0) || r.is_null(row, 7)) continue;
    const int64_t ord = pg_binary_int(r.cell(row, 0));
    if (ord < 1 || ord > int64_t(out.size())) continue;
    StoreLookup& slot = out[size_t(ord - 1)];
    const std::string key = key_text(fingerprint_, std::string(r.cell(row, 7)), max_length_);
    auto bad = [&](const std::string& why) { slot.invalid = key + ": " + why; };
    for (int c = 1; c <= 6 && !slot.invalid; ++c)
      if (r.is_null(row, c)) bad("column " + r.column_name(c) + " is NULL");
    if (slot.invalid) continue;
    proto::PromptEmbedding emb;
    emb.real_tokens = int32_t(pg_binary_int(r.cell(row, 1)));
    emb.video.dtype = std::string(r.cell(row, 2));
    emb.audio.dtype = emb.video.dtype;
    const std::string vtext(r.cell(row, 3)), atext(r.cell(row, 4));
    auto vshape = pg::parse_int_array(vtext);
    auto ashape = pg::parse_int_array(atext);
    if (!vshape) { bad("video_shape " + vtext + " is not a 1-D int8 array"); continue; }
    if (!ashape) { bad("audio_shape " + atext + " is not a 1-D int8 array"); continue; }
    emb.video.shape = *vshape;
    emb.audio.shape = *ashape;
    emb.video.data = std::string(r.cell(row, 5));
    emb.audio.data = std::string(r.cell(row, 6));
    if (auto why = validate_embedding(emb, max_length_)) { bad(*why); continue; }
    slot.emb = std::move(emb);
  }
  return out;
}

void EmbeddingStore::put_many(const std::vector<const std::string*>& prompts,
                              const std::vector<const proto::PromptEmbedding*>& embs) {
  size_t begin = 0;
  while (begin < prompts.size()) {
    // One statement per chunk of at most kMaxUpsertPayloadBytes (always at least one row).
    size_t end = begin;
    uint64_t bytes_in_chunk = 0;
    while (end < prompts.size()) {
      const uint64_t b = embs[end]->video.data.size() + embs[end]->audio.data.size();
      if (end > begin && bytes_in_chunk + b > kMaxUpsertPayloadBytes) break;
      bytes_in_chunk += b;
      ++end;
    }
    std::vector<const std::string*> ps(prompts.begin() + long(begin), prompts.begin() + long(end));
    std::vector<int64_t> real, vr, vd, ar, ad, voff, aoff;
    std::string vblob, ablob;
    for (size_t i = begin; i < end; ++i) {
      const proto::PromptEmbedding& e = *embs[i];
      real.push_back(e.real_tokens);
      vr.push_back(e.video.shape.at(0));
      vd.push_back(e.video.shape.at(1));
      ar.push_back(e.audio.shape.at(0));
      ad.push_back(e.audio.shape.at(1));
      voff.push_back(int64_t(vblob.size()));
      aoff.push_back(int64_t(ablob.size()));
      vblob += e.video.data;
      ablob += e.audio.data;
    }
    const std::string max_len = std::to_string(max_length_), parr = pg::text_array(ps),
                      a_real = pg::int_array(real), a_vr = pg::int_array(vr), a_vd = pg::int_array(vd),
                      a_ar = pg::int_array(ar), a_ad = pg::int_array(ad), a_voff = pg::int_array(voff),
                      a_aoff = pg::int_array(aoff);
    // Deadlocks are prevented by key-ordered inserts; a retry covers serialization failures.
    exec("upsert", sql::kUpsertName,
         {text(fingerprint_), text(max_len), text(parr), text(a_real), text(a_vr), text(a_vd),
          text(a_ar), text(a_ad), bytes(vblob), text(a_voff), bytes(ablob), text(a_aoff)},
         /*binary_result=*/false, /*attempts=*/3);
    begin = end;
  }
}

int64_t EmbeddingStore::prune(int64_t max_rows, int64_t max_age_s) {
  int64_t deleted = 0;
  if (max_age_s > 0) {
    const std::string age = std::to_string(max_age_s);
    deleted += exec("prune by age", sql::kPruneAgeName, {text(age)}, false, 3).affected_rows();
  }
  if (max_rows > 0) {
    const std::string rows = std::to_string(max_rows);
    deleted += exec("prune by rows", sql::kPruneRowsName, {text(rows)}, false, 3).affected_rows();
  }
  return deleted;
}

}  // namespace ff::worker
