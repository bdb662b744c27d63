/*
 * The writes of a run that starts a new session (no Idempotency-Key): one
 * CALL run_create_new for a lone create, or the creates of every request
 * thread of this worker waiting at that moment in one transaction of
 * multi-row statements (group commit across requests; see createnew.c).
 */
#ifndef AGENTRUN_API_CREATENEW_H
#define AGENTRUN_API_CREATENEW_H

#include <pthread.h>

#include "../core/db.h"

struct config;

/*
 * The rows a new session's first run writes, as both the one-at-a-time
 * path (runs_create.c) and the batch (createnew.c) send them: head + one
 * row of placeholders.
 */
#define CN_SESSION_INSERT                                                                    \
	"INSERT INTO sessions (id, workspace_id, agent_id, agent_version, agent_version_id," \
	" status, metadata, last_seq, active_run_id, created_at, updated_at) VALUES "
/* A new session holds its first run and run.created (seq 1) from the start. */
#define CN_SESSION_ROW "(?, ?, ?, ?, ?, 'open', '{}', 1, ?, NOW(3), NOW(3))"
#define CN_MESSAGE_INSERT                                                                        \
	"INSERT INTO messages (id, workspace_id, session_id, run_id, role, content, created_at)" \
	" VALUES "
#define CN_MESSAGE_ROW "(?, ?, ?, ?, 'user', ?, NOW(3))"

/* The parameters of run_create_new (sql/migrations/0008_run_create_verify.sql), in order. */
enum createnew_param {
	CNP_WS,
	CNP_RUN,
	CNP_SESSION,
	CNP_MESSAGE,
	CNP_AGENT,
	CNP_VERSION,
	CNP_VERSION_ID,
	CNP_PARENT,
	CNP_EXPERIMENT,
	CNP_CANDIDATE,
	CNP_ROUTE,
	CNP_PERSONA,
	CNP_PROVIDER,
	CNP_MODEL,
	CNP_INPUT,
	CNP_METADATA,
	CNP_TRACE,
	CNP_SPAN,
	CNP_USER,
	CNP_KEY,
	CNP_MULTITASK,
	CNP_TURN,
	CNP_EVENT,
	CNP_TRY_SLOT0, /* count the run in usage_daily slot 0 if that row is free */
	CNP_OWN_SLOT,
	CNP_VERIFY, /* check the version is still the agent's active one */
	CNP__COUNT
};

enum createnew_outcome {
	CN_OK, /* written: view holds the Run's columns */
	CN_STALE, /* CNP_VERIFY was set and the version is no longer active: nothing written */
	CN_DUPLICATE, /* the run id exists: an earlier attempt committed (answer lost) */
	CN_FAILED, /* database failure (logged) */
};

struct createnew_job {
	struct db_param p[CNP__COUNT]; /* strings borrowed until the job is done */
	enum createnew_outcome out;
	struct db_result *view; /* CN_OK: one row, RUNVIEW_COLUMNS order; caller frees */
	long long slot; /* CN_OK: the usage_daily slot the run was counted in */
	enum db_err err; /* CN_FAILED: what failed (DB_ERR_RETRY: the database is unavailable) */
	unsigned int err_no;
	int maybe_committed; /* CN_FAILED: the write was sent and its answer lost */
	long long deadline_ms; /* the request's database deadline (db_set_deadline), 0: none */
	/* batcher's own */
	int done;
	pthread_cond_t done_cv; /* signalled for this job alone: no waiter wakes for another's */
	struct createnew_job *next;
};

/* The usage_daily slot of this process for contended rollup keys (1-255). */
long long createnew_own_slot(void);

/*
 * Counts n runs of one rollup key (workspace, agent, user, provider, model)
 * in usage_daily, inside the caller's transaction: in slot 0 when try0 and
 * that row is free right now (no lock wait), else in the own slot. The slot
 * used, or -1 (db_last_err() tells why).
 */
long long createnew_usage(struct db *db, const char *const key[5], long long n, int try0);

/* Runs the job alone on db (one CALL, retried on deadlocks); sets job->out. */
void createnew_run(struct db *db, struct createnew_job *job);

/*
 * Starts the batching thread with its own connection. createnew_submit()
 * calls pause() before it waits for the commit and resume() after, so the
 * request threads can serve others meanwhile (reqthreads.c). 0 or -1.
 */
int createnew_batcher_start(const struct config *cfg, void (*pause)(void), void (*resume)(void));
/* 1 when createnew_submit() is available (the batcher runs). */
int createnew_batching(void);
/*
 * Queues the job for the next group commit and waits for its outcome. The
 * batcher rings the executor's and the stream worker's doorbells once per
 * commit that wrote a run, so the caller does not (two datagrams per
 * create, each waking the stream worker, were ~5% of create's CPU).
 */
void createnew_submit(struct createnew_job *job);
/* Commits what is queued, stops the thread and closes its connection. */
void createnew_batcher_stop(void);

#endif
