/*
 * Validating what clients send: query parameters and body fields. Each
 * function that returns -1 has already sent the 400 naming the field.
 */
#ifndef AGENTRUN_API_PARAMS_H
#define AGENTRUN_API_PARAMS_H

#include <jansson.h>
#include <stddef.h>

#include "../core/ids.h"

struct request_ctx;

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100

struct list_params {
	long long limit;
	int has_before;
	char before[ID_BUFSZ];
};

/* Reads limit (1..100, default 20) and before (a well-formed id). */
int params_list(struct request_ctx *ctx, struct list_params *lp);

enum field_flags {
	FIELD_OPTIONAL = 0,
	FIELD_REQUIRED = 1,
	FIELD_NULLABLE = 2
};

/*
 * A string field of at most maxlen bytes. *out borrows from obj, NULL when
 * absent (or null with FIELD_NULLABLE).
 */
int params_string(struct request_ctx *ctx, json_t *obj, const char *name, int flags, size_t maxlen,
    const char **out);

/* A string field whose value must be one of the NULL-terminated choices. */
int params_enum(struct request_ctx *ctx, json_t *obj, const char *name, int flags,
    const char *const *choices, const char **out);

/*
 * An object field whose compact JSON text is at most maxbytes (a larger one
 * is 413 PAYLOAD_TOO_LARGE naming the field). *out borrows from obj, NULL
 * when absent (or null with FIELD_NULLABLE).
 */
int params_object(struct request_ctx *ctx, json_t *obj, const char *name, int flags,
    size_t maxbytes, json_t **out);

/*
 * Query parameters. Each returns 1 when the parameter is present and valid,
 * 0 when it is absent, and -1 after sending 400 INVALID_INPUT naming it.
 */

/* An integer from min to max; *out is dflt when absent. */
int params_query_int(struct request_ctx *ctx, const char *name, long long min, long long max,
    long long dflt, long long *out);

/* A well-formed id, copied into out ("" when absent). */
int params_query_id(struct request_ctx *ctx, const char *name, char out[ID_BUFSZ]);

/*
 * A comma-separated list whose every item is one of the NULL-terminated
 * choices (e.g. status=running,failed), copied into out as given.
 */
int params_query_csv(
    struct request_ctx *ctx, const char *name, const char *const *choices, char *out, size_t outsz);

/* A boolean field; *out is left as it is when absent (or null with FIELD_NULLABLE). */
int params_bool(struct request_ctx *ctx, json_t *obj, const char *name, int flags, int *out);

/* A boolean query parameter: true/false or 1/0; *out is dflt when absent. */
int params_query_bool(struct request_ctx *ctx, const char *name, int dflt, int *out);

#endif
