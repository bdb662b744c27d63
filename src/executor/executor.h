/* The executor process: its loop, connection, held runs and housekeeping clocks. */
#ifndef AGENTRUN_EXECUTOR_H
#define AGENTRUN_EXECUTOR_H

#include <stdint.h>

#include "../core/config.h"
#include "../core/secretbox.h"

struct config;
struct db;
struct loop;
struct purge;
struct writer;
struct xrun;

/* The most commit lanes (executor.writers): one thread and connection each. */
#define WRITER_LANES_MAX CONFIG_EXECUTOR_WRITERS_MAX

struct executor {
	const struct config *cfg;
	struct db *db; /* the loop thread's connection (claims, leases) */
	struct writer *writers[WRITER_LANES_MAX]; /* commit lanes (writer.c) */
	int nwriters;
	struct purge *purge; /* housekeeping thread (purge.c) */
	struct loop *loop;
	char owner[128]; /* host:pid:random, written into runs.owner */
	struct xrun *runs;
	int nruns;
	uint64_t last_claim_ms, last_heartbeat_ms, last_cancel_ms, last_flush_ms;
	int want_claim; /* claim at the next turn (doorbell, or the last claim took runs) */
	int want_cancels; /* look for cancel requests at the next turn (doorbell) */
	unsigned char master_key[SECRETBOX_KEY_LEN];
	int have_master_key;
	/* counters for the log */
	unsigned long long claimed, finished, flushes;
};

/* claim.c */
/*
 * Runs taken per claim: a claim is a few set-based statements whatever its
 * size, so large batches let thousands of runs start within seconds.
 */
#define CLAIM_BATCH_MAX 512
/* Claims up to the free capacity and starts each claimed run. Returns how many. */
int claim_runs(struct executor *ex);
/* Renews every lease this executor holds: one statement. */
void claim_heartbeat(struct executor *ex);
/* Marks held runs whose cancel was requested. */
void claim_check_cancels(struct executor *ex);
/* Gives every held run back (shutdown): another executor resumes it at once. */
void claim_release_all(struct executor *ex);

/* writer.c: commits the held runs' queued ops, batched, on writer threads. */
int writer_start(struct executor *ex); /* 0 / -1 */
/* The writer lane of a session's runs. */
int writer_lane_of(const struct executor *ex, const char *session_id);
/* Hands each idle lane every op queued for it (the others' wait). 0. */
int writer_flush(struct executor *ex);
/* Applies finished commits' outcomes to their runs (loop thread). */
void writer_reap(struct executor *ex);
/* 1 when a step waits for a commit that an idle lane could start now. */
int writer_ready(const struct executor *ex);
/* Commits what is out and what is queued, then ends the threads. */
void writer_stop(struct executor *ex);

/* purge.c: expired idempotency keys deleted in small batches, on a thread of its own. */
int purge_start(struct executor *ex); /* 0 / -1 */
void purge_stop(struct executor *ex);

/* advance.c */
void advance(struct xrun *r); /* start the run's next step */
void advance_committed(struct xrun *r); /* its queued step outcome is durable */
void advance_abort(struct xrun *r); /* stop transfers and timers (fenced, shutdown) */
void advance_arm_deadline(struct xrun *r); /* limits.timeout_s also ends a step in flight */
void advance_flush_deltas(struct xrun *r); /* queue coalesced message/thinking deltas */

/* Adds a claimed run to the executor's list. */
void executor_hold(struct executor *ex, struct xrun *r);
/* Removes r from the executor and frees it; its room is claimed again. */
void executor_drop(struct executor *ex, struct xrun *r);

#endif
