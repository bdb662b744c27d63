-- Integrity of usage and money (issue 14, poison-pill runs).
--
-- 1. runs.takeovers counts the pick-ups of a run whose lease had expired
--    while an executor still held it (that executor died, froze, or gave
--    the run up because it could not commit it). The claim adds 1 when the
--    row still has an owner. After executor.max_takeovers of them the next
--    pick-up ends the run failed with INTERNAL_ERROR instead of resuming it
--    once more (docs/operations.md). runs.attempts still counts every
--    pick-up, parked runs that were answered included.
-- 2. The report views that add rows together (0003_reports.sql) sum into
--    DECIMAL(38,0) and DECIMAL(38,9) instead of casting to BIGINT and
--    DECIMAL(20,9): a cast saturates at the type's largest value with only
--    a warning, so a day's bill could read 9223372036854775807 nusd for
--    every tenant. DECIMAL(38,0) holds the sum of any number of BIGINT rows
--    a table can have, exactly. report_top_runs, report_agent_reliability
--    and report_run_durations are unchanged (no sums of money).
--
-- Rules of `agentrunctl migrate`: a statement ends at a line that ends with
-- a semicolon, and no semicolon appears inside a statement or a comment.
-- Every statement is re-runnable (IF NOT EXISTS, CREATE OR REPLACE), and a
-- replaced view keeps the grants on it.

ALTER TABLE runs ADD COLUMN IF NOT EXISTS takeovers INT NOT NULL DEFAULT 0
  COMMENT 'pick-ups after a lost lease (claim.c), capped by executor.max_takeovers';

CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_billing_daily AS
SELECT u.workspace_id,
       w.name AS workspace_name,
       u.day,
       CAST(SUM(u.runs) AS DECIMAL(38,0)) AS runs,
       CAST(SUM(u.calls) AS DECIMAL(38,0)) AS calls,
       CAST(SUM(u.prompt_tokens) AS DECIMAL(38,0)) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS DECIMAL(38,0)) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS DECIMAL(38,0)) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS DECIMAL(38,0)) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS DECIMAL(38,0)) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(38,9)) AS cost_usd
  FROM usage_daily u
  LEFT JOIN workspaces w ON w.id = u.workspace_id
 GROUP BY u.workspace_id, w.name, u.day;

CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_usage_by_model AS
SELECT u.workspace_id,
       u.day,
       u.provider,
       u.model,
       CAST(SUM(u.runs) AS DECIMAL(38,0)) AS runs,
       CAST(SUM(u.calls) AS DECIMAL(38,0)) AS calls,
       CAST(SUM(u.prompt_tokens) AS DECIMAL(38,0)) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS DECIMAL(38,0)) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS DECIMAL(38,0)) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS DECIMAL(38,0)) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS DECIMAL(38,0)) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(38,9)) AS cost_usd
  FROM usage_daily u
 GROUP BY u.workspace_id, u.day, u.provider, u.model;

CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_usage_by_agent AS
SELECT u.workspace_id,
       u.day,
       u.agent_id,
       a.`key` AS agent_key,
       a.name AS agent_name,
       CAST(SUM(u.runs) AS DECIMAL(38,0)) AS runs,
       CAST(SUM(u.calls) AS DECIMAL(38,0)) AS calls,
       CAST(SUM(u.prompt_tokens) AS DECIMAL(38,0)) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS DECIMAL(38,0)) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS DECIMAL(38,0)) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS DECIMAL(38,0)) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS DECIMAL(38,0)) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(38,9)) AS cost_usd
  FROM usage_daily u
  LEFT JOIN agents a ON a.id = u.agent_id
 GROUP BY u.workspace_id, u.day, u.agent_id, a.`key`, a.name;

CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_usage_by_user AS
SELECT u.workspace_id,
       u.day,
       u.user_id,
       us.email AS user_email,
       us.name AS user_name,
       CAST(SUM(u.runs) AS DECIMAL(38,0)) AS runs,
       CAST(SUM(u.calls) AS DECIMAL(38,0)) AS calls,
       CAST(SUM(u.prompt_tokens) AS DECIMAL(38,0)) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS DECIMAL(38,0)) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS DECIMAL(38,0)) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS DECIMAL(38,0)) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS DECIMAL(38,0)) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(38,9)) AS cost_usd
  FROM usage_daily u
  LEFT JOIN users us ON us.id = u.user_id
 GROUP BY u.workspace_id, u.day, u.user_id, us.email, us.name;

CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_run_costs AS
SELECT l.workspace_id,
       l.run_id,
       r.agent_id,
       r.created_by_user_id AS user_id,
       r.status AS run_status,
       r.created_at AS run_created_at,
       l.provider,
       l.model,
       COUNT(*) AS calls,
       CAST(SUM(l.prompt_tokens) AS DECIMAL(38,0)) AS prompt_tokens,
       CAST(SUM(l.cached_tokens) AS DECIMAL(38,0)) AS cached_tokens,
       CAST(SUM(l.cache_write_tokens) AS DECIMAL(38,0)) AS cache_write_tokens,
       CAST(SUM(l.completion_tokens) AS DECIMAL(38,0)) AS completion_tokens,
       CAST(SUM(l.cost_nusd) AS DECIMAL(38,0)) AS cost_nusd,
       CAST(SUM(l.cost_nusd) * 0.000000001 AS DECIMAL(38,9)) AS cost_usd,
       MIN(l.priced <> 0 OR l.input_per_mtok_nusd <> 0 OR l.cached_input_per_mtok_nusd <> 0
           OR l.cache_write_per_mtok_nusd <> 0 OR l.output_per_mtok_nusd <> 0) AS priced,
       MIN(l.created_at) AS first_call_at,
       MAX(l.created_at) AS last_call_at
  FROM llm_calls l
  JOIN runs r ON r.id = l.run_id
 GROUP BY l.workspace_id, l.run_id, r.agent_id, r.created_by_user_id, r.status, r.created_at,
          l.provider, l.model;
