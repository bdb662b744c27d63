/*
 * The agent loop of one run: decide the next step from the durable state,
 * run it (a model call or a tool call), queue its outcome, and move on only
 * once the writer has committed it.
 *
 * What to do next is derived, never remembered: from the conversation (the
 * session's messages), the run's committed steps and totals, and what the
 * API delivered (resume_input after input, status approved after approve).
 * That is why a run picked up again after a crash simply resumes: a tool
 * call that was requested but has no result yet is sent again, with the
 * same Idempotency-Key.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/money.h"
#include "executor.h"
#include "loop.h"
#include "model.h"
#include "prices.h"
#include "xrun.h"

#define ADV_OUTPUT_MAX (4 * 1024 * 1024)

/* How often a streaming run's partial output is stored on its row (API.md §2: "so far"). */
#define ADV_PARTIAL_OUTPUT_MS 1000

static int64_t
adv_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "usage":{…},"cost_usd":… of the run so far, the members every run.* end event has. */
static void
adv_totals(struct jw *w, const struct xrun *r)
{
	jw_lit(w, "\"usage\":{\"prompt_tokens\":");
	jw_int(w, r->prompt_tokens);
	jw_lit(w, ",\"cached_tokens\":");
	jw_int(w, r->cached_tokens);
	jw_lit(w, ",\"cache_write_tokens\":");
	jw_int(w, r->cache_write_tokens);
	jw_lit(w, ",\"completion_tokens\":");
	jw_int(w, r->completion_tokens);
	jw_lit(w, ",\"total_tokens\":");
	jw_int(w, r->prompt_tokens + r->completion_tokens);
	jw_lit(w, "},\"cost_usd\":");
	jw_real(w, (double)r->cost_nusd / 1e9);
}

/* The text of the last assistant turn of this run ("" when none). */
static const char *
adv_last_reply(const struct xrun *r)
{
	for (size_t i = json_array_size(r->history); i > r->own_from; i--) {
		json_t *m = json_array_get(r->history, i - 1);

		if (strcmp(json_string_value(json_object_get(m, "role")), "assistant") == 0)
			return json_string_value(json_object_get(m, "content"));
	}
	return "";
}

/*
 * Ends the run: terminal status and event, committed before it is dropped.
 * Its output is its last reply; a run that ends otherwise than completed
 * without having replied has none (null), not an empty response.
 */
static void
adv_finish(struct xrun *r, const char *status, const char *code, const char *message)
{
	const char *reply = adv_last_reply(r);
	char *output = strcmp(status, "completed") == 0 || reply[0] != '\0'
	    ? xrun_response_doc(reply, strlen(reply))
	    : NULL;
	struct jw w;
	json_t *st;
	char type[32];

	advance_flush_deltas(r);
	jw_init(&w, NULL, 0, (size_t)-1);
	jw_lit(&w, "{");
	adv_totals(&w, r);
	if (code != NULL) {
		jw_lit(&w, ",\"error\":{\"code\":");
		jw_str(&w, code);
		jw_lit(&w, ",\"message\":");
		jw_str(&w, message);
		jw_lit(&w, "}");
	} else if (output != NULL) {
		jw_lit(&w, ",\"output\":");
		jw_raw(&w, output, strlen(output));
	}
	jw_lit(&w, "}");
	st = json_pack("{s:s, s:b}", "status", status, "terminal", 1);
	if (code != NULL) {
		json_object_set_new(st, "error_code", json_string(code));
		json_object_set_new(st, "error_message", json_string(message));
	}
	xrun_op(r, XOP_STATUS, st);
	/* The run's output, as the status op's text: written as is. */
	if (r->ops_tail != NULL && r->ops_tail->v == st) {
		r->ops_tail->text = output;
		output = NULL;
	}
	free(output);
	snprintf(type, sizeof(type), "run.%s", status);
	xrun_event_text(r, type, xrun_jw_text(&w));
	r->phase = XR_DONE;
	r->commit_pending = 1;
	r->ex->finished++;
	log_debug("msg=\"run ended\" run=%s status=%s", r->id, status);
}

/* Parks the run until a person answers; the lease is given back. */
static void
adv_park(
    struct xrun *r, const char *status, const char *kind, const char *call_id, const char *prompt)
{
	json_t *st = json_pack("{s:s, s:s, s:s?, s:s}", "status", status, "waiting_kind", kind,
	    "waiting_call_id", call_id, "waiting_prompt", prompt);
	json_t *data;

	xrun_op(r, XOP_STATUS, st);
	if (strcmp(status, "awaiting_approval") == 0)
		data = json_pack("{s:s, s:s?}", "reason", prompt, "call_id", call_id);
	else
		data = json_pack("{s:s, s:s?}", "prompt", prompt, "call_id", call_id);
	xrun_event(r,
	    strcmp(status, "awaiting_approval") == 0 ? "run.awaiting_approval"
						     : "run.waiting_for_input",
	    data);
	r->phase = XR_DONE;
	r->commit_pending = 1;
}

/* {"role":role,"content":text} (no role when NULL): deltas and the completed message. */
static void
adv_content_event(struct xrun *r, const char *type, const char *role, const char *text, size_t n)
{
	struct jw w;

	jw_init(&w, NULL, 0, (size_t)-1);
	jw_lit(&w, "{");
	if (role != NULL) {
		jw_lit(&w, "\"role\":");
		jw_str(&w, role);
		jw_lit(&w, ",");
	}
	jw_lit(&w, "\"content\":");
	jw_strn(&w, text, n);
	jw_lit(&w, "}");
	xrun_event_text(r, type, xrun_jw_text(&w));
}

void
advance_flush_deltas(struct xrun *r)
{
	if (r->thinklen > r->think_from) {
		adv_content_event(r, "thinking.delta", NULL, r->thinking + r->think_from,
		    r->thinklen - r->think_from);
		r->think_from = r->thinklen;
	}
	if (r->outlen > r->delta_from) {
		adv_content_event(
		    r, "message.delta", NULL, r->out + r->delta_from, r->outlen - r->delta_from);
		r->delta_from = r->outlen;
		/*
		 * The partial answer is readable on the run while it streams,
		 * refreshed at most every ADV_PARTIAL_OUTPUT_MS: each refresh
		 * rewrites the whole text so far (and the run row's checks), so
		 * at every flush a long answer cost its run O(length²) bytes
		 * written. Live text is what the deltas are for; the final text
		 * is written with the step.
		 */
		if (loop_now_ms() - r->output_written_ms >= ADV_PARTIAL_OUTPUT_MS) {
			r->output_written_ms = loop_now_ms();
			xrun_progress(r, r->out, r->outlen, 0, 0);
		}
	}
}

static void
adv_reset_step(struct xrun *r)
{
	r->outlen = r->delta_from = 0;
	r->thinklen = r->think_from = 0;
	if (r->out != NULL)
		r->out[0] = '\0';
	json_decref(r->tool_calls);
	r->tool_calls = NULL;
	memset(&r->usage, 0, sizeof(r->usage));
	r->have_usage = 0;
	r->resplen = 0;
	r->resp_too_big = 0;
	r->retry_after_ms = -1;
	r->stream_error[0] = '\0';
}

static void
adv_step_started(struct xrun *r, const char *kind, const char *name)
{
	struct jw w;

	r->step_started_ms = loop_now_ms();
	jw_init(&w, NULL, 0, (size_t)-1);
	jw_lit(&w, "{\"step\":");
	jw_int(&w, r->step);
	jw_lit(&w, ",\"kind\":");
	jw_str(&w, kind);
	jw_lit(&w, ",\"name\":");
	jw_str(&w, name);
	jw_lit(&w, ",\"attempt\":");
	jw_int(&w, r->attempt);
	jw_lit(&w, "}");
	xrun_event_text(r, "step.started", xrun_jw_text(&w));
}

static long long
adv_duration(const struct xrun *r)
{
	return (long long)(loop_now_ms() - r->step_started_ms);
}

/* A model call. */
static void
adv_model(struct xrun *r)
{
	adv_reset_step(r);
	r->phase = XR_MODEL;
	adv_step_started(r, "llm", r->model);
	if (r->ep_error[0] != '\0')
		model_failed(r, 0, -1, r->ep_error); /* no call can be made: not retried */
	else if (strcmp(r->provider, "scripted") == 0)
		(void)scripted_start(r);
	else
		(void)httpmodel_start(r);
}

/* The tool calls of this run's last assistant turn that have no result yet. */
static json_t *
adv_pending_call(struct xrun *r)
{
	size_t n = json_array_size(r->history);

	for (size_t i = n; i > r->own_from; i--) {
		json_t *m = json_array_get(r->history, i - 1), *calls, *call;
		size_t k;

		if (strcmp(json_string_value(json_object_get(m, "role")), "assistant") != 0)
			continue;
		calls = json_object_get(m, "tool_calls");
		json_array_foreach(calls, k, call)
		{
			const char *id = json_string_value(json_object_get(call, "id"));
			int answered = 0;

			for (size_t j = i; j < n && !answered; j++) {
				json_t *t = json_array_get(r->history, j);
				const char *tid =
				    json_string_value(json_object_get(t, "tool_call_id"));

				answered = tid != NULL && id != NULL && strcmp(tid, id) == 0;
			}
			if (!answered)
				return call;
		}
		return NULL;
	}
	return NULL;
}

static const json_t *
adv_tool(const struct xrun *r, const char *name)
{
	size_t i;
	json_t *t;

	json_array_foreach(r->tools, i, t)
	{
		const char *n = json_string_value(json_object_get(t, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return t;
	}
	return NULL;
}

static int
adv_needs_approval(const struct xrun *r, const char *name)
{
	size_t i;
	json_t *t;

	json_array_foreach(r->approval_tools, i,
	    t) if (json_is_string(t) && strcmp(json_string_value(t), name) == 0) return 1;
	return 0;
}

/* "yes" / "approve" (any case, blanks around) confirms. */
static int
adv_confirms(const char *s)
{
	char buf[16] = { 0 };
	size_t n = 0;

	while (isspace((unsigned char)*s))
		s++;
	while (*s != '\0' && n < sizeof(buf) - 1)
		buf[n++] = (char)tolower((unsigned char)*s++);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	return strcmp(buf, "yes") == 0 || strcmp(buf, "approve") == 0 || strcmp(buf, "y") == 0;
}

/* Records a tool result that needs no network (ask_user, refusals, unknown tools). */
static void
adv_local_result(struct xrun *r, json_t *call, json_t *output, int is_error, int consume)
{
	json_decref(r->call);
	r->call = json_incref(call);
	adv_reset_step(r);
	r->phase = XR_TOOL;
	adv_step_started(r, "tool", json_string_value(json_object_get(call, "name")));
	if (consume) {
		xrun_progress(r, NULL, 0, 0, 1);
		free(r->resume_input);
		r->resume_input = NULL;
	}
	tool_done(r, output, is_error);
}

static void
adv_tool_call(struct xrun *r, json_t *call)
{
	const char *name = json_string_value(json_object_get(call, "name"));
	const char *call_id = json_string_value(json_object_get(call, "id"));
	const json_t *tool = name != NULL ? adv_tool(r, name) : NULL;
	const char *type = json_string_value(json_object_get(tool, "type"));
	char prompt[512];

	if (tool == NULL) {
		adv_local_result(
		    r, call, json_sprintf("unknown tool \"%s\"", name ? name : ""), 1, 0);
		return;
	}
	if (adv_needs_approval(r, name)) {
		if (!r->approved) {
			snprintf(prompt, sizeof(prompt), "tool \"%s\" needs approval", name);
			adv_park(r, "awaiting_approval", "approval", call_id, prompt);
			return;
		}
		r->approved = 0; /* this gate is passed */
	}
	if (type != NULL && strcmp(type, "ask_user") == 0) {
		json_t *args = json_object_get(call, "arguments");
		const char *q = json_string_value(json_object_get(args, "question"));

		if (q == NULL)
			q = json_string_value(json_object_get(args, "prompt"));
		if (r->resume_input != NULL) {
			adv_local_result(r, call, json_string(r->resume_input), 0, 1);
			return;
		}
		adv_park(r, "waiting_for_input", "input", call_id, q != NULL ? q : "input needed");
		return;
	}
	if (json_is_true(json_object_get(tool, "requires_confirmation"))) {
		if (r->resume_input == NULL) {
			snprintf(prompt, sizeof(prompt), "confirm the call of tool \"%s\" (yes/no)",
			    name);
			adv_park(r, "waiting_for_input", "confirmation", call_id, prompt);
			return;
		}
		if (!adv_confirms(r->resume_input)) {
			adv_local_result(r, call,
			    json_sprintf("the user refused this call: %s", r->resume_input), 1, 1);
			return;
		}
		xrun_progress(r, NULL, 0, 0, 1);
		free(r->resume_input);
		r->resume_input = NULL;
	}
	json_decref(r->call);
	r->call = json_incref(call);
	adv_reset_step(r);
	r->phase = XR_TOOL;
	adv_step_started(r, "tool", name);
	(void)httptool_start(r, tool, call);
}

/* The pick-up's start: status running and run.started, with the first commit. */
static void
adv_start(struct xrun *r)
{
	char data[48];

	r->started = 1;
	xrun_op(r, XOP_STATUS, json_pack("{s:s, s:b}", "status", "running", "start", 1));
	snprintf(data, sizeof(data), "{\"attempt\":%lld}", r->pickup);
	xrun_event_text(r, "run.started", strdup(data));
}

void
advance(struct xrun *r)
{
	json_t *call;
	const char *last_role;
	size_t n;

	if (r->phase != XR_IDLE || r->fenced)
		return;
	if (!r->started)
		adv_start(r);
	if (r->cancel_requested) {
		adv_finish(r, "cancelled", NULL, NULL);
		return;
	}
	/* A run that keeps losing its executor would otherwise be resumed forever. */
	if (r->takeovers > r->ex->cfg->executor_max_takeovers) {
		char msg[256];

		snprintf(msg, sizeof(msg),
		    "the run was taken over %lld times after its executor stopped holding it "
		    "(a crash, a freeze, or a commit that kept failing); executor.max_takeovers is "
		    "%lld",
		    r->takeovers, r->ex->cfg->executor_max_takeovers);
		log_warnx("msg=\"run taken over too often, ending it\" run=%s takeovers=%lld",
		    r->id, r->takeovers);
		adv_finish(r, "failed", "INTERNAL_ERROR", msg);
		return;
	}
	if (adv_unix_ms() >= r->deadline_unix_ms) {
		adv_finish(r, "timeout", "TIMEOUT", "the run exceeded limits.timeout_s");
		return;
	}
	r->attempt = r->attempt_base + 1;
	if (r->aborted_attempt > 0) {
		/*
		 * An attempt of this step was cut short (its executor died or
		 * lost the lease) after its step.started and maybe some deltas
		 * were logged. Say so before the new attempt starts, so a client
		 * drops that attempt's text (docs/api.md, "Rebuilding a step's
		 * text").
		 */
		xrun_event(r, "step.retrying",
		    json_pack("{s:I, s:i, s:s, s:i, s:b}", "step", (json_int_t)r->step, "attempt",
			r->aborted_attempt, "error",
			"the attempt was cut short (its executor stopped or lost the run)",
			"retry_in_ms", 0, "aborted", 1));
		r->aborted_attempt = 0;
	}
	if ((call = adv_pending_call(r)) != NULL) {
		if (r->step >= r->limits.max_steps) {
			adv_finish(r, "failed", "LIMIT_EXCEEDED", "limits.max_steps reached");
			return;
		}
		adv_tool_call(r, call);
		return;
	}
	n = json_array_size(r->history);
	last_role = n > r->own_from
	    ? json_string_value(json_object_get(json_array_get(r->history, n - 1), "role"))
	    : "";
	if (n > r->own_from && strcmp(last_role, "assistant") == 0) {
		adv_finish(r, "completed", NULL, NULL);
		return;
	}
	if (r->step >= r->limits.max_steps) {
		adv_finish(r, "failed", "LIMIT_EXCEEDED", "limits.max_steps reached");
		return;
	}
	if (r->tokens >= r->limits.max_tokens) {
		adv_finish(r, "failed", "LIMIT_EXCEEDED", "limits.max_tokens reached");
		return;
	}
	if (r->cost_nusd >= r->limits.max_cost_nusd) {
		adv_finish(r, "failed", "LIMIT_EXCEEDED", "limits.max_cost_usd reached");
		return;
	}
	if (r->approval_required && r->own_turns == 0 && !r->approved) {
		adv_park(
		    r, "awaiting_approval", "approval", NULL, "this agent needs approval to run");
		return;
	}
	if (r->approval_required && r->own_turns == 0)
		r->approved = 0;
	adv_model(r);
}

void
advance_committed(struct xrun *r)
{
	if (r->phase == XR_DONE) {
		executor_drop(r->ex, r);
		return;
	}
	if (r->phase == XR_COMMIT) {
		r->phase = XR_IDLE;
		r->attempt_base = 0;
		advance(r);
	}
}

/*
 * Forgets what a list of ops that will never commit added to the run's
 * totals; returns 1 when it held the pick-up's start.
 */
static int
adv_forget_ops(struct xrun *r, const struct xop *ops)
{
	int start = 0;

	for (; ops != NULL; ops = ops->next) {
		const json_t *v = ops->v;

		if (ops->kind == XOP_STATUS && json_is_true(json_object_get(v, "start")))
			start = 1;
		if (ops->kind != XOP_LLM_CALL)
			continue;
		r->prompt_tokens -= json_integer_value(json_object_get(v, "prompt"));
		r->cached_tokens -= json_integer_value(json_object_get(v, "cached"));
		r->cache_write_tokens -= json_integer_value(json_object_get(v, "cache_write"));
		r->completion_tokens -= json_integer_value(json_object_get(v, "completion"));
		r->tokens -= json_integer_value(json_object_get(v, "prompt")) +
		    json_integer_value(json_object_get(v, "completion"));
		r->cost_nusd -= json_integer_value(json_object_get(v, "cost"));
	}
	return start;
}

void
advance_uncommittable(struct xrun *r, struct xop *lost, unsigned int errnum)
{
	struct xop *since = r->ops;
	int restart;
	char msg[256];

	r->ops = r->ops_tail = NULL;
	restart = adv_forget_ops(r, lost) | adv_forget_ops(r, since);
	xop_list_free(lost);
	xop_list_free(since);
	if (r->uncommittable) {
		/* Not even its end commits: leave it to its lease and the takeover cap. */
		log_warnx("msg=\"cannot commit the end of the run, abandoning\" run=%s errno=%u",
		    r->id, errnum);
		executor_drop(r->ex, r);
		return;
	}
	r->uncommittable = 1;
	log_warnx("msg=\"run's writes refused, ending it\" run=%s errno=%u", r->id, errnum);
	advance_abort(r);
	if (r->phase == XR_DONE)
		r->ex->finished--; /* adv_finish counts it again */
	/* Each write the first commit started with went with it: write them again. */
	if (restart)
		adv_start(r);
	snprintf(msg, sizeof(msg),
	    "the database refused to record a step of this run (error %u, %d times); the run "
	    "was ended so that it cannot hold up other runs",
	    errnum, r->data_errors);
	adv_finish(r, "failed", "INTERNAL_ERROR", msg);
}

static void
adv_deadline_fire(void *arg)
{
	struct xrun *r = arg;

	r->deadline_timer = NULL;
	if (r->phase == XR_MODEL || r->phase == XR_TOOL || r->phase == XR_BACKOFF) {
		call_stop(r);
		adv_finish(r, "timeout", "TIMEOUT", "the run exceeded limits.timeout_s");
	}
	/* IDLE and COMMIT runs see the deadline at their next step boundary. */
}

void
advance_cancel(struct xrun *r)
{
	r->cancel_requested = 1;
	/* A back-off is no step in flight: the run ends now, not at its end. */
	if (r->phase == XR_BACKOFF) {
		if (r->timer != NULL) {
			loop_timer_cancel(r->ex->loop, r->timer);
			r->timer = NULL;
		}
		r->phase = XR_IDLE;
		advance(r);
	}
}

void
advance_arm_deadline(struct xrun *r)
{
	int64_t left = r->deadline_unix_ms - adv_unix_ms();

	r->deadline_timer =
	    loop_timer_add(r->ex->loop, left > 0 ? (uint64_t)left : 0, adv_deadline_fire, r);
}

void
advance_abort(struct xrun *r)
{
	call_stop(r);
	if (r->deadline_timer != NULL) {
		loop_timer_cancel(r->ex->loop, r->deadline_timer);
		r->deadline_timer = NULL;
	}
}

/* --- a model call reporting back ------------------------------------------ */

/*
 * A step's first text (and first thinking) is flushed at once, so a
 * listener sees the answer begin without waiting out the coalescing
 * interval; later text coalesces into ~EXECUTOR_FLUSH_MS deltas.
 */
void
model_text(struct xrun *r, const char *s, size_t n)
{
	if (r->outlen == 0 && n > 0)
		r->urgent = 1;
	if (xrun_buf_append(&r->out, &r->outlen, &r->outcap, s, n, ADV_OUTPUT_MAX) == -1)
		log_warnx("msg=\"model output over the cap, truncated\" run=%s", r->id);
}

void
model_thinking(struct xrun *r, const char *s, size_t n)
{
	if (r->thinklen == 0 && n > 0)
		r->urgent = 1;
	(void)xrun_buf_append(&r->thinking, &r->thinklen, &r->thinkcap, s, n, ADV_OUTPUT_MAX);
}

void
model_tool_call(struct xrun *r, const char *id, const char *name, const char *args_json)
{
	json_t *args = json_loads(args_json != NULL && *args_json ? args_json : "{}", 0, NULL);
	char gen[32];

	if (!json_is_object(args)) {
		json_decref(args);
		args = json_object();
	}
	if (id == NULL || *id == '\0') {
		char hex[25];

		id_random_hex(hex, 12);
		snprintf(gen, sizeof(gen), "call_%s", hex);
		id = gen;
	}
	if (r->tool_calls == NULL)
		r->tool_calls = json_array();
	json_array_append_new(r->tool_calls,
	    json_pack(
		"{s:s, s:s, s:o}", "id", id, "name", name != NULL ? name : "", "arguments", args));
}

void
model_usage(struct xrun *r, const struct llm_usage *u)
{
	r->usage = *u;
	/* Every adapter clamps already; this is the one door they all pass. */
	llm_usage_clamp(&r->usage);
	r->have_usage = 1;
}

/* ceil(bytes / 4): the contract's deterministic token count. */
static long long
adv_tokens_of(size_t bytes)
{
	return (long long)((bytes + 3) / 4);
}

/* step.completed of a model call, with its usage and cost. */
static void
adv_model_step_completed(
    struct xrun *r, const struct money_usage *mu, long long cost, int priced, long long dur)
{
	struct jw w;

	jw_init(&w, NULL, 0, (size_t)-1);
	jw_lit(&w, "{\"step\":");
	jw_int(&w, r->step);
	jw_lit(&w, ",\"kind\":\"llm\",\"name\":");
	jw_str(&w, r->model);
	jw_lit(&w, ",\"attempt\":");
	jw_int(&w, r->attempt);
	jw_lit(&w, ",\"duration_ms\":");
	jw_int(&w, dur);
	jw_lit(&w, ",\"usage\":{\"prompt_tokens\":");
	jw_int(&w, mu->prompt);
	jw_lit(&w, ",\"cached_tokens\":");
	jw_int(&w, mu->cached);
	jw_lit(&w, ",\"cache_write_tokens\":");
	jw_int(&w, mu->cache_write);
	jw_lit(&w, ",\"completion_tokens\":");
	jw_int(&w, mu->completion);
	jw_lit(&w, "},\"cost_usd\":");
	jw_real(&w, (double)cost / 1e9);
	if (!priced)
		jw_lit(&w, ",\"priced\":false");
	jw_lit(&w, "}");
	xrun_event_text(r, "step.completed", xrun_jw_text(&w));
}

void
model_done(struct xrun *r)
{
	struct money_prices prices;
	struct money_usage mu;
	long long cost, dur = adv_duration(r);
	const char *text = r->out != NULL ? r->out : "";
	json_t *msg;
	int priced;
	size_t i;
	json_t *c;

	if (r->phase != XR_MODEL)
		return;
	if (!r->have_usage) {
		size_t bytes = strlen(r->system_prompt);

		json_array_foreach(r->history, i, c) bytes +=
		    strlen(json_string_value(json_object_get(c, "content")));
		r->usage.prompt_tokens = adv_tokens_of(bytes);
		r->usage.completion_tokens = adv_tokens_of(r->outlen);
	}
	priced = prices_lookup(r->ex->db, r->provider, r->model, &prices);
	mu = (struct money_usage){ r->usage.prompt_tokens, r->usage.cached_tokens,
		r->usage.cache_write_tokens, r->usage.completion_tokens };
	cost = money_cost_nusd(&mu, &prices);
	advance_flush_deltas(r);

	msg = json_pack("{s:s, s:s}", "role", "assistant", "content", text);
	if (r->tool_calls != NULL && json_array_size(r->tool_calls) > 0)
		json_object_set(msg, "tool_calls", r->tool_calls);
	{
		json_t *op = json_deep_copy(msg);
		char dedup[96];

		snprintf(dedup, sizeof(dedup), "%s:%lld:assistant", r->id, r->step);
		json_object_set_new(op, "dedup", json_string(dedup));
		xrun_op(r, XOP_MESSAGE, op);
	}
	if (text[0] != '\0' || r->tool_calls == NULL)
		adv_content_event(r, "message.completed", "assistant", text, strlen(text));
	json_array_foreach(r->tool_calls, i, c) xrun_event(r, "tool.call",
	    json_pack("{s:O, s:O, s:O}", "call_id", json_object_get(c, "id"), "name",
		json_object_get(c, "name"), "arguments", json_object_get(c, "arguments")));
	xrun_op(r, XOP_STEP,
	    json_pack("{s:I, s:i, s:s, s:s, s:s, s:I}", "step", (json_int_t)r->step, "attempt",
		r->attempt, "kind", "llm", "name", r->model, "status", "completed", "duration_ms",
		(json_int_t)dur));
	xrun_op(r, XOP_LLM_CALL,
	    json_pack("{s:I, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:[I,I,I,I], s:I}",
		"step", (json_int_t)r->step, "attempt", r->attempt, "provider", r->provider,
		"model", r->model, "prompt", (json_int_t)mu.prompt, "cached", (json_int_t)mu.cached,
		"cache_write", (json_int_t)mu.cache_write, "completion", (json_int_t)mu.completion,
		"cost", (json_int_t)cost, "priced", priced, "prices", (json_int_t)prices.input,
		(json_int_t)prices.cached_input, (json_int_t)prices.cache_write,
		(json_int_t)prices.output, "duration_ms", (json_int_t)dur));
	xrun_progress(r, text, strlen(text), 1, 0);
	adv_model_step_completed(r, &mu, cost, priced, dur);

	json_array_append_new(r->history, msg);
	r->own_turns++;
	r->step++;
	r->model_calls++;
	r->prompt_tokens += mu.prompt;
	r->cached_tokens += mu.cached;
	r->cache_write_tokens += mu.cache_write;
	r->completion_tokens += mu.completion;
	r->tokens += mu.prompt + mu.completion;
	/*
	 * Tokens are bounded (clamped per call, max_steps); a cost is not when
	 * a price is absurd. Saturated here, it fails the run's commit (1690)
	 * and the writer ends the run (advance_uncommittable).
	 */
	if (money_add(&r->cost_nusd, cost) == -1)
		r->cost_nusd = LLONG_MAX;
	r->phase = XR_COMMIT;
	r->commit_pending = 1;
	/*
	 * A reply without tool calls ends the run, and nothing leaves the
	 * executor before that end: the terminal status may commit with the
	 * step (one flush, not two). A tool call waits for its step's commit.
	 */
	if (r->tool_calls == NULL || json_array_size(r->tool_calls) == 0) {
		r->phase = XR_IDLE;
		r->attempt_base = 0;
		advance(r);
	}
}

/*
 * Back-off before attempt n+1: full jitter, a uniform wait between 0 and
 * initial × multiplier^(n−1) (capped at max), but at least Retry-After.
 */
static long
adv_backoff_ms(const struct xrun *r, long retry_after_ms)
{
	double d = (double)r->retry.initial_backoff_ms *
	    pow(r->retry.multiplier, (double)(r->attempt - 1));
	long cap, ms;

	if (d > (double)r->retry.max_backoff_ms)
		d = (double)r->retry.max_backoff_ms;
	cap = (long)d;
	ms = cap > 0 ? (long)randombytes_uniform((uint32_t)cap + 1) : 0;
	if (retry_after_ms > ms)
		ms = retry_after_ms;
	return ms;
}

static void
adv_retry_fire(void *arg)
{
	struct xrun *r = arg;

	r->timer = NULL;
	if (r->phase != XR_BACKOFF)
		return;
	if (r->cancel_requested) {
		r->phase = XR_IDLE;
		advance(r);
		return;
	}
	r->attempt++;
	if (r->call != NULL) {
		const json_t *tool =
		    adv_tool(r, json_string_value(json_object_get(r->call, "name")));

		adv_reset_step(r);
		r->phase = XR_TOOL;
		adv_step_started(r, "tool", json_string_value(json_object_get(r->call, "name")));
		(void)httptool_start(r, tool, r->call);
	} else
		adv_model(r);
}

/* A failed attempt: retry with back-off, or end the run. */
static void
adv_failed(struct xrun *r, const char *kind, int retryable, long retry_after_ms, const char *error)
{
	const char *code = strcmp(kind, "llm") == 0 ? "PROVIDER_ERROR" : "TOOL_ERROR";
	const char *name = strcmp(kind, "llm") == 0
	    ? r->model
	    : json_string_value(json_object_get(r->call, "name"));
	long delay;

	call_stop(r);
	advance_flush_deltas(r);
	xrun_op(r, XOP_STEP,
	    json_pack("{s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:I}", "step", (json_int_t)r->step,
		"attempt", r->attempt, "kind", kind, "name", name ? name : "", "status", "failed",
		"error_code", code, "error_message", error, "duration_ms",
		(json_int_t)adv_duration(r)));
	if (strcmp(kind, "llm") == 0)
		r->model_calls++;
	if (!retryable || r->attempt >= r->retry.max_attempts || r->cancel_requested) {
		char msg[600];

		snprintf(msg, sizeof(msg), "%s after %d attempt%s: %s",
		    strcmp(kind, "llm") == 0 ? "the model provider failed" : "the tool failed",
		    r->attempt, r->attempt == 1 ? "" : "s", error);
		if (r->cancel_requested)
			adv_finish(r, "cancelled", NULL, NULL);
		else
			adv_finish(r, "failed", code, msg);
		return;
	}
	delay = adv_backoff_ms(r, retry_after_ms);
	xrun_event(r, "step.retrying",
	    json_pack("{s:I, s:i, s:s, s:I}", "step", (json_int_t)r->step, "attempt", r->attempt,
		"error", error, "retry_in_ms", (json_int_t)delay));
	r->phase = XR_BACKOFF;
	r->timer = loop_timer_add(r->ex->loop, (uint64_t)delay, adv_retry_fire, r);
}

void
model_failed(struct xrun *r, int retryable, long retry_after_ms, const char *error)
{
	if (r->phase != XR_MODEL)
		return;
	json_decref(r->call);
	r->call = NULL;
	adv_failed(r, "llm", retryable, retry_after_ms, error);
}

void
tool_failed(struct xrun *r, int retryable, long retry_after_ms, const char *error)
{
	if (r->phase != XR_TOOL)
		return;
	adv_failed(r, "tool", retryable, retry_after_ms, error);
}

void
tool_done(struct xrun *r, json_t *output, int is_error)
{
	const char *name = json_string_value(json_object_get(r->call, "name"));
	const char *call_id = json_string_value(json_object_get(r->call, "id"));
	long long dur = adv_duration(r);
	char *text, dedup[96];

	if (r->phase != XR_TOOL) {
		json_decref(output);
		return;
	}
	text = json_is_string(output) ? strdup(json_string_value(output))
				      : json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
	xrun_event(r, "tool.result",
	    json_pack("{s:s, s:s, s:O, s:b}", "call_id", call_id, "name", name, "output", output,
		"is_error", is_error));
	snprintf(dedup, sizeof(dedup), "%s:%lld:tool", r->id, r->step);
	xrun_op(r, XOP_MESSAGE,
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "role", "tool", "content", text ? text : "",
		"tool_call_id", call_id, "tool_name", name, "dedup", dedup));
	xrun_op(r, XOP_STEP,
	    json_pack("{s:I, s:i, s:s, s:s, s:s, s:s, s:I}", "step", (json_int_t)r->step, "attempt",
		r->attempt, "kind", "tool", "name", name, "status", "completed", "call_id", call_id,
		"duration_ms", (json_int_t)dur));
	xrun_progress(r, NULL, 0, 1, 0);
	xrun_event(r, "step.completed",
	    json_pack("{s:I, s:s, s:s, s:i, s:I}", "step", (json_int_t)r->step, "kind", "tool",
		"name", name, "attempt", r->attempt, "duration_ms", (json_int_t)dur));
	json_array_append_new(r->history,
	    json_pack("{s:s, s:s, s:s, s:s}", "role", "tool", "content", text ? text : "",
		"tool_call_id", call_id, "name", name));
	free(text);
	json_decref(output);
	json_decref(r->call);
	r->call = NULL;
	r->step++;
	r->phase = XR_COMMIT;
	r->commit_pending = 1;
}
