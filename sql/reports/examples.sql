-- Example queries over the report views (docs/reports.md explains each view).
-- The views themselves are created by sql/migrations/0003_reports.sql, so
-- `agentrunctl migrate` keeps them current; run these as the reporting user
-- (`agentrunctl reporting-user create`), e.g.
--   mariadb -u agentrun_reports -p agentrun < sql/reports/examples.sql
-- Replace the placeholder workspace ids ('0193…') and dates first.

-- last month's bill of each workspace
SELECT workspace_id, workspace_name, SUM(runs) AS runs, SUM(cost_nusd) AS cost_nusd,
       SUM(cost_usd) AS cost_usd, CEIL(SUM(cost_nusd) / 1000000) AS credits
  FROM report_billing_daily
 WHERE day BETWEEN '2026-10-01' AND '2026-10-31'
 GROUP BY workspace_id, workspace_name
 ORDER BY cost_nusd DESC;

SELECT provider, model, SUM(calls) AS calls, SUM(prompt_tokens) AS prompt,
       SUM(cached_tokens) AS cached, SUM(cost_usd) AS cost_usd
  FROM report_usage_by_model
 WHERE workspace_id = '0193…' AND day >= CURRENT_DATE - INTERVAL 7 DAY
 GROUP BY provider, model ORDER BY cost_usd DESC;

SELECT day, agent_key, runs, calls, cost_usd
  FROM report_usage_by_agent
 WHERE workspace_id = '0193…' AND day BETWEEN '2026-11-01' AND '2026-11-30'
 ORDER BY day, cost_usd DESC;

SELECT user_email, SUM(runs) AS runs, SUM(cost_usd) AS cost_usd
  FROM report_usage_by_user
 WHERE workspace_id = '0193…' AND day >= '2026-11-01'
 GROUP BY user_email ORDER BY cost_usd DESC;

SELECT * FROM report_run_costs WHERE workspace_id = '0193…' AND run_id = '0193…';
-- calls of unpriced models (add a price with agentrunctl price set)
SELECT provider, model, SUM(calls) FROM report_run_costs
 WHERE priced = 0 GROUP BY provider, model;

-- the ten most expensive runs of a workspace, ever
SELECT cost_rank, run_id, agent_key, user_email, cost_usd
  FROM report_top_runs WHERE workspace_id = '0193…' AND cost_rank <= 10 ORDER BY cost_rank;
-- the most expensive runs created this week, any workspace
SELECT workspace_id, run_id, cost_usd FROM report_top_runs
 WHERE created_at >= CURRENT_DATE - INTERVAL 7 DAY ORDER BY cost_nusd DESC LIMIT 20;

SELECT agent_key, finished, failure_rate, retry_rate, cancellation_rate
  FROM report_agent_reliability
 WHERE workspace_id = '0193…' ORDER BY failure_rate DESC;

SELECT day, agent_key, runs, p50_ms, p95_ms FROM report_run_durations
 WHERE workspace_id = '0193…' AND day >= CURRENT_DATE - INTERVAL 14 DAY
 ORDER BY agent_key, day;

SELECT (SELECT SUM(cost_nusd) FROM report_billing_daily WHERE workspace_id = @ws) AS rollup,
       (SELECT SUM(cost_nusd) FROM report_run_costs WHERE workspace_id = @ws) AS calls,
       (SELECT SUM(cost_nusd) FROM report_top_runs WHERE workspace_id = @ws) AS runs;

-- the price history of a model
SELECT effective_from, input_per_mtok_nusd / 1e9 AS input_usd, output_per_mtok_nusd / 1e9 AS output_usd, note
  FROM model_price_history WHERE provider = 'openai' AND model = 'gpt-4o' ORDER BY effective_from;
