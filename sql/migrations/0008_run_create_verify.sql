-- run_create_new, as in 0005_run_create.sql, with a cheaper p_verify.
--
-- The check that a cached version is still the agent's active one was a
-- join with a correlated NOT EXISTS, which MariaDB optimised anew on every
-- call: 15-18% of the server's CPU per create on the create benchmark. It
-- is now two lookups MariaDB answers without a plan: the agents row by its
-- primary key (not archived, in this workspace) and the highest active
-- version from ix_agent_versions_active (agent_id, status, version) alone,
-- which must be p_version. Same meaning: version numbers are unique per
-- agent and p_version is p_version_id's own (both come from one cached
-- row), so "the highest active version is p_version" is "p_version_id is
-- active and no higher version is" (and <=> fails when none is active).
--
-- Rules of `agentrunctl migrate` (0003_reports.sql, 0005_run_create.sql): a
-- statement ends at a line that ends with a semicolon; the procedure body's
-- inner statements start their lines with one. CREATE OR REPLACE is
-- re-runnable.
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
  ; IF p_verify AND (NOT EXISTS (SELECT 1 FROM agents a
          WHERE a.id = p_agent AND a.workspace_id = p_ws AND a.archived_at IS NULL)
        OR NOT ((SELECT MAX(x.version) FROM agent_versions x
          WHERE x.agent_id = p_agent AND x.status = 'active') <=> p_version))
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
