-- 004_media_params: the MP4's job parameters (the supervisor muxes it, worker/media/).
-- crf and preset are libx264's quality and speed knobs (the LTX-2.3 reference encodes with crf 19,
-- preset veryfast); audio = false leaves the AAC track out. Same rows as common/job_params.cpp.
-- x264's "placebo" preset is left out: it buys nothing over veryslow at many times the time, and
-- one worker muxes its jobs one at a time.
INSERT INTO framefarm.job_param_keys
  (key, kind, min_value, max_value, choices, default_value, doc) VALUES
  ('crf', 'integer', 0, 51, NULL, '19',
   'H.264 constant rate factor of the MP4 (lower = better, larger)'),
  ('preset', 'string', NULL, NULL,
   ARRAY['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower',
         'veryslow'],
   '"veryfast"', 'x264 speed preset of the MP4 (slower = smaller at the same quality)'),
  ('audio', 'boolean', NULL, NULL, NULL, 'true',
   'whether the MP4 carries the generated audio (AAC 48 kHz stereo)');
