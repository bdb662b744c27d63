-- Report views for admins (docs/reports.md describes each one, its columns
-- and example queries). They read the same rows the API reads, so the views,
-- the analytics endpoints and the sums of llm_calls agree exactly:
--   * money is summed as BIGINT nano-dollars (`*_nusd`, exact) and shown
--     next to it in US dollars as DECIMAL(20,9) (`*_usd`, nusd x 1e-9, also
--     exact), never as floating point.
--   * days are UTC (every connection runs with time_zone +00:00). In the
--     usage views a run counts on the day it was created, a model call's
--     tokens and cost on the day of the call.
--   * every view has workspace_id: filter on it.
-- `agentrunctl reporting-user create` makes a database account that may
-- SELECT these views and nothing else (SQL SECURITY DEFINER: the view reads
-- the tables with its definer's rights, the reader needs none on them).
--
-- Rules of `agentrunctl migrate`: a statement ends at a line that ends with
-- a semicolon, and no semicolon appears inside a statement or a comment.
-- CREATE OR REPLACE makes every statement re-runnable.

-- Daily billing per workspace (usage_daily summed over agents, users, models).
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_billing_daily AS
SELECT u.workspace_id,
       w.name AS workspace_name,
       u.day,
       CAST(SUM(u.runs) AS SIGNED) AS runs,
       CAST(SUM(u.calls) AS SIGNED) AS calls,
       CAST(SUM(u.prompt_tokens) AS SIGNED) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS SIGNED) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS SIGNED) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS SIGNED) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS SIGNED) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(20,9)) AS cost_usd
  FROM usage_daily u
  LEFT JOIN workspaces w ON w.id = u.workspace_id
 GROUP BY u.workspace_id, w.name, u.day;

-- Usage per model and day: `runs` counts the runs created that day whose
-- resolved model it is, the rest the calls made that day with it.
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_usage_by_model AS
SELECT u.workspace_id,
       u.day,
       u.provider,
       u.model,
       CAST(SUM(u.runs) AS SIGNED) AS runs,
       CAST(SUM(u.calls) AS SIGNED) AS calls,
       CAST(SUM(u.prompt_tokens) AS SIGNED) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS SIGNED) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS SIGNED) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS SIGNED) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS SIGNED) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(20,9)) AS cost_usd
  FROM usage_daily u
 GROUP BY u.workspace_id, u.day, u.provider, u.model;

-- Usage per agent and day.
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_usage_by_agent AS
SELECT u.workspace_id,
       u.day,
       u.agent_id,
       a.`key` AS agent_key,
       a.name AS agent_name,
       CAST(SUM(u.runs) AS SIGNED) AS runs,
       CAST(SUM(u.calls) AS SIGNED) AS calls,
       CAST(SUM(u.prompt_tokens) AS SIGNED) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS SIGNED) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS SIGNED) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS SIGNED) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS SIGNED) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(20,9)) AS cost_usd
  FROM usage_daily u
  LEFT JOIN agents a ON a.id = u.agent_id
 GROUP BY u.workspace_id, u.day, u.agent_id, a.`key`, a.name;

-- Usage per user and day (the user who created the run).
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_usage_by_user AS
SELECT u.workspace_id,
       u.day,
       u.user_id,
       us.email AS user_email,
       us.name AS user_name,
       CAST(SUM(u.runs) AS SIGNED) AS runs,
       CAST(SUM(u.calls) AS SIGNED) AS calls,
       CAST(SUM(u.prompt_tokens) AS SIGNED) AS prompt_tokens,
       CAST(SUM(u.cached_tokens) AS SIGNED) AS cached_tokens,
       CAST(SUM(u.cache_write_tokens) AS SIGNED) AS cache_write_tokens,
       CAST(SUM(u.completion_tokens) AS SIGNED) AS completion_tokens,
       CAST(SUM(u.cost_nusd) AS SIGNED) AS cost_nusd,
       CAST(SUM(u.cost_nusd) * 0.000000001 AS DECIMAL(20,9)) AS cost_usd
  FROM usage_daily u
  LEFT JOIN users us ON us.id = u.user_id
 GROUP BY u.workspace_id, u.day, u.user_id, us.email, us.name;

-- Cost breakdown per run and model, from the recorded model calls (each
-- call's cost was fixed when it was recorded). priced = 0 when any call of
-- that model had no price (it cost 0). A call counts as priced when its flag
-- says so or when it recorded non-zero unit prices (calls recorded while the
-- executor wrote the flag as 0 for every call still tell apart that way).
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
       CAST(SUM(l.prompt_tokens) AS SIGNED) AS prompt_tokens,
       CAST(SUM(l.cached_tokens) AS SIGNED) AS cached_tokens,
       CAST(SUM(l.cache_write_tokens) AS SIGNED) AS cache_write_tokens,
       CAST(SUM(l.completion_tokens) AS SIGNED) AS completion_tokens,
       CAST(SUM(l.cost_nusd) AS SIGNED) AS cost_nusd,
       CAST(SUM(l.cost_nusd) * 0.000000001 AS DECIMAL(20,9)) AS cost_usd,
       MIN(l.priced <> 0 OR l.input_per_mtok_nusd <> 0 OR l.cached_input_per_mtok_nusd <> 0
           OR l.cache_write_per_mtok_nusd <> 0 OR l.output_per_mtok_nusd <> 0) AS priced,
       MIN(l.created_at) AS first_call_at,
       MAX(l.created_at) AS last_call_at
  FROM llm_calls l
  JOIN runs r ON r.id = l.run_id
 GROUP BY l.workspace_id, l.run_id, r.agent_id, r.created_by_user_id, r.status, r.created_at,
          l.provider, l.model;

-- Runs by cost: cost_rank 1 is the most expensive run of its workspace
-- (ties broken by run id, so ranks are unique). Filter on workspace_id and
-- cost_rank <= N, or on created_at for a period and ORDER BY cost_nusd DESC.
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_top_runs AS
SELECT r.workspace_id,
       ROW_NUMBER() OVER (PARTITION BY r.workspace_id ORDER BY r.cost_nusd DESC, r.id) AS cost_rank,
       r.id AS run_id,
       r.agent_id,
       a.`key` AS agent_key,
       r.created_by_user_id AS user_id,
       us.email AS user_email,
       r.status,
       r.provider,
       r.model,
       r.steps,
       r.prompt_tokens,
       r.cached_tokens,
       r.cache_write_tokens,
       r.completion_tokens,
       r.cost_nusd,
       CAST(r.cost_nusd * 0.000000001 AS DECIMAL(20,9)) AS cost_usd,
       r.created_at,
       r.ended_at,
       CASE WHEN r.started_at IS NULL THEN NULL
            ELSE TIMESTAMPDIFF(MICROSECOND, r.started_at, COALESCE(r.ended_at, UTC_TIMESTAMP(3))) DIV 1000
       END AS duration_ms
  FROM runs r
  LEFT JOIN agents a ON a.id = r.agent_id
  LEFT JOIN users us ON us.id = r.created_by_user_id;

-- Failure, retry and cancellation rates per agent, over all its runs.
-- finished = runs in a terminal status. failure_rate = (failed + timed_out)
-- / finished, cancellation_rate = cancelled / finished. A retry is a step
-- attempt that failed (steps.status = 'failed'): retry_rate = retries /
-- step_attempts. Rates are fractions (0.2500 = 25 %), NULL when the
-- denominator is 0.
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_agent_reliability AS
SELECT r.workspace_id,
       r.agent_id,
       a.`key` AS agent_key,
       a.name AS agent_name,
       COUNT(*) AS runs,
       CAST(SUM(r.status IN ('completed', 'failed', 'timeout', 'cancelled', 'rejected')) AS SIGNED) AS finished,
       CAST(SUM(r.status = 'completed') AS SIGNED) AS completed,
       CAST(SUM(r.status = 'failed') AS SIGNED) AS failed,
       CAST(SUM(r.status = 'timeout') AS SIGNED) AS timed_out,
       CAST(SUM(r.status = 'cancelled') AS SIGNED) AS cancelled,
       CAST(SUM(r.status = 'rejected') AS SIGNED) AS rejected,
       CAST(COALESCE(SUM(s.attempts), 0) AS SIGNED) AS step_attempts,
       CAST(COALESCE(SUM(s.failed), 0) AS SIGNED) AS retries,
       CAST(SUM(COALESCE(s.failed, 0) > 0) AS SIGNED) AS runs_with_retries,
       CAST(SUM(r.status IN ('failed', 'timeout'))
            / NULLIF(SUM(r.status IN ('completed', 'failed', 'timeout', 'cancelled', 'rejected')), 0)
            AS DECIMAL(5,4)) AS failure_rate,
       CAST(SUM(COALESCE(s.failed, 0)) / NULLIF(SUM(COALESCE(s.attempts, 0)), 0)
            AS DECIMAL(5,4)) AS retry_rate,
       CAST(SUM(r.status = 'cancelled')
            / NULLIF(SUM(r.status IN ('completed', 'failed', 'timeout', 'cancelled', 'rejected')), 0)
            AS DECIMAL(5,4)) AS cancellation_rate
  FROM runs r
  LEFT JOIN (SELECT run_id, COUNT(*) AS attempts, SUM(status = 'failed') AS failed
               FROM steps GROUP BY run_id) s ON s.run_id = r.id
  LEFT JOIN agents a ON a.id = r.agent_id
 GROUP BY r.workspace_id, r.agent_id, a.`key`, a.name;

-- Run durations (started_at to ended_at) per agent and UTC day of the run's
-- creation, over the runs that started and ended (any terminal status):
-- the median and 95th percentile (PERCENTILE_CONT, interpolated), mean,
-- min and max, in milliseconds.
CREATE OR REPLACE SQL SECURITY DEFINER VIEW report_run_durations AS
SELECT d.workspace_id,
       d.agent_id,
       a.`key` AS agent_key,
       d.day,
       COUNT(*) AS runs,
       CAST(MIN(d.p50) AS DECIMAL(16,3)) AS p50_ms,
       CAST(MIN(d.p95) AS DECIMAL(16,3)) AS p95_ms,
       CAST(AVG(d.duration_ms) AS DECIMAL(16,3)) AS avg_ms,
       MIN(d.duration_ms) AS min_ms,
       MAX(d.duration_ms) AS max_ms
  FROM (SELECT r.workspace_id,
               r.agent_id,
               CAST(r.created_at AS DATE) AS day,
               TIMESTAMPDIFF(MICROSECOND, r.started_at, r.ended_at) DIV 1000 AS duration_ms,
               PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY TIMESTAMPDIFF(MICROSECOND, r.started_at, r.ended_at) DIV 1000)
                 OVER (PARTITION BY r.workspace_id, r.agent_id, CAST(r.created_at AS DATE)) AS p50,
               PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY TIMESTAMPDIFF(MICROSECOND, r.started_at, r.ended_at) DIV 1000)
                 OVER (PARTITION BY r.workspace_id, r.agent_id, CAST(r.created_at AS DATE)) AS p95
          FROM runs r
         WHERE r.started_at IS NOT NULL AND r.ended_at IS NOT NULL) d
  LEFT JOIN agents a ON a.id = d.agent_id
 GROUP BY d.workspace_id, d.agent_id, a.`key`, d.day;
