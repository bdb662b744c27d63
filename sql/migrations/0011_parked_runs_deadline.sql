-- Runs parked for input or approval before this release wake at their
-- deadline like the ones parked after it (issue 15: parked runs never timed
-- out). The executor used to park a run with runnable_at = NULL, so nothing
-- ever picked it up again until a person answered; it now parks it with
-- runnable_at = its deadline_at, and a pick-up at the deadline ends the run
-- `timeout` (src/executor/wrbatch.c). This gives the runs parked the old way
-- the same wake-up. A run without a deadline_at (never started) is left as
-- it is.
--
-- Rules of `agentrunctl migrate`: a statement ends at a line that ends with
-- a semicolon, and no semicolon appears inside a statement or a comment.
-- The statement is re-runnable (it touches only rows still NULL).

UPDATE runs SET runnable_at = deadline_at
 WHERE status IN ('waiting_for_input', 'awaiting_approval')
   AND runnable_at IS NULL AND deadline_at IS NOT NULL;
