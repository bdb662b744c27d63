/*
 * One run held by this executor, and the writes it has not committed yet.
 *
 * A run's durable state is in MariaDB: the conversation in `messages`, the
 * finished steps in `steps`, the totals in `runs`. An xrun is rebuilt from
 * those on every pick-up (claim.c), advanced by advance.c one step at a
 * time, and every step's outcome is queued as ops that writer.c commits,
 * batched across runs, before the run moves on.
 */
#ifndef AGENTRUN_EXECUTOR_XRUN_H
#define AGENTRUN_EXECUTOR_XRUN_H

#include <curl/curl.h>
#include <jansson.h>

#include "../core/jsonw.h"
#include <stdint.h>

#include "../core/ids.h"
#include "egress.h"
#include "providers/llm.h"

struct loop_timer;
struct executor;

enum xrun_phase {
	XR_IDLE, /* ready for its next step */
	XR_MODEL, /* a model call is streaming */
	XR_TOOL, /* a tool call is in flight */
	XR_BACKOFF, /* waiting to retry a step */
	XR_COMMIT, /* a finished step waits for the writer */
	XR_DONE, /* terminal or parked: dropped after the next commit */
};

enum xop_kind {
	XOP_EVENT, /* type, text: the data document */
	XOP_MESSAGE, /* role, content, tool_calls, tool_call_id, tool_name */
	XOP_STEP, /* a steps row */
	XOP_LLM_CALL, /* an llm_calls row + usage_daily + run totals */
	XOP_PROGRESS, /* text: output so far (or NULL), steps, consume resume_input */
	XOP_STATUS, /* a status change (start, wait, terminal) */
};

/*
 * An op. Events and progress, the ops every streaming turn makes, carry
 * their documents as JSON text written once when queued (jsonw.h): no
 * jansson tree to build, and nothing left to serialise on the writer
 * thread, whose time is the executor's commit rate.
 */
struct xop {
	enum xop_kind kind;
	json_t *v; /* the op's fields (owned); NULL for events and progress */
	char *
	    text; /* event: its data; progress, terminal status: the run's output (owned, may be NULL) */
	char type[40]; /* event: its type */
	int steps; /* progress: steps completed */
	int consume; /* progress: resume_input consumed */
	struct xop *next;
};

struct xrun_limits {
	long long max_steps, max_tokens, max_cost_nusd, timeout_s;
};

struct xrun_retry {
	long long max_attempts, initial_backoff_ms, max_backoff_ms;
	double multiplier;
};

struct xrun {
	struct executor *ex;
	char id[ID_BUFSZ];
	char workspace_id[ID_BUFSZ];
	char session_id[ID_BUFSZ];
	char agent_id[ID_BUFSZ];
	char user_id[ID_BUFSZ];
	char lease_token[ID_BUFSZ];
	long long pickup; /* runs.attempts after this claim */
	long long takeovers; /* runs.takeovers after this claim (claim.c) */

	/* the version's recipe */
	char provider[32];
	char model[256];
	json_t *params;
	char *system_prompt;
	json_t *tools;
	json_t *approval_tools; /* approval.before_tools */
	int approval_required;
	struct xrun_limits limits;
	struct xrun_retry retry;
	struct xrun_endpoint *ep; /* model endpoint and key; NULL: none (scripted) */
	/*
	 * Why this run's model calls cannot be made (its route was deleted, its
	 * key does not open): set at claim, and the next model step fails with
	 * it (PROVIDER_ERROR), whatever the provider. "" when they can.
	 */
	char ep_error[200];

	/* durable state, as loaded and as committed since */
	json_t *history; /* provider-neutral messages (llm.h) */
	size_t own_from; /* index in history of this run's first message */
	int own_turns; /* assistant messages of this run so far */
	long long step; /* index of the next step */
	long long model_calls; /* model calls made (scripted turn position) */
	long long tokens; /* prompt + completion so far */
	long long cost_nusd;
	long long prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens;
	char *resume_input; /* an answer delivered by input, not yet consumed */
	int approved; /* picked up as "approved": the next gate is passed */
	int cancel_requested;
	int64_t started_unix_ms; /* started_at (the first claim's time until it is stored) */
	int64_t deadline_unix_ms; /* started_at + timeout_s */
	json_t *input;

	/* the step in progress */
	enum xrun_phase phase;
	int attempt; /* attempt of the current step */
	int attempt_base; /* attempts of this step made before this pick-up */
	int aborted_attempt; /* an attempt of this step cut short (crash, lost lease): marked */
	int started; /* run.started queued for this pick-up */
	struct loop_timer *deadline_timer;
	uint64_t step_started_ms;
	uint64_t output_written_ms; /* partial output last queued (advance.c) */
	struct loop_timer *timer;
	CURL *easy;
	struct curl_slist *headers;
	struct egress guard; /* the transfer's outbound guard (egress.h) */
	/* a tool call's redirects, followed one hop at a time (httptool.c) */
	char *hop_url; /* the URL of the hop in flight (owned) */
	json_t *hop_tool_headers; /* the tool's own headers (a reference) */
	int hops; /* redirects followed so far */
	int hop_same_origin; /* every hop so far stayed on the tool URL's origin */
	uint64_t hop_deadline_ms; /* the tool's timeout_ms, for all hops together */
	void *stream; /* provider parser state */
	char *reqbody; /* the request body curl sends */
	json_t *call; /* the tool call being executed */
	char *out; /* model text so far (this step) */
	size_t outlen, outcap;
	char *thinking;
	size_t thinklen, thinkcap;
	size_t delta_from; /* out bytes already flushed as message.delta */
	size_t think_from;
	json_t *tool_calls; /* collected from the model this step */
	struct llm_usage usage;
	int have_usage;
	char *resp; /* tool response body */
	size_t resplen, respcap;
	int resp_too_big;
	long retry_after_ms; /* from a 429/503 */
	char stream_error[256]; /* an error event inside a provider stream */
	int scripted_turn; /* scripted: the turn being played */
	const char *scripted_text;
	size_t scripted_pos;

	/* uncommitted writes, in order */
	struct xop *ops, *ops_tail;
	int commit_pending; /* a step waits for these to commit */
	/*
	 * A lifecycle event or a step's first delta is queued (or its text
	 * arrived): flush now, not at the next coalescing tick (writer.c).
	 */
	int urgent;
	int fenced; /* a write found someone else's lease: drop */
	int failed_flushes;
	int data_errors; /* commits of its ops alone refused in a row (writer.c) */
	int uncommittable; /* ended for ops that could not commit (advance.c) */
	int lane; /* the writer lane of its session (writer.c) */
	int flushing; /* ops of this run are with its writer thread (writer.c) */
	int dropped; /* dropped while flushing: freed when the writer is done */

	struct xrun *next, *prev; /* the executor's list (O(1) drop) */
	int held; /* on that list */
};

/*
 * Where a model call goes. Apart from the run: 6 KiB in every run made each
 * run a large allocation (malloc consolidates its free lists for every
 * one), and scripted runs need none.
 */
struct xrun_endpoint {
	char base_url[2049];
	char api_key[4097];
	/* the route chose base_url (not the operator's own): guarded (egress.h) */
	int guarded;
	int allow_private; /* guarded, and its host is on providers.allow_hosts */
};

/* The run's endpoint, made empty on first use; NULL when out of memory. */
struct xrun_endpoint *xrun_endpoint(struct xrun *r);

/* Queues an op (steals v, even on failure). */
void xrun_op(struct xrun *r, enum xop_kind kind, json_t *v);
/* Queues an event. data is stolen. */
void xrun_event(struct xrun *r, const char *type, json_t *data);
/* Queues an event whose data is JSON text (stolen; NULL: nothing is queued). */
void xrun_event_text(struct xrun *r, const char *type, char *text);
/*
 * Queues progress: the partial or final answer (response, n bytes; NULL:
 * unchanged), steps completed, and whether resume_input was consumed.
 */
void xrun_progress(struct xrun *r, const char *response, size_t n, int steps, int consume);
/* {"response":<text>} (n bytes), the run's output document, on the heap; NULL on failure. */
char *xrun_response_doc(const char *text, size_t n);
/* w's bytes as a NUL-terminated heap string (the caller frees), or NULL when w failed. */
char *xrun_jw_text(struct jw *w);
void xrun_ops_clear(struct xrun *r);
/* Frees a detached list of ops. */
void xop_list_free(struct xop *ops);

/*
 * Reads a "Retry-After: <seconds>" response header line (n bytes, as curl's
 * header callback gives it) into r->retry_after_ms; other lines are ignored.
 */
void xrun_retry_after(struct xrun *r, const char *line, size_t n);
/* curl's CURLOPT_HEADERFUNCTION for model and tool calls (arg: the xrun). */
size_t xrun_header_cb(char *data, size_t size, size_t nmemb, void *arg);

/* Frees everything the run holds (transfers must be stopped first). */
void xrun_free(struct xrun *r);

/* Appends to a growable buffer with a cap; -1 when it would pass cap. */
int xrun_buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n, size_t max);

#endif
