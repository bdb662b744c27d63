/*
 * Rendering the user turn of a run from its input (API.md §2): with a
 * prompt_template, "{{field}}" is replaced by input.field (strings as they
 * are, other values as compact JSON, missing fields as ""); without one the
 * user turn is input.prompt, input.message, or else the input as JSON text.
 * Pure; shared by the API worker (which records the turn) and the executor.
 */
#ifndef AGENTRUN_PROMPT_H
#define AGENTRUN_PROMPT_H

#include <jansson.h>

/* Returns a new string the caller frees, or NULL on out-of-memory. */
char *prompt_render_user(const char *prompt_template, const json_t *input);

#endif
