#include "worker/embedding_cache_store.hpp"

#include <stdexcept>

#include <pqxx/pqxx>

#include "worker/embedding_cache_sql.hpp"
#include "worker/embedding_cache_validate.hpp"

namespace ff::worker {
namespace {

// Upper bound on the payload bytes sent in one upsert statement (a bytea value may not exceed
// 1 GB; this keeps each statement and its copies well below that).
constexpr uint64_t kMaxUpsertPayloadBytes = 256ull << 20;

std::string int_array(const std::vector<int64_t>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "}";
}

std::string key_text(const std::string& fingerprint, const std::string& sha_hex, int32_t max_length) {
  return "(encoder_fingerprint=" + fingerprint + ", prompt_sha256=" + sha_hex +
         ", max_length=" + std::to_string(max_length) + ")";
}

[[noreturn]] void rethrow_db(const char* what, const std::exception& e) {
  throw std::runtime_error(std::string("embedding cache: ") + what + " failed: " + e.what());
}

}  // namespace

bool is_storable_text(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c == 0) return false;
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += len;
  }
  return true;
}

std::string pg_text_array(const std::vector<const std::string*>& items) {
  std::string s = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s += ',';
    s += '"';
    for (char c : *items[i]) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += '"';
  }
  return s + "}";
}

std::optional<std::vector<int64_t>> parse_pg_int_array(const std::string& text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return std::nullopt;
  std::vector<int64_t> out;
  const std::string body = text.substr(1, text.size() - 2);
  if (body.empty()) return out;
  size_t pos = 0;
  while (true) {
    const size_t comma = body.find(',', pos);
    const std::string item = body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.empty() || item.size() > 19) return std::nullopt;
    size_t k = (item[0] == '-') ? 1 : 0;
    if (k == item.size()) return std::nullopt;
    for (size_t j = k; j < item.size(); ++j)
      if (item[j] < '0' || item[j] > '9') return std::nullopt;
    out.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

EmbeddingStore::EmbeddingStore(std::string database_url, std::string encoder_fingerprint,
                               int32_t max_length)
    : url_(std::move(database_url)), fingerprint_(std::move(encoder_fingerprint)),
      max_length_(max_length) {}

EmbeddingStore::~EmbeddingStore() = default;

void EmbeddingStore::connect() { conn(); }

pqxx::connection& EmbeddingStore::conn() {
  if (conn_ && !conn_->is_open()) conn_.reset();
  if (!conn_) {
    try {
      auto c = std::make_unique<pqxx::connection>(url_);
      c->set_client_encoding("UTF8");
      c->prepare(sql::kLookupName, sql::kLookup);
      c->prepare(sql::kUpsertName, sql::kUpsert);
      c->prepare(sql::kPruneAgeName, sql::kPruneAge);
      c->prepare(sql::kPruneRowsName, sql::kPruneRows);
      // Prepare now, so that a missing table or column is reported at connect time.
      for (const char* name : {sql::kLookupName, sql::kUpsertName, sql::kPruneAgeName,
                               sql::kPruneRowsName})
        c->prepare_now(name);
      conn_ = std::move(c);
    } catch (const std::exception& e) {
      rethrow_db("connecting to the database", e);
    }
  }
  return *conn_;
}

std::vector<StoreLookup> EmbeddingStore::get_many(const std::vector<std::string>& prompts,
                                                  const std::vector<std::string>& touch_only,
                                                  int64_t touch_interval_ms) {
  std::vector<StoreLookup> out(prompts.size());
  if (prompts.empty() && touch_only.empty()) return out;
  std::vector<const std::string*> want, touch;
  for (const auto& p : prompts) want.push_back(&p);
  for (const auto& p : touch_only) touch.push_back(&p);
  pqxx::result r;
  try {
    pqxx::work tx(conn(), "ff_cache_lookup");
    r = tx.exec_prepared(sql::kLookupName, fingerprint_, max_length_, pg_text_array(want),
                         pg_text_array(touch), touch_interval_ms);
    tx.commit();
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    rethrow_db("lookup", e);
  } catch (const std::exception& e) {
    rethrow_db("lookup", e);
  }
  for (const auto& row : r) {
    const int64_t ord = row[0].as<int64_t>();
    if (ord < 1 || ord > int64_t(out.size())) continue;
    StoreLookup& slot = out[size_t(ord - 1)];
    const std::string key = key_text(fingerprint_, row[7].as<std::string>(), max_length_);
    auto bad = [&](const std::string& why) { slot.invalid = key + ": " + why; };
    for (int c = 1; c <= 6; ++c) {
      if (row[c].is_null()) {
        bad(std::string("column ") + row[c].name() + " is NULL");
        break;
      }
    }
    if (slot.invalid) continue;
    proto::PromptEmbedding emb;
    emb.real_tokens = row[1].as<int32_t>();
    emb.video.dtype = row[2].as<std::string>();
    emb.audio.dtype = emb.video.dtype;
    auto vshape = parse_pg_int_array(row[3].as<std::string>());
    auto ashape = parse_pg_int_array(row[4].as<std::string>());
    if (!vshape) { bad("video_shape " + row[3].as<std::string>() + " is not a 1-D int8 array"); continue; }
    if (!ashape) { bad("audio_shape " + row[4].as<std::string>() + " is not a 1-D int8 array"); continue; }
    emb.video.shape = *vshape;
    emb.audio.shape = *ashape;
    emb.video.data = pqxx::binarystring(row[5]).str();
    emb.audio.data = pqxx::binarystring(row[6]).str();
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
    uint64_t bytes = 0;
    while (end < prompts.size()) {
      const uint64_t b = embs[end]->video.data.size() + embs[end]->audio.data.size();
      if (end > begin && bytes + b > kMaxUpsertPayloadBytes) break;
      bytes += b;
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
    const pqxx::binarystring vbin(vblob), abin(ablob);
    vblob.clear(); vblob.shrink_to_fit();
    ablob.clear(); ablob.shrink_to_fit();
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::work tx(conn(), "ff_cache_upsert");
        tx.exec_prepared(sql::kUpsertName, fingerprint_, max_length_, pg_text_array(ps),
                         int_array(real), int_array(vr), int_array(vd), int_array(ar),
                         int_array(ad), vbin, int_array(voff), abin, int_array(aoff));
        tx.commit();
        break;
      } catch (const pqxx::transaction_rollback& e) {
        if (attempt >= 3) rethrow_db("upsert", e);
      } catch (const pqxx::broken_connection& e) {
        conn_.reset();
        rethrow_db("upsert", e);
      } catch (const std::exception& e) {
        rethrow_db("upsert", e);
      }
    }
    begin = end;
  }
}

int64_t EmbeddingStore::prune(int64_t max_rows, int64_t max_age_s) {
  int64_t deleted = 0;
  try {
    pqxx::work tx(conn(), "ff_cache_prune");
    if (max_age_s > 0) deleted += tx.exec_prepared(sql::kPruneAgeName, max_age_s).affected_rows();
    if (max_rows > 0) deleted += tx.exec_prepared(sql::kPruneRowsName, max_rows).affected_rows();
    tx.commit();
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    rethrow_db("prune", e);
  } catch (const std::exception& e) {
    rethrow_db("prune", e);
  }
  return deleted;
}

}  // namespace ff::worker
