// Every SQL statement of the embedding cache, named and kept together. Table and columns:
// schema/002_prompt_embeddings.sql (framefarm.prompt_embeddings, key (encoder_fingerprint,
// prompt_sha256 = sha256 of the prompt's UTF-8 bytes computed by PostgreSQL, max_length)).
#pragma once

namespace ff::worker::sql {

// True when row `e` is well formed; the same rules as validate_embedding() (C++), so that a put
// can repair a corrupt row. Used inside kUpsert.
#define FF_CACHE_ROW_VALID(e)                                                                      \
  "(" e ".dtype = 'bf16'"                                                                          \
  " AND array_ndims(" e ".video_shape) = 1 AND array_lower(" e ".video_shape, 1) = 1"              \
  " AND array_length(" e ".video_shape, 1) = 2"                                                    \
  " AND array_ndims(" e ".audio_shape) = 1 AND array_lower(" e ".audio_shape, 1) = 1"              \
  " AND array_length(" e ".audio_shape, 1) = 2"                                                    \
  " AND " e ".real_tokens BETWEEN 1 AND " e ".max_length"                                          \
  " AND " e ".video_shape[1] = " e ".audio_shape[1]"                                               \
  " AND " e ".video_shape[1] IN (" e ".real_tokens, " e ".max_length)"                             \
  " AND " e ".video_shape[2] BETWEEN 1 AND 1048576 AND " e ".audio_shape[2] BETWEEN 1 AND 1048576" \
  " AND octet_length(" e ".video) = " e ".video_shape[1] * " e ".video_shape[2] * 2"               \
  " AND octet_length(" e ".audio) = " e ".audio_shape[1] * " e ".audio_shape[2] * 2)"

// Looks up many prompts in one round trip and refreshes last_used_at of the found rows and of
// the RAM-hit prompts in $4, but only where it is older than $5 ms (locked rows are skipped,
// so a lookup never waits). $1 fingerprint, $2 max_length, $3 text[] prompts to fetch,
// $4 text[] prompts to touch only, $5 touch interval ms.
// Returns: ord (1-based index into $3), real_tokens, dtype, video_shape::text, audio_shape::text,
// video, audio, prompt_sha256 as hex.
inline constexpr const char* kLookupName = "ff_cache_lookup";
inline constexpr const char* kLookup = R"SQL(
WITH wanted AS (
  SELECT p.prompt, p.ord, sha256(convert_to(p.prompt, 'UTF8')) AS sha
  FROM unnest($3::text[]) WITH ORDINALITY AS p(prompt, ord)
), stale AS (
  SELECT t.encoder_fingerprint, t.prompt_sha256, t.max_length
  FROM framefarm.prompt_embeddings t
  WHERE t.encoder_fingerprint = $1 AND t.max_length = $2
    AND t.prompt_sha256 IN (SELECT sha FROM wanted
                            UNION ALL
                            SELECT sha256(convert_to(x, 'UTF8')) FROM unnest($4::text[]) AS x)
    AND coalesce(t.last_used_at, '-infinity') < now() - make_interval(secs => $5::int8 / 1000.0)
  ORDER BY t.prompt_sha256
  FOR UPDATE SKIP LOCKED
), touched AS (
  UPDATE framefarm.prompt_embeddings e SET last_used_at = now()
  FROM stale s
  WHERE e.encoder_fingerprint = s.encoder_fingerprint AND e.prompt_sha256 = s.prompt_sha256
    AND e.max_length = s.max_length
  RETURNING 1
)
SELECT w.ord, e.real_tokens, e.dtype, e.video_shape::text, e.audio_shape::text, e.video, e.audio,
       encode(w.sha, 'hex')
FROM wanted w
JOIN framefarm.prompt_embeddings e
  ON e.encoder_fingerprint = $1 AND e.prompt_sha256 = w.sha AND e.max_length = $2
)SQL";

// Stores many embeddings in one round trip. Concurrent writers of one key are safe: the first
// insert wins; a later one only replaces a row that is not well formed (a corrupt row is
// repaired by re-encoding), else it leaves the row alone. Rows are inserted in key order so that
// two writers of overlapping batches cannot deadlock.
// $1 fingerprint, $2 max_length, $3 text[] prompts (distinct), $4 int4[] real_tokens,
// $5/$6 int8[] video rows/dims, $7/$8 int8[] audio rows/dims, $9 bytea all video payloads
// concatenated, $10 int8[] their 0-based offsets, $11 bytea audio payloads, $12 int8[] offsets.
inline constexpr const char* kUpsertName = "ff_cache_upsert";
inline constexpr const char* kUpsert = R"SQL(
INSERT INTO framefarm.prompt_embeddings AS e
  (encoder_fingerprint, prompt_sha256, max_length, real_tokens, dtype, video_shape, audio_shape,
   video, audio, created_at, last_used_at)
SELECT $1, p.sha, $2, p.real_tokens, 'bf16', ARRAY[p.vr, p.vd], ARRAY[p.ar, p.ad],
       substring($9::bytea FROM (p.voff + 1)::int FOR (p.vr * p.vd * 2)::int),
       substring($11::bytea FROM (p.aoff + 1)::int FOR (p.ar * p.ad * 2)::int),
       now(), now()
FROM (SELECT sha256(convert_to(u.prompt, 'UTF8')) AS sha, u.*
      FROM unnest($3::text[], $4::int4[], $5::int8[], $6::int8[], $7::int8[], $8::int8[],
                  $10::int8[], $12::int8[]) AS u(prompt, real_tokens, vr, vd, ar, ad, voff, aoff)
      ORDER BY 1) p
ON CONFLICT (encoder_fingerprint, prompt_sha256, max_length) DO UPDATE
  SET real_tokens = EXCLUDED.real_tokens, dtype = EXCLUDED.dtype,
      video_shape = EXCLUDED.video_shape, audio_shape = EXCLUDED.audio_shape,
      video = EXCLUDED.video, audio = EXCLUDED.audio, last_used_at = now()
  WHERE )SQL" FF_CACHE_ROW_VALID("e") R"SQL( IS NOT TRUE
)SQL";

// Retention by age: deletes rows (of every fingerprint) unused for more than $1 seconds.
inline constexpr const char* kPruneAgeName = "ff_cache_prune_age";
inline constexpr const char* kPruneAge = R"SQL(
DELETE FROM framefarm.prompt_embeddings
WHERE coalesce(last_used_at, created_at, '-infinity') < now() - make_interval(secs => $1::int8)
)SQL";

// Retention by count: keeps the $1 most recently used rows (of every fingerprint), deletes the
// rest. Rows locked by a concurrent writer or toucher are skipped (kept) this time.
inline constexpr const char* kPruneRowsName = "ff_cache_prune_rows";
inline constexpr const char* kPruneRows = R"SQL(
DELETE FROM framefarm.prompt_embeddings e
USING (SELECT encoder_fingerprint, prompt_sha256, max_length
       FROM framefarm.prompt_embeddings
       ORDER BY last_used_at DESC NULLS LAST, created_at DESC NULLS LAST, prompt_sha256
       OFFSET $1::int8
       FOR UPDATE SKIP LOCKED) old
WHERE e.encoder_fingerprint = old.encoder_fingerprint AND e.prompt_sha256 = old.prompt_sha256
  AND e.max_length = old.max_length
)SQL";

#undef FF_CACHE_ROW_VALID

}  // namespace ff::worker::sql
