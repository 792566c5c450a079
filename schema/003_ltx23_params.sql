-- 003_ltx23_params: the job parameters of the real LTX-2.3 pipelines.
--
-- One row per params key in framefarm.job_param_keys: kind, range, step rule, default and what it
-- means. The trigger validates every key of jobs.params against it, so a later migration adds a
-- key by INSERTing a row (kinds integer/number with bounds and an optional step rule, boolean,
-- string with optional choices). The same table exists in C++ (common/job_params.hpp: the CLI
-- checks flags with it before talking to the database, the dispatcher decodes rows with it);
-- tests/dispatcher/test_pg_params.cpp checks that both agree row for row and message for message.
--
-- Defaults are the reference's (ltx-pipelines utils/constants.py LTX_2_3_PARAMS): 1536x1024 out of
-- a 768x512 stage 1, 121 frames at 24 fps, 30 steps, seed 10; guidance video cfg 3 / stg 1 /
-- modality 3 / rescale 0.7, audio cfg 7 / stg 1 / modality 3 / rescale 0.7.
-- Replaces 001's stand-in keys: guidance_scale becomes video_cfg (existing rows are rewritten).
-- The negative prompt defaults to the reference's DEFAULT_NEGATIVE_PROMPT: an INSERT without one,
-- or with NULL, stores that text (an explicit '' still means "no negative prompt").

CREATE TABLE framefarm.job_param_keys (
  key           text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
  kind          text NOT NULL CHECK (kind IN ('integer', 'number', 'boolean', 'string')),
  min_value     numeric,                      -- integer/number: inclusive bounds
  max_value     numeric,
  step          bigint CHECK (step >= 2),     -- integer: value = step*k + step_offset
  step_offset   bigint NOT NULL DEFAULT 0,
  step_reason   text NOT NULL DEFAULT '',     -- why the step rule holds (ends its message)
  choices       text[] CHECK (cardinality(choices) > 0),  -- string: the allowed values
  default_value jsonb NOT NULL,               -- what the worker uses when the key is absent
  doc           text NOT NULL,
  CONSTRAINT job_param_keys_bounds CHECK (
    (kind IN ('integer', 'number')) = (min_value IS NOT NULL AND max_value IS NOT NULL)
    AND (min_value IS NULL OR min_value <= max_value)),
  CONSTRAINT job_param_keys_step_on_integers CHECK (step IS NULL OR kind = 'integer'),
  CONSTRAINT job_param_keys_choices_on_strings CHECK (choices IS NULL OR kind = 'string')
);
COMMENT ON TABLE framefarm.job_param_keys IS
  'the keys of framefarm.jobs.params (common/job_params.hpp is the same table in C++)';

INSERT INTO framefarm.job_param_keys
  (key, kind, min_value, max_value, step, step_offset, step_reason, default_value, doc) VALUES
  ('width', 'integer', 64, 4096, 64, 0, 'stage 1 runs at half size on 32-px latent cells', '1536',
   'output width in pixels'),
  ('height', 'integer', 64, 4096, 64, 0, 'stage 1 runs at half size on 32-px latent cells', '1024',
   'output height in pixels'),
  ('num_frames', 'integer', 1, 1025, 8, 1, 'the video VAE encodes 1 + 8k frames', '121',
   'frames of the output video'),
  ('frame_rate', 'integer', 1, 240, NULL, 0, '', '24',
   'frames per second (also sets the audio length)'),
  ('num_inference_steps', 'integer', 1, 500, NULL, 0, '', '30', 'stage-1 denoising steps'),
  ('seed', 'integer', 0, 9223372036854775807, NULL, 0, '', '10', 'noise seed'),
  ('video_cfg', 'number', 0, 100, NULL, 0, '', '3',
   'video classifier-free guidance scale (1 = off)'),
  ('video_stg', 'number', 0, 100, NULL, 0, '', '1',
   'video spatio-temporal guidance scale (0 = off)'),
  ('video_modality', 'number', 0, 100, NULL, 0, '', '3',
   'video modality guidance scale (1 = off)'),
  ('video_rescale', 'number', 0, 1, NULL, 0, '', '0.7',
   'video guidance rescale toward the conditional std (0 = off)'),
  ('audio_cfg', 'number', 0, 100, NULL, 0, '', '7',
   'audio classifier-free guidance scale (1 = off)'),
  ('audio_stg', 'number', 0, 100, NULL, 0, '', '1',
   'audio spatio-temporal guidance scale (0 = off)'),
  ('audio_modality', 'number', 0, 100, NULL, 0, '', '3',
   'audio modality guidance scale (1 = off)'),
  ('audio_rescale', 'number', 0, 1, NULL, 0, '', '0.7',
   'audio guidance rescale toward the conditional std (0 = off)');

-- The message for one key's value, or NULL when it is valid. Checks, in order: known key, JSON
-- type, range, step rule, choices. Every message names the rule; C++ writes the same bytes.
CREATE FUNCTION framefarm.job_param_error(k text, v jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  s framefarm.job_param_keys;
  json_type text;
  n numeric;
  msg text;
BEGIN
  SELECT * INTO s FROM framefarm.job_param_keys p WHERE p.key = k;
  IF NOT FOUND THEN
    RETURN format('unknown key "%s" in params (allowed: %s)', k,
                  (SELECT string_agg(p.key, ', ' ORDER BY p.key COLLATE "C") FROM framefarm.job_param_keys p));
  END IF;
  json_type := CASE WHEN s.kind = 'integer' THEN 'number' ELSE s.kind END;
  IF jsonb_typeof(v) <> json_type THEN
    RETURN format('params.%s must be a JSON %s, got %s', k, s.kind, v);
  END IF;
  IF s.kind = 'string' THEN
    IF s.choices IS NOT NULL AND NOT (v #>> '{}') = ANY (s.choices) THEN
      RETURN format('params.%s = %s is not one of %s', k, v, array_to_string(s.choices, ', '));
    END IF;
    RETURN NULL;
  END IF;
  IF s.kind = 'boolean' THEN
    RETURN NULL;
  END IF;
  n := (v #>> '{}')::numeric;
  IF s.kind = 'integer' AND n <> trunc(n) THEN
    RETURN format('params.%s must be a JSON integer, got %s', k, v);
  END IF;
  IF n < s.min_value OR n > s.max_value THEN
    RETURN format('params.%s = %s is out of range [%s, %s]', k, v, s.min_value, s.max_value);
  END IF;
  IF s.step IS NOT NULL AND mod(n - s.step_offset, s.step) <> 0 THEN
    msg := format('params.%s = %s must be %s (e.g. %s)', k, v,
                  CASE WHEN s.step_offset = 0 THEN 'a multiple of ' || s.step
                       ELSE s.step || 'k+' || s.step_offset END,
                  s.default_value);
    IF s.step_reason <> '' THEN
      msg := msg || ': ' || s.step_reason;
    END IF;
    RETURN msg;
  END IF;
  RETURN NULL;
END $$;

-- The first problem of a whole params value (keys in jsonb order), or NULL.
CREATE FUNCTION framefarm.job_params_error(p jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
  v jsonb;
  e text;
BEGIN
  IF p IS NULL OR jsonb_typeof(p) <> 'object' THEN
    RETURN format('params must be a JSON object, got %s', coalesce(p::text, 'NULL'));
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(p) LOOP
    e := framefarm.job_param_error(k, v);
    IF e IS NOT NULL THEN
      RETURN e;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- ltx-pipelines DEFAULT_NEGATIVE_PROMPT (1171 bytes), verbatim.
CREATE FUNCTION framefarm.default_negative_prompt() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT text
  'has_subtitles, has_blurbox, transition from black, transition to black, speech_ending_short, '
  'blurry, out of focus, overexposed, underexposed, low contrast, washed out colors, excessive '
  'noise, grainy texture, poor lighting, flickering, motion blur, distorted proportions, '
  'unnatural skin tones, deformed facial features, asymmetrical face, missing facial features, '
  'extra limbs, disfigured hands, wrong hand count, artifacts around text, inconsistent '
  'perspective, camera shake, incorrect depth of field, background too sharp, background '
  'clutter, distracting reflections, harsh shadows, inconsistent lighting direction, color '
  'banding, cartoonish rendering, 3D CGI look, unrealistic materials, uncanny valley effect, '
  'incorrect ethnicity, wrong gender, exaggerated expressions, wrong gaze direction, mismatched '
  'lip sync, silent or muted audio, distorted voice, robotic voice, echo, background noise, '
  'off-sync audio, incorrect dialogue, added dialogue, repetitive speech, jittery movement, '
  'awkward pauses, incorrect timing, unnatural transitions, inconsistent framing, tilted '
  'camera, flat lighting, inconsistent tone, cinematic oversaturation, stylized filters, or AI '
  'artifacts.'
$$;
ALTER TABLE framefarm.jobs ALTER COLUMN negative_prompt SET DEFAULT framefarm.default_negative_prompt();

-- Same rules as 001 for the prompts; params through the key table; NULL negative -> the default.
CREATE OR REPLACE FUNCTION framefarm.validate_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  e text;
BEGIN
  IF NEW.prompt IS NULL THEN
    RAISE EXCEPTION 'framefarm.jobs: prompt is required' USING ERRCODE = 'not_null_violation';
  END IF;
  IF length(NEW.prompt) = 0 THEN
    RAISE EXCEPTION 'framefarm.jobs: prompt must not be empty' USING ERRCODE = 'check_violation';
  END IF;
  IF octet_length(NEW.prompt) > 8192 THEN
    RAISE EXCEPTION 'framefarm.jobs: prompt is % bytes, the maximum is 8192 bytes of UTF-8',
      octet_length(NEW.prompt) USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.negative_prompt IS NULL THEN
    NEW.negative_prompt := framefarm.default_negative_prompt();
  END IF;
  IF octet_length(NEW.negative_prompt) > 8192 THEN
    RAISE EXCEPTION 'framefarm.jobs: negative_prompt is % bytes, the maximum is 8192 bytes of UTF-8',
      octet_length(NEW.negative_prompt) USING ERRCODE = 'check_violation';
  END IF;
  e := framefarm.job_params_error(NEW.params);
  IF e IS NOT NULL THEN
    RAISE EXCEPTION 'framefarm.jobs: %', e USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

-- Existing rows: guidance_scale -> video_cfg (without re-validating history); waiting jobs whose
-- params break the new rules (e.g. a 32-px width) end dead as bad_input, saying why.
ALTER TABLE framefarm.jobs DISABLE TRIGGER jobs_validate;
UPDATE framefarm.jobs
   SET params = (params - 'guidance_scale') || jsonb_build_object('video_cfg', params -> 'guidance_scale')
 WHERE params ? 'guidance_scale';
UPDATE framefarm.jobs
   SET state = 'dead', error_kind = 'bad_input', finished_at = now(),
       error = '003_ltx23_params: ' || framefarm.job_params_error(params)
 WHERE state IN ('queued', 'retry_wait') AND framefarm.job_params_error(params) IS NOT NULL;
ALTER TABLE framefarm.jobs ENABLE TRIGGER jobs_validate;

DROP TABLE framefarm.job_param_limits;
COMMENT ON COLUMN framefarm.jobs.params IS 'keys of framefarm.job_param_keys; absent keys take its default_value';
GRANT SELECT ON framefarm.job_param_keys TO framefarm_submitter;
