/*
 * agentrun-executor: claims runs and advances them, many at once, in one
 * event loop (loop.c) on libcurl's multi interface.
 *
 * Each turn of the loop: wait for transfers, timers or the doorbell; let
 * finished calls queue their outcomes; hand every queued outcome to the
 * writer lanes, one transaction per lane for all its runs (writer.c: group
 * commit, each step durable before its run moves on); claim more runs when there is room and a doorbell rang
 * or the poll interval passed; renew leases with one statement per
 * heartbeat; look for cancel requests. SIGTERM: stop claiming, hand every
 * held run back (another executor resumes it from its last committed
 * step), exit.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "../core/config.h"
#include "../core/daemon.h"
#include "../core/db.h"
#include "../core/doorbell.h"
#include "../core/ids.h"
#include "../core/log.h"
#include "egress.h"
#include "executor.h"
#include "loop.h"
#include "prices.h"
#include "xrun.h"

/* Deltas are coalesced to about one event per run per this many ms (API.md §5). */
#define EXECUTOR_FLUSH_MS 50
/* How often the leases of runs abandoned in an outage are offered back. */
#define EXECUTOR_RELEASE_MS 200
#define EXECUTOR_CANCEL_CHECK_MS 250

static volatile sig_atomic_t executor_got_term;

static void
executor_on_term(int sig)
{
	(void)sig;
	executor_got_term = 1;
}

void
executor_hold(struct executor *ex, struct xrun *r)
{
	r->prev = NULL;
	r->next = ex->runs;
	if (ex->runs != NULL)
		ex->runs->prev = r;
	ex->runs = r;
	r->held = 1;
	r->lane = writer_lane_of(ex, r->session_id);
	ex->nruns++;
}

void
executor_drop(struct executor *ex, struct xrun *r)
{
	/*
	 * Unlinked in O(1): a commit ends thousands of runs at once, and a
	 * search of the list per run made reaping it quadratic.
	 */
	if (r->held) {
		if (r->prev != NULL)
			r->prev->next = r->next;
		else
			ex->runs = r->next;
		if (r->next != NULL)
			r->next->prev = r->prev;
		r->next = r->prev = NULL;
		r->held = 0;
		ex->nruns--;
		/* Room freed: look for more runs at the next turn, not the next poll. */
		ex->want_claim = 1;
	}
	if (r->dropped)
		return;
	advance_abort(r);
	if (r->flushing) {
		/* The writer thread still reads it: writer_reap() frees it. */
		r->dropped = 1;
		return;
	}
	xrun_free(r);
}

/*
 * glibc's allocator, set for an executor's pattern: a commit ends thousands
 * of runs at once, then claims make as many again. With fastbins, freeing
 * a burst of adjacent runs builds free chunks over 64 KiB, and each such
 * free (and each large allocation after it) walks every fastbin to
 * consolidate them: 15,000 instructions a free(), a tenth of the loop
 * thread's time. Without fastbins (the tcache still serves small sizes)
 * chunks coalesce as they are freed. Keeping freed memory, not trimming
 * it, spares the page faults of taking it back a moment later.
 */
static void
executor_malloc_tune(void)
{
	(void)mallopt(M_MXFAST, 0);
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
	(void)mallopt(M_TOP_PAD, 16 << 20);
	(void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

static void
executor_owner(struct executor *ex)
{
	char host[64] = "host", rnd[9];

	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	id_random_hex(rnd, 4);
	snprintf(ex->owner, sizeof(ex->owner), "%s:%ld:%s", host, (long)getpid(), rnd);
}

static void
executor_loop(struct executor *ex)
{
	const struct config *cfg = ex->cfg;
	uint64_t heartbeat_every = (uint64_t)cfg->executor_lease_s * 1000 / 3;

	ex->want_claim = ex->want_cancels = 1;
	while (!executor_got_term) {
		uint64_t now;
		int wait = EXECUTOR_FLUSH_MS;

		/* A commit in flight wakes the loop itself when it is done. */
		if (writer_ready(ex))
			wait = 0;
		/* The doorbell: new runs to claim, or a cancel request to look for. */
		if (loop_run_once(ex->loop, wait))
			ex->want_claim = ex->want_cancels = 1;
		writer_reap(ex);
		now = loop_now_ms();
		/* Steps wait for their commit: flush at once when one does. */
		if (writer_ready(ex) || now - ex->last_flush_ms >= EXECUTOR_FLUSH_MS) {
			ex->last_flush_ms = now;
			(void)writer_flush(ex);
		}
		if (ex->nabandoned > 0 && now - ex->last_release_ms >= EXECUTOR_RELEASE_MS) {
			ex->last_release_ms = now;
			claim_release_abandoned(ex);
		}
		if (now - ex->last_heartbeat_ms >= heartbeat_every) {
			ex->last_heartbeat_ms = now;
			claim_heartbeat(ex);
		}
		if (now - ex->last_cancel_ms >= EXECUTOR_CANCEL_CHECK_MS || ex->want_cancels) {
			ex->last_cancel_ms = now;
			ex->want_cancels = 0;
			claim_check_cancels(ex);
		}
		if (ex->want_claim || now - ex->last_claim_ms >= (uint64_t)cfg->executor_poll_ms) {
			ex->want_claim = 0;
			ex->last_claim_ms = now;
			/* Taking some means there may be more waiting: claim again next turn. */
			if (claim_runs(ex) > 0)
				ex->want_claim = 1;
		}
	}
}

static void
executor_shutdown(struct executor *ex)
{
	/* Commit what is queued, then hand the rest back. */
	purge_stop(ex);
	writer_stop(ex);
	claim_release_all(ex); /* abandoned runs' leases too */
	while (ex->runs != NULL)
		executor_drop(ex, ex->runs);
	free(ex->abandoned);
	ex->abandoned = NULL;
	ex->nabandoned = ex->abandoned_cap = 0;
}

int
main(int argc, char **argv)
{
	struct daemon_opts opts;
	static struct config cfg;
	static struct executor ex;
	int bell;

	executor_malloc_tune();
	daemon_start("agentrun-executor", argc, argv, &opts, &cfg, NULL);
	if (opts.pidfile == NULL && cfg.executor_pidfile[0] != '\0')
		opts.pidfile = cfg.executor_pidfile;
	signal(SIGPIPE, SIG_IGN);
	daemon_on_signal(SIGTERM, executor_on_term);
	daemon_on_signal(SIGINT, executor_on_term);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0)
		fatalx("msg=\"library initialisation failed\"");
	/* The outbound guard needs the per-request check (egress.c): refuse to run without it. */
	if (curl_version_info(CURLVERSION_NOW)->version_num < 0x075500)
		fatalx("msg=\"libcurl %s is too old: 7.85 or newer is needed\"",
		    curl_version_info(CURLVERSION_NOW)->version);
	{
		char err[256];

		if (egress_list_check(cfg.providers_allow_hosts, err, sizeof(err)) == -1)
			fatalx("msg=\"providers.allow_hosts: %s\"", err);
	}
	db_global_init();
	ex.cfg = &cfg;
	if ((ex.db = db_new(&cfg)) == NULL)
		fatalx("msg=\"out of memory\"");
	/* Frozen past its lease, this executor must not keep its runs' rows locked. */
	db_set_idle_txn_timeout(ex.db, cfg.executor_lease_s);
	if (db_connect(ex.db) == -1)
		log_warnx("msg=\"database not reachable yet\" errno=%u", db_last_errno(ex.db));
	ex.have_master_key = cfg.security_master_key[0] != '\0' &&
	    secretbox_key_from_hex(cfg.security_master_key, ex.master_key) == 0;
	bell = doorbell_bind(cfg.doorbell_executor);
	if ((ex.loop = loop_new(bell)) == NULL)
		fatalx("msg=\"cannot create the event loop\"");
	if (writer_start(&ex) == -1)
		fatalx("msg=\"cannot start the writer thread\"");
	if (purge_start(&ex) == -1)
		fatalx("msg=\"cannot start the housekeeping thread\"");
	executor_owner(&ex);
	daemon_pidfile_write(opts.pidfile);
	log_info("msg=started owner=%s capacity=%lld doorbell=%s", ex.owner, cfg.executor_capacity,
	    cfg.doorbell_executor);

	executor_loop(&ex);

	executor_shutdown(&ex);
	log_info("msg=stopped claimed=%llu finished=%llu flushes=%llu", ex.claimed, ex.finished,
	    ex.flushes);
	loop_free(ex.loop);
	if (bell >= 0) {
		close(bell);
		(void)unlink(cfg.doorbell_executor);
	}
	prices_free();
	db_free(ex.db);
	sodium_memzero(ex.master_key, sizeof(ex.master_key));
	curl_global_cleanup();
	daemon_pidfile_remove(opts.pidfile);
	return 0;
}
