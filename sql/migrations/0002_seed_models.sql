-- Seed price table. Nano-dollars per million tokens: $1.00/Mtok = 1000000000.
-- Columns: input, cached input (cache read), cache write, output.
-- INSERT IGNORE keeps prices an operator has already changed, so re-running
-- this file is a no-op. Providers without a cache-write surcharge (OpenAI)
-- carry cache_write = input, so the cost formula stays one formula.
-- List prices as published by the providers (2025), standard tier, 5 minute
-- Anthropic cache writes. Dated snapshot ids are priced like their aliases
-- because providers report them back in responses.
-- A statement ends at a line that ends with a semicolon (how
-- `agentrunctl migrate` splits files), so each row may carry a trailing comment.

INSERT IGNORE INTO models
  (provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd, cache_write_per_mtok_nusd, output_per_mtok_nusd, created_at, updated_at)
VALUES
  ('scripted', 'echo',   1000000000, 100000000, 1250000000, 2000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $1.00, cached $0.10, write $1.25, out $2.00
  ('scripted', 'script', 1000000000, 100000000, 1250000000, 2000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))  -- in $1.00, cached $0.10, write $1.25, out $2.00
;

INSERT IGNORE INTO models
  (provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd, cache_write_per_mtok_nusd, output_per_mtok_nusd, created_at, updated_at)
VALUES
  ('openai', 'gpt-4o',                  2500000000, 1250000000, 2500000000, 10000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $2.50, cached $1.25, write $2.50, out $10.00
  ('openai', 'gpt-4o-2024-08-06',       2500000000, 1250000000, 2500000000, 10000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $2.50, cached $1.25, write $2.50, out $10.00
  ('openai', 'gpt-4o-2024-11-20',       2500000000, 1250000000, 2500000000, 10000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $2.50, cached $1.25, write $2.50, out $10.00
  ('openai', 'gpt-4o-mini',              150000000,   75000000,  150000000,   600000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $0.15, cached $0.075, write $0.15, out $0.60
  ('openai', 'gpt-4o-mini-2024-07-18',   150000000,   75000000,  150000000,   600000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $0.15, cached $0.075, write $0.15, out $0.60
  ('openai', 'gpt-4.1',                 2000000000,  500000000, 2000000000,  8000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $2.00, cached $0.50, write $2.00, out $8.00
  ('openai', 'gpt-4.1-2025-04-14',      2000000000,  500000000, 2000000000,  8000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $2.00, cached $0.50, write $2.00, out $8.00
  ('openai', 'gpt-4.1-mini',             400000000,  100000000,  400000000,  1600000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $0.40, cached $0.10, write $0.40, out $1.60
  ('openai', 'gpt-4.1-mini-2025-04-14',  400000000,  100000000,  400000000,  1600000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $0.40, cached $0.10, write $0.40, out $1.60
  ('openai', 'o3-mini',                 1100000000,  550000000, 1100000000,  4400000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $1.10, cached $0.55, write $1.10, out $4.40
  ('openai', 'o3-mini-2025-01-31',      1100000000,  550000000, 1100000000,  4400000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))  -- in $1.10, cached $0.55, write $1.10, out $4.40
;

INSERT IGNORE INTO models
  (provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd, cache_write_per_mtok_nusd, output_per_mtok_nusd, created_at, updated_at)
VALUES
  ('anthropic', 'claude-3-5-haiku-latest',    800000000,   80000000,  1000000000,  4000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $0.80, cached $0.08, write $1.00, out $4.00
  ('anthropic', 'claude-3-5-haiku-20241022',  800000000,   80000000,  1000000000,  4000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $0.80, cached $0.08, write $1.00, out $4.00
  ('anthropic', 'claude-3-7-sonnet-latest',  3000000000,  300000000,  3750000000, 15000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $3.00, cached $0.30, write $3.75, out $15.00
  ('anthropic', 'claude-3-7-sonnet-20250219', 3000000000, 300000000,  3750000000, 15000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $3.00, cached $0.30, write $3.75, out $15.00
  ('anthropic', 'claude-sonnet-4-0',         3000000000,  300000000,  3750000000, 15000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $3.00, cached $0.30, write $3.75, out $15.00
  ('anthropic', 'claude-sonnet-4-20250514',  3000000000,  300000000,  3750000000, 15000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $3.00, cached $0.30, write $3.75, out $15.00
  ('anthropic', 'claude-opus-4-0',          15000000000, 1500000000, 18750000000, 75000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3)), -- in $15.00, cached $1.50, write $18.75, out $75.00
  ('anthropic', 'claude-opus-4-20250514',   15000000000, 1500000000, 18750000000, 75000000000, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))  -- in $15.00, cached $1.50, write $18.75, out $75.00
;

-- The first price of every model that has no history yet becomes its first
-- history row (effective from the time it was seeded). Re-running adds nothing.
INSERT IGNORE INTO model_price_history
  (provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd, cache_write_per_mtok_nusd, output_per_mtok_nusd, effective_from, recorded_at, note)
SELECT m.provider, m.model, m.input_per_mtok_nusd, m.cached_input_per_mtok_nusd,
       m.cache_write_per_mtok_nusd, m.output_per_mtok_nusd, m.updated_at, UTC_TIMESTAMP(3), 'seed'
  FROM models m
 WHERE NOT EXISTS (SELECT 1 FROM model_price_history h
                    WHERE h.provider = m.provider AND h.model = m.model)
;
