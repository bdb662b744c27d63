-- usage_daily gets a `slot` in its primary key, so that the runs + 1 of run
-- creation need not wait on one hot row.
--
-- Every create in a workspace adds 1 to the same rollup row (same day,
-- agent, user and model) inside its transaction and holds that row's lock
-- until it commits: under load creates queued on it. A key may now have
-- several rows that differ only in `slot`, and every reader sums over them
-- (the analytics queries and the report views group by the other key
-- columns, so they need no change):
--   * slot 0 is the one row a key has while nothing contends for it. The
--     executor's model-call upsert names no slot, so it always adds to slot 0.
--   * an API worker adds its runs + 1 to slot 0 unless that row is locked at
--     that moment (it does not wait for it): then, and for about a second
--     after, it adds to its own slot (1-255, from its process id), which no
--     other worker is likely to use. The count stays exact and is committed
--     with the run: only where it is stored differs.
--
-- Rules of `agentrunctl migrate` (0003_reports.sql): a statement ends at a
-- line that ends with a semicolon. The statement is re-runnable.
ALTER TABLE usage_daily
  ADD COLUMN IF NOT EXISTS slot TINYINT UNSIGNED NOT NULL DEFAULT 0 AFTER model,
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (workspace_id, day, agent_id, user_id, provider, model, slot);
