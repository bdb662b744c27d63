-- runs: ix_runs_owner (owner) becomes ix_runs_owner_cancel (owner,
-- cancel_requested).
--
-- An executor looks for cancel requests among its runs every 250 ms and on
-- every doorbell: SELECT id FROM runs WHERE owner = ? AND cancel_requested = 1.
-- Through (owner) that read every run the executor holds (8.8 ms at 4,096
-- held on the benchmark box, several times a second); through (owner,
-- cancel_requested) it reads only the runs asked to cancel. The heartbeat
-- (WHERE owner = ? ...) and the release at shutdown (WHERE owner = ?) use the
-- prefix as before. cancel_requested changes once in a run's life, so the
-- wider entry costs the writes nothing that owner did not already cost.
--
-- Rules of `agentrunctl migrate` (0003_reports.sql): a statement ends at a
-- line that ends with a semicolon. The statement is re-runnable.
ALTER TABLE runs
  ADD INDEX IF NOT EXISTS ix_runs_owner_cancel (owner, cancel_requested),
  DROP INDEX IF EXISTS ix_runs_owner;
