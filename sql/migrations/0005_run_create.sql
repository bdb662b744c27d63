-- run_create_new: the whole creation of a run in a new session (the common
-- case: POST /api/v1/runs and /agents/{id}/runs without session_id or
-- Idempotency-Key) as one call, so the API worker makes one round trip for
-- it instead of one per statement. It does exactly what rc_txn() in
-- src/api/runs_create.c does for a new session, in one transaction:
--   the session (holding the run as its active run, last_seq 1), the run
--   counted in usage_daily (0004_usage_slots.sql: slot 0 unless that row is
--   locked right now, when p_try_slot0 is set, else p_own_slot), the run,
--   the user turn and run.created (seq 1)
-- and commits. With p_verify it first checks that p_version_id is still the
-- agent's active version (the highest active one) and the agent is not
-- archived, and else fails with error 1644 before writing anything: the
-- caller guessed the version from its cache, and resolves it again.
-- The run's INSERT answers one row: the Run object's columns
-- in the order of RUNVIEW_COLUMNS (src/api/runview.h), then the usage_daily
-- slot used. Any error rolls the transaction back and is passed on
-- unchanged, also one raised after that row was sent (the caller reads the
-- call's status to the end; a deadlock is retried like any transaction).
-- SQL SECURITY INVOKER: it runs with the API account's own rights. Id
-- parameters have their columns' character set and collation (ascii_bin):
-- a utf8mb4 value compared with an ascii key column would not use its index.
--
-- Rules of `agentrunctl migrate` (0003_reports.sql): a statement ends at a
-- line that ends with a semicolon. The procedure body is one statement, so
-- its inner statements are separated by a semicolon at the start of a line
-- (or inside one), never at the end of one. CREATE OR REPLACE is re-runnable.
CREATE OR REPLACE PROCEDURE run_create_new(
    IN p_ws CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_run CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_session CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_message CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_agent CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_version BIGINT,
    IN p_version_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_parent CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_experiment VARCHAR(255) COLLATE utf8mb4_bin,
    IN p_candidate VARCHAR(255) COLLATE utf8mb4_bin,
    IN p_route CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_persona VARCHAR(255),
    IN p_provider VARCHAR(32),
    IN p_model VARCHAR(255),
    IN p_input LONGTEXT,
    IN p_metadata LONGTEXT,
    IN p_trace CHAR(32) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_span CHAR(16) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_user CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_key CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
    IN p_multitask VARCHAR(16),
    IN p_turn LONGTEXT,
    IN p_event LONGTEXT,
    IN p_try_slot0 BOOLEAN,
    IN p_own_slot INT,
    IN p_verify BOOLEAN)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
  DECLARE v_slot INT DEFAULT -1
  ; DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK ; RESIGNAL ; END
  ; START TRANSACTION
  ; IF p_verify AND NOT EXISTS (SELECT 1 FROM agents a
        JOIN agent_versions v ON v.workspace_id = a.workspace_id AND v.agent_id = a.id
        WHERE a.workspace_id = p_ws AND a.id = p_agent AND a.archived_at IS NULL
          AND v.id = p_version_id AND v.status = 'active'
          AND NOT EXISTS (SELECT 1 FROM agent_versions x WHERE x.workspace_id = p_ws
            AND x.agent_id = p_agent AND x.status = 'active' AND x.version > v.version))
    THEN
      SIGNAL SQLSTATE '45000' SET MYSQL_ERRNO = 1644,
        MESSAGE_TEXT = 'run_create_new: not the agent''s active version'
    ; END IF
  ; INSERT INTO sessions (id, workspace_id, agent_id, agent_version, agent_version_id,
      status, metadata, last_seq, active_run_id, created_at, updated_at)
    VALUES (p_session, p_ws, p_agent, p_version, p_version_id, 'open', '{}', 1, p_run,
      NOW(3), NOW(3))
  ; IF p_try_slot0 THEN
      BEGIN
        -- 1205 at once (no wait) when another transaction holds the row:
        -- only that statement is rolled back.
        DECLARE CONTINUE HANDLER FOR 1205 SET v_slot = -1
        ; SET v_slot = 0
        ; SET STATEMENT innodb_lock_wait_timeout = 0 FOR
          INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model,
            runs) VALUES (p_ws, UTC_DATE(), p_agent, p_user, p_provider, p_model, 1)
          ON DUPLICATE KEY UPDATE runs = runs + 1
      ; END
    ; END IF
  ; IF v_slot < 0 THEN
      SET v_slot = p_own_slot
      ; INSERT INTO usage_daily (workspace_id, day, agent_id, user_id, provider, model,
          slot, runs) VALUES (p_ws, UTC_DATE(), p_agent, p_user, p_provider, p_model,
          v_slot, 1)
        ON DUPLICATE KEY UPDATE runs = runs + 1
    ; END IF
  ; INSERT INTO runs (id, workspace_id, agent_id, agent_version, agent_version_id,
      session_id, parent_run_id, experiment_id, experiment_candidate_id, route_id,
      persona_id, provider, model, status, input, metadata, trace_id, telemetry_span_id,
      created_by_user_id, created_by_key_id, idempotency_key, multitask, queued,
      runnable_at, created_at, updated_at)
    VALUES (p_run, p_ws, p_agent, p_version, p_version_id, p_session, p_parent,
      p_experiment, p_candidate, p_route, p_persona, p_provider, p_model, 'pending',
      p_input, p_metadata, p_trace, p_span, p_user, p_key, NULL, p_multitask, 0,
      NOW(3), NOW(3), NOW(3))
    RETURNING id, workspace_id, agent_id, agent_version, agent_version_id, session_id,
      parent_run_id, experiment_id, experiment_candidate_id, route_id, persona_id, model,
      status, cancel_requested, error_code, error_message, input, output, metadata,
      prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_nusd,
      steps, attempts, trace_id, telemetry_span_id, created_by_user_id,
      (SELECT u.name FROM users u WHERE u.id = runs.created_by_user_id),
      (SELECT u.email FROM users u WHERE u.id = runs.created_by_user_id),
      created_at, started_at, completed_at, failed_at, cancelled_at, updated_at, provider,
      ended_at, TIMESTAMPDIFF(MICROSECOND, started_at, COALESCE(ended_at, NOW(3))) DIV 1000,
      v_slot
  ; INSERT INTO messages (id, workspace_id, session_id, run_id, role, content, created_at)
    VALUES (p_message, p_ws, p_session, p_run, 'user', p_turn, NOW(3))
  ; INSERT INTO events (session_id, seq, workspace_id, run_id, type, data, dedup_key,
      created_at)
    VALUES (p_session, 1, p_ws, p_run, 'run.created', p_event, NULL, NOW(3))
  ; COMMIT
; END;
