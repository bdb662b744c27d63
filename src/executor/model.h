/*
 * The seam between the agent loop (advance.c) and what does the work: model
 * adapters (scripted.c, httpmodel.c) and tools (httptool.c) start a call and
 * report back through these functions, always from the event loop.
 */
#ifndef AGENTRUN_EXECUTOR_MODEL_H
#define AGENTRUN_EXECUTOR_MODEL_H

#include <jansson.h>
#include <stddef.h>

#include "providers/llm.h"

struct xrun;

/* advance.c: a model call's stream */
void model_text(struct xrun *r, const char *s, size_t n);
void model_thinking(struct xrun *r, const char *s, size_t n);
void model_tool_call(struct xrun *r, const char *id, const char *name, const char *args_json);
void model_usage(struct xrun *r, const struct llm_usage *u);
void model_done(struct xrun *r);
/* retryable: connect errors, timeouts, 408, 429, 5xx. retry_after_ms: -1 when none given. */
void model_failed(struct xrun *r, int retryable, long retry_after_ms, const char *error);

/* advance.c: a tool call's end. output is stolen. */
void tool_done(struct xrun *r, json_t *output, int is_error);
void tool_failed(struct xrun *r, int retryable, long retry_after_ms, const char *error);

/* scripted.c / httpmodel.c / httptool.c: start a call (0), or -1 after reporting a failure */
int scripted_start(struct xrun *r);
int httpmodel_start(struct xrun *r);
int httptool_start(struct xrun *r, const json_t *tool, const json_t *call);

/* Stops whatever call r has in flight (timer or transfer), reporting nothing. */
void call_stop(struct xrun *r);

#endif
