-- agentrun core schema (MariaDB 10.11+, InnoDB, utf8mb4).
--
-- Applied as a whole by `agentrunctl migrate`, which splits this file into
-- statements at a semicolon that ends a line. Hence: no stored programs, no
-- DELIMITER, exactly one statement per semicolon-terminated group, and no
-- semicolon anywhere inside a comment or a string literal. Every statement is
-- re-runnable (CREATE TABLE IF NOT EXISTS).
--
-- Conventions (docs/schema.md has the long form):
--   * ids: lowercase UUIDv7 text made by the application,
--     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin. UUIDv7 sorts by time, so
--     ORDER BY id DESC is newest first and `before=<id>` is `id < ?`.
--   * times: DATETIME(3), always UTC. Every connection runs
--     SET time_zone = '+00:00' so NOW(3) and the CURRENT_TIMESTAMP(3)
--     defaults below are UTC too.
--   * money: BIGINT nano-dollars (1 USD = 1000000000 nusd), never floats.
--     Prices are nano-dollars per million tokens.
--   * JSON: LONGTEXT with CHECK (JSON_VALID(...)) where the document is small
--     or rarely written.
--   * every tenant row carries workspace_id, and indexes used by
--     workspace-filtered queries lead with it.
--   * foreign keys only on low-write configuration tables. The run-path
--     tables (sessions, messages, runs, events, steps, llm_calls, usage_daily,
--     idempotency_keys) have none: an FK check is an extra lookup plus a
--     shared lock on the parent row for every insert, and those parents
--     (sessions, runs) are exactly the rows the executor and the event writer
--     lock exclusively, so FKs there would add lock waits and deadlock
--     chances on the hottest paths. The application keeps those references
--     consistent (it always writes them in one transaction).

CREATE TABLE IF NOT EXISTS workspaces (
  id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name        VARCHAR(255) NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS users (
  id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  email         VARCHAR(255) NOT NULL,
  name          VARCHAR(255) NOT NULL DEFAULT '',
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_ws_email (workspace_id, email),
  CONSTRAINT fk_users_workspace FOREIGN KEY (workspace_id) REFERENCES workspaces (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Authentication looks a key up by secret_hash (unique), then joins users.
-- last_used_at is best effort: update it at most about once a minute per key,
-- not on every request.
CREATE TABLE IF NOT EXISTS api_keys (
  id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name          VARCHAR(255) NOT NULL DEFAULT '',
  role          ENUM('admin','member') NOT NULL DEFAULT 'member',
  prefix        CHAR(12) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'first characters of the secret, for display',
  secret_hash   BINARY(32) NOT NULL COMMENT 'SHA-256 of the whole secret',
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  last_used_at  DATETIME(3) NULL,
  revoked_at    DATETIME(3) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_api_keys_secret_hash (secret_hash),
  KEY ix_api_keys_ws_id (workspace_id, id),
  KEY ix_api_keys_user (user_id),
  CONSTRAINT fk_api_keys_workspace FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT fk_api_keys_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- `key` is a slug, unique in the workspace (archived agents keep theirs).
-- The application validates it (lowercase ASCII letters, digits, '-', '_',
-- '.', no '@' since persona_id is "key@version") before it gets here.
CREATE TABLE IF NOT EXISTS agents (
  id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `key`         VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name          VARCHAR(255) NOT NULL DEFAULT '',
  description   TEXT NOT NULL DEFAULT '',
  archived_at   DATETIME(3) NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_agents_ws_key (workspace_id, `key`),
  KEY ix_agents_ws_id (workspace_id, id),
  CONSTRAINT fk_agents_workspace FOREIGN KEY (workspace_id) REFERENCES workspaces (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per agent version. `id` is the agent_version_id of the contract.
-- New version number: lock the agents row (SELECT ... FOR UPDATE), then
-- MAX(version)+1, the unique key backs it up. The active version of an agent is
-- SELECT MAX(version) FROM agent_versions WHERE agent_id = ? AND status = 'active'
-- which ix_agent_versions_active answers from the index alone.
CREATE TABLE IF NOT EXISTS agent_versions (
  id               CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  agent_id         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  version          INT UNSIGNED NOT NULL,
  status           ENUM('draft','active','archived') NOT NULL DEFAULT 'draft',
  model            LONGTEXT NOT NULL COMMENT 'JSON {provider, name, route_id?, params?}',
  system_prompt    MEDIUMTEXT NOT NULL DEFAULT '',
  prompt_template  MEDIUMTEXT NULL,
  input_schema     LONGTEXT NULL COMMENT 'JSON Schema',
  tools            LONGTEXT NOT NULL DEFAULT '[]' COMMENT 'JSON array of tools',
  limits           LONGTEXT NOT NULL DEFAULT '{}' COMMENT 'JSON {max_steps, max_tokens, max_cost_usd, timeout_s}',
  retry            LONGTEXT NOT NULL DEFAULT '{}' COMMENT 'JSON {max_attempts, initial_backoff_ms, max_backoff_ms, multiplier}',
  approval         LONGTEXT NOT NULL DEFAULT '{}' COMMENT 'JSON {required, before_tools}',
  created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  activated_at     DATETIME(3) NULL,
  archived_at      DATETIME(3) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_agent_versions_agent_version (agent_id, version),
  KEY ix_agent_versions_active (agent_id, status, version),
  KEY ix_agent_versions_ws (workspace_id, agent_id),
  CONSTRAINT fk_agent_versions_workspace FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT fk_agent_versions_agent FOREIGN KEY (agent_id) REFERENCES agents (id),
  CONSTRAINT ck_agent_versions_version CHECK (version >= 1),
  CONSTRAINT ck_agent_versions_model CHECK (JSON_VALID(model)),
  CONSTRAINT ck_agent_versions_input_schema CHECK (JSON_VALID(input_schema)),
  CONSTRAINT ck_agent_versions_tools CHECK (JSON_VALID(tools)),
  CONSTRAINT ck_agent_versions_limits CHECK (JSON_VALID(limits)),
  CONSTRAINT ck_agent_versions_retry CHECK (JSON_VALID(retry)),
  CONSTRAINT ck_agent_versions_approval CHECK (JSON_VALID(approval))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Bring-your-own-key model routes. api_key is XChaCha20-Poly1305 ciphertext
-- (with its tag) under the master key, additional data = workspace id and
-- route id. has_api_key = (api_key_ciphertext IS NOT NULL). DELETE is soft.
CREATE TABLE IF NOT EXISTS routes (
  id                  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name                VARCHAR(255) NOT NULL DEFAULT '',
  provider            VARCHAR(32) NOT NULL,
  model               VARCHAR(255) NOT NULL,
  base_url            VARCHAR(2048) NULL,
  api_key_ciphertext  VARBINARY(4096) NULL,
  api_key_nonce       BINARY(24) NULL,
  created_at          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  deleted_at          DATETIME(3) NULL,
  PRIMARY KEY (id),
  KEY ix_routes_ws_id (workspace_id, id),
  CONSTRAINT fk_routes_workspace FOREIGN KEY (workspace_id) REFERENCES workspaces (id),
  CONSTRAINT ck_routes_key_pair CHECK ((api_key_ciphertext IS NULL) = (api_key_nonce IS NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Session (= thread). The row is the sequencer of the event log and the
-- one-active-run guard:
--   * last_seq is the last event seq handed out in this session. An event
--     writer locks the row (SELECT last_seq ... FOR UPDATE), inserts its
--     events at last_seq+1.., and sets last_seq in the same transaction, so
--     seq order is commit order and a rolled-back write leaves no gap.
--   * active_run_id is the single active run of the session. Taking the slot is
--     UPDATE sessions SET active_run_id = ? WHERE id = ? AND active_run_id IS NULL
--     (0 rows = another run is active). The run that ends clears it (and hands
--     it to the oldest queued run, see runs.queued) in its terminal transaction.
-- Lock order everywhere: a sessions row before a runs row.
CREATE TABLE IF NOT EXISTS sessions (
  id                CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id      CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  agent_id          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  agent_version     INT UNSIGNED NOT NULL,
  agent_version_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status            ENUM('open','closed') NOT NULL DEFAULT 'open',
  metadata          LONGTEXT NOT NULL DEFAULT '{}',
  last_seq          BIGINT NOT NULL DEFAULT 0,
  active_run_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  closed_at         DATETIME(3) NULL,
  PRIMARY KEY (id),
  KEY ix_sessions_ws_id (workspace_id, id),
  KEY ix_sessions_ws_agent_id (workspace_id, agent_id, id),
  CONSTRAINT ck_sessions_metadata CHECK (JSON_VALID(metadata)),
  CONSTRAINT ck_sessions_last_seq CHECK (last_seq >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The conversation of a session, oldest first by id (UUIDv7).
-- tool_call_id / tool_name / tool_calls let the executor replay the history
-- to a provider exactly (assistant tool calls and their tool results).
-- dedup_key makes executor writes idempotent like events.dedup_key.
CREATE TABLE IF NOT EXISTS messages (
  id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  session_id    CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  run_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  role          ENUM('user','assistant','tool') NOT NULL,
  content       LONGTEXT NOT NULL,
  tool_call_id  VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  tool_name     VARCHAR(255) NULL,
  tool_calls    LONGTEXT NULL COMMENT 'JSON array of the assistant turn tool calls',
  dedup_key     VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY ix_messages_session_id (session_id, id),
  KEY ix_messages_run (run_id),
  UNIQUE KEY uq_messages_session_dedup (session_id, dedup_key),
  CONSTRAINT ck_messages_tool_calls CHECK (JSON_VALID(tool_calls))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Runs (= executions). Executor protocol (READ COMMITTED):
--   * runnable_at: when the run may next be claimed. NULL = not claimable
--     (terminal, parked waiting for input or approval with no deadline, or
--     queued behind the active run of the session). Claim:
--       SELECT id FROM runs WHERE runnable_at <= NOW(3)
--       ORDER BY runnable_at LIMIT ? FOR UPDATE SKIP LOCKED
--     (a range scan of ix_runs_runnable), then in the same transaction set
--     owner, a fresh lease_token, lease_until = NOW(3) + lease, attempts + 1,
--     and runnable_at = lease_until. Keeping runnable_at equal to lease_until
--     while leased makes a run whose executor died claimable again by the
--     same query once its lease runs out. A heartbeat renews both columns
--     in one statement (WHERE owner = ? ..., ix_runs_owner).
--   * fencing: every executor write says WHERE id = ? AND lease_token = ?,
--     0 rows means the lease was lost and the executor abandons the run.
--   * releasing (park, back-off handled by another executor, terminal):
--     owner, lease_token, lease_until to NULL and runnable_at to the next
--     wake-up (back-off end, the timeout deadline of a parked run) or NULL.
--   * API-side resumes (input, approve, cancel of a parked run, a queued run
--     getting the session slot) set runnable_at = NOW(3) and ring the doorbell.
--   * queued = 1: created with multitask "enqueue" while another run of the
--     session was active. Not claimable until the active run ends and hands
--     over: lowest id first via ix_runs_session_queue.
-- The claim transaction touches only runs rows. Event appends that go with a
-- transition lock the sessions row first (see sessions).
CREATE TABLE IF NOT EXISTS runs (
  id                       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id             CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  agent_id                 CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  agent_version            INT UNSIGNED NOT NULL,
  agent_version_id         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  session_id               CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  parent_run_id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  experiment_id            VARCHAR(255) COLLATE utf8mb4_bin NULL,
  experiment_candidate_id  VARCHAR(255) COLLATE utf8mb4_bin NULL,
  route_id                 CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  persona_id               VARCHAR(255) NULL COMMENT 'key@version as requested',
  provider                 VARCHAR(32) NOT NULL DEFAULT '' COMMENT 'resolved provider',
  model                    VARCHAR(255) NOT NULL DEFAULT '' COMMENT 'resolved model name',
  status                   ENUM('pending','running','completed','failed','timeout','cancelled',
                                'waiting_for_input','awaiting_approval','approved','rejected')
                           NOT NULL DEFAULT 'pending',
  cancel_requested         TINYINT(1) NOT NULL DEFAULT 0,
  error_code               VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  error_message            TEXT NULL,
  input                    LONGTEXT NOT NULL DEFAULT '{}',
  output                   LONGTEXT NULL COMMENT 'JSON {response, ...}, partial while running',
  metadata                 LONGTEXT NOT NULL DEFAULT '{}',
  prompt_tokens            BIGINT NOT NULL DEFAULT 0,
  cached_tokens            BIGINT NOT NULL DEFAULT 0,
  cache_write_tokens       BIGINT NOT NULL DEFAULT 0,
  completion_tokens        BIGINT NOT NULL DEFAULT 0,
  cost_nusd                BIGINT NOT NULL DEFAULT 0,
  steps                    INT NOT NULL DEFAULT 0 COMMENT 'completed steps',
  attempts                 INT NOT NULL DEFAULT 0 COMMENT 'executor pick-ups (run.started count)',
  trace_id                 CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  telemetry_span_id        CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_by_user_id       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_by_key_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  idempotency_key          VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL COMMENT 'informational, idempotency_keys is authoritative',
  multitask                ENUM('reject','enqueue','interrupt') NOT NULL DEFAULT 'reject',
  queued                   TINYINT(1) NOT NULL DEFAULT 0,
  owner                    VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL COMMENT 'executor instance holding the lease',
  lease_token              CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  lease_until              DATETIME(3) NULL,
  runnable_at              DATETIME(3) NULL,
  deadline_at              DATETIME(3) NULL COMMENT 'started_at + limits.timeout_s',
  waiting_kind             ENUM('input','confirmation','approval') NULL COMMENT 'ask_user, requires_confirmation, approval gate',
  waiting_call_id          VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  waiting_prompt           MEDIUMTEXT NULL COMMENT 'question or approval reason',
  resume_input             MEDIUMTEXT NULL COMMENT 'answer delivered by input/approve, consumed by the executor',
  created_at               DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  started_at               DATETIME(3) NULL,
  completed_at             DATETIME(3) NULL,
  failed_at                DATETIME(3) NULL,
  cancelled_at             DATETIME(3) NULL,
  ended_at                 DATETIME(3) NULL COMMENT 'terminal time for any terminal status',
  updated_at               DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY ix_runs_ws_id (workspace_id, id),
  KEY ix_runs_ws_status_id (workspace_id, status, id),
  KEY ix_runs_ws_agent_id (workspace_id, agent_id, id),
  KEY ix_runs_ws_session_id (workspace_id, session_id, id),
  KEY ix_runs_ws_parent_id (workspace_id, parent_run_id, id),
  KEY ix_runs_ws_experiment_id (workspace_id, experiment_id, id),
  KEY ix_runs_session_queue (session_id, queued, id),
  KEY ix_runs_runnable (runnable_at),
  KEY ix_runs_lease (lease_until),
  KEY ix_runs_owner (owner),
  CONSTRAINT ck_runs_input CHECK (JSON_VALID(input)),
  CONSTRAINT ck_runs_output CHECK (JSON_VALID(output)),
  CONSTRAINT ck_runs_metadata CHECK (JSON_VALID(metadata)),
  CONSTRAINT ck_runs_tokens CHECK (prompt_tokens >= 0 AND cached_tokens >= 0
                                   AND cache_write_tokens >= 0 AND completion_tokens >= 0),
  CONSTRAINT ck_runs_cost CHECK (cost_nusd >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The per-session event log. seq comes from sessions.last_seq under the
-- session row lock (see sessions). Events of one run: WHERE run_id = ? AND
-- seq > ? ORDER BY seq (ix_events_run_seq). dedup_key (NULL = none, NULLs
-- never collide) makes a retried write a no-op: writers put a deterministic
-- key on every event that a retry could repeat, e.g.
-- "<run_id>:<step>:<attempt>:step.completed", and, holding the session lock,
-- skip the whole write when the key is already there (or roll back on
-- duplicate-key error 1062, so no seq is used up).
-- No foreign keys: the write-heaviest table (see the top of this file).
CREATE TABLE IF NOT EXISTS events (
  session_id    CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq           BIGINT NOT NULL,
  workspace_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  run_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  type          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data          LONGTEXT NOT NULL DEFAULT '{}',
  dedup_key     VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (session_id, seq),
  KEY ix_events_run_seq (run_id, seq),
  UNIQUE KEY uq_events_session_dedup (session_id, dedup_key),
  CONSTRAINT ck_events_data CHECK (JSON_VALID(data)),
  CONSTRAINT ck_events_seq CHECK (seq >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per attempt of a step (one model call or one tool call).
-- id is deterministic: '<run_id>:<step_index>:<attempt>' (decimal, no padding),
-- so a retried write hits the primary or unique key and is a no-op
-- (INSERT IGNORE / ON DUPLICATE KEY UPDATE). Resuming after a crash reads the
-- steps of the run in key order (clustered by run). request/result can be large
-- (whole prompts, tool bodies) so they carry no JSON_VALID check.
-- No foreign keys: write-heavy (see the top of this file).
CREATE TABLE IF NOT EXISTS steps (
  id             VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  run_id         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id   CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  step_index     INT NOT NULL,
  attempt        INT NOT NULL DEFAULT 1,
  kind           ENUM('llm','tool') NOT NULL,
  name           VARCHAR(255) NOT NULL DEFAULT '',
  status         ENUM('running','completed','failed','cancelled') NOT NULL DEFAULT 'running',
  call_id        VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  request        LONGTEXT NULL COMMENT 'JSON',
  result         LONGTEXT NULL COMMENT 'JSON',
  error_code     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  error_message  TEXT NULL,
  started_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  finished_at    DATETIME(3) NULL,
  duration_ms    INT NULL,
  PRIMARY KEY (run_id, step_index, attempt),
  UNIQUE KEY uq_steps_id (id),
  CONSTRAINT ck_steps_index CHECK (step_index >= 0 AND attempt >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per model call with its cost fixed at record time (the unit prices
-- used are kept so later price changes never rewrite history).
-- Write it with INSERT IGNORE: UNIQUE (step_id) turns a retried write into
-- 0 affected rows, and only when a row was really inserted does the same
-- transaction add to usage_daily and to the usage and cost totals of the run.
-- No foreign keys: write-heavy (see the top of this file).
CREATE TABLE IF NOT EXISTS llm_calls (
  id                          CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  workspace_id                CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  run_id                      CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  step_id                     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  session_id                  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  agent_id                    CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id                     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  provider                    VARCHAR(32) NOT NULL,
  model                       VARCHAR(255) NOT NULL,
  prompt_tokens               BIGINT NOT NULL DEFAULT 0,
  cached_tokens               BIGINT NOT NULL DEFAULT 0,
  cache_write_tokens          BIGINT NOT NULL DEFAULT 0,
  completion_tokens           BIGINT NOT NULL DEFAULT 0,
  cost_nusd                   BIGINT NOT NULL DEFAULT 0,
  priced                      TINYINT(1) NOT NULL DEFAULT 1 COMMENT '0 = model not in the price table, cost 0',
  input_per_mtok_nusd         BIGINT NOT NULL DEFAULT 0,
  cached_input_per_mtok_nusd  BIGINT NOT NULL DEFAULT 0,
  cache_write_per_mtok_nusd   BIGINT NOT NULL DEFAULT 0,
  output_per_mtok_nusd        BIGINT NOT NULL DEFAULT 0,
  duration_ms                 INT NULL,
  created_at                  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_llm_calls_step (step_id),
  KEY ix_llm_calls_ws_created (workspace_id, created_at),
  KEY ix_llm_calls_run (run_id),
  CONSTRAINT ck_llm_calls_tokens CHECK (prompt_tokens >= 0 AND cached_tokens >= 0
                                        AND cache_write_tokens >= 0 AND completion_tokens >= 0),
  CONSTRAINT ck_llm_calls_cost CHECK (cost_nusd >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Daily rollup for analytics and billing (UTC days), maintained with
-- INSERT ... ON DUPLICATE KEY UPDATE col = col + VALUES(col):
--   * per recorded llm_calls row (same transaction): calls + 1, tokens, cost.
--   * per created run (same transaction as the run insert): runs + 1, keyed
--     by the creation day of the run, agent, creator and resolved provider/model,
--     so `runs` counts each run once whatever its number of calls.
-- Reads are PRIMARY KEY prefix ranges: WHERE workspace_id = ? AND day BETWEEN ? AND ?
CREATE TABLE IF NOT EXISTS usage_daily (
  workspace_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  day                 DATE NOT NULL,
  agent_id            CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id             CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  provider            VARCHAR(32) NOT NULL,
  model               VARCHAR(255) NOT NULL,
  runs                BIGINT NOT NULL DEFAULT 0,
  calls               BIGINT NOT NULL DEFAULT 0,
  prompt_tokens       BIGINT NOT NULL DEFAULT 0,
  cached_tokens       BIGINT NOT NULL DEFAULT 0,
  cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
  completion_tokens   BIGINT NOT NULL DEFAULT 0,
  cost_nusd           BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (workspace_id, day, agent_id, user_id, provider, model)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Price table (global, not per workspace). Prices are nano-dollars per
-- million tokens: $2.50/Mtok = 2500000000. Cost of a call in nusd =
-- ((prompt - cached - cache_write) * input + cached * cached_input
--  + cache_write * cache_write_price + completion * output) / 1000000.
-- A price change updates this row and appends to model_price_history in one
-- transaction.
CREATE TABLE IF NOT EXISTS models (
  provider                    VARCHAR(32) NOT NULL,
  model                       VARCHAR(255) NOT NULL,
  input_per_mtok_nusd         BIGINT NOT NULL,
  cached_input_per_mtok_nusd  BIGINT NOT NULL,
  cache_write_per_mtok_nusd   BIGINT NOT NULL,
  output_per_mtok_nusd        BIGINT NOT NULL,
  created_at                  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at                  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (provider, model),
  CONSTRAINT ck_models_prices CHECK (input_per_mtok_nusd >= 0 AND cached_input_per_mtok_nusd >= 0
                                     AND cache_write_per_mtok_nusd >= 0 AND output_per_mtok_nusd >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Append-only: one row per price set that took effect (including the first).
CREATE TABLE IF NOT EXISTS model_price_history (
  id                          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  provider                    VARCHAR(32) NOT NULL,
  model                       VARCHAR(255) NOT NULL,
  input_per_mtok_nusd         BIGINT NOT NULL,
  cached_input_per_mtok_nusd  BIGINT NOT NULL,
  cache_write_per_mtok_nusd   BIGINT NOT NULL,
  output_per_mtok_nusd        BIGINT NOT NULL,
  effective_from              DATETIME(3) NOT NULL,
  recorded_at                 DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  note                        VARCHAR(255) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_model_price_history (provider, model, effective_from)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Idempotency-Key records for run-creating POSTs, kept 24 h.
-- In the run-creating transaction: INSERT the row (the primary key serialises
-- concurrent requests with the same key). On duplicate key: an expired row
-- (expires_at <= NOW(3)) is replaced, otherwise equal request_hash returns the
-- stored status_code/response (or re-reads run_id), a different hash is 409.
-- request_hash = SHA-256 over method, path and body. Keys are printable ASCII
-- (the API rejects others with 400). Expired rows are purged by
-- DELETE ... WHERE expires_at < NOW(3) LIMIT n (ix_idempotency_expires).
CREATE TABLE IF NOT EXISTS idempotency_keys (
  workspace_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idem_key      VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  request_hash  BINARY(32) NOT NULL,
  run_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
  status_code   SMALLINT NOT NULL DEFAULT 0,
  response      LONGTEXT NULL,
  created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  expires_at    DATETIME(3) NOT NULL,
  PRIMARY KEY (workspace_id, idem_key),
  KEY ix_idempotency_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
