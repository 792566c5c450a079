-- 002_prompt_embeddings: the embedding cache (written/read by the worker supervisor).
-- Key: (encoder_fingerprint, prompt_sha256 = sha256 of the prompt's UTF-8 bytes as computed by
-- PostgreSQL's sha256(convert_to(prompt, 'UTF8')), max_length).
CREATE TABLE framefarm.prompt_embeddings (
  encoder_fingerprint text NOT NULL,
  prompt_sha256       bytea NOT NULL CHECK (octet_length(prompt_sha256) = 32),
  max_length          integer NOT NULL CHECK (max_length > 0),
  real_tokens         integer NOT NULL CHECK (real_tokens >= 0),
  dtype               text NOT NULL,
  video_shape         int8[] NOT NULL,
  audio_shape         int8[] NOT NULL,
  video               bytea NOT NULL,
  audio               bytea NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  last_used_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (encoder_fingerprint, prompt_sha256, max_length)
);
-- Embeddings are large and already dense: keep them out of line, uncompressed.
ALTER TABLE framefarm.prompt_embeddings ALTER COLUMN video SET STORAGE EXTERNAL;
ALTER TABLE framefarm.prompt_embeddings ALTER COLUMN audio SET STORAGE EXTERNAL;
CREATE INDEX prompt_embeddings_last_used_idx ON framefarm.prompt_embeddings (last_used_at);
GRANT SELECT ON framefarm.prompt_embeddings TO framefarm_submitter;
