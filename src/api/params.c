#include "params.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Refuses field name with status and code, {"field": name} as details. -1. */
static int params_refuse(struct request_ctx *ctx, int status, enum err_code code, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
params_refuse(
    struct request_ctx *ctx, int status, enum err_code code, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)http_send_verror(
	    ctx->req, status, code, NULL, json_pack("{s:s}", "field", name), fmt, ap);
	va_end(ap);
	return -1;
}

int
params_list(struct request_ctx *ctx, struct list_params *lp)
{
	char buf[64];
	int rc;

	memset(lp, 0, sizeof(*lp));
	lp->limit = LIST_LIMIT_DEFAULT;
	rc = http_query_param(ctx->req->query, "limit", buf, sizeof(buf));
	if (rc == -1)
		goto bad_limit;
	if (rc == 1) {
		char *end;

		errno = 0;
		lp->limit = strtoll(buf, &end, 10);
		if (errno != 0 || end == buf || *end != '\0' || lp->limit < 1 ||
		    lp->limit > LIST_LIMIT_MAX)
			goto bad_limit;
	}
	rc = http_query_param(ctx->req->query, "before", lp->before, sizeof(lp->before));
	if (rc == 1 && !id_valid(lp->before))
		rc = -1;
	if (rc == -1)
		return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
			   json_pack("{s:s}", "field", "before"),
			   "before: must be the id of an item from a previous page"),
		       -1;
	lp->has_before = rc == 1;
	return 0;
bad_limit:
	return http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		   json_pack("{s:s}", "field", "limit"), "limit: must be an integer from 1 to %d",
		   LIST_LIMIT_MAX),
	       -1;
}

int
params_string(struct request_ctx *ctx, json_t *obj, const char *name, int flags, size_t maxlen,
    const char **out)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || (json_is_null(v) && (flags & FIELD_NULLABLE))) {
		if (!(flags & FIELD_REQUIRED))
			return 0;
		return params_refuse(ctx, 400, ERR_INVALID_INPUT, name, "%s: is required", name);
	}
	if (!json_is_string(v))
		return params_refuse(
		    ctx, 400, ERR_INVALID_INPUT, name, "%s: must be a string", name);
	if (json_string_length(v) > maxlen)
		return params_refuse(ctx, 400, ERR_INVALID_INPUT, name,
		    "%s: must be at most %zu bytes", name, maxlen);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return params_refuse(
		    ctx, 400, ERR_INVALID_INPUT, name, "%s: must not contain NUL", name);
	*out = json_string_value(v);
	return 0;
}

int
params_enum(struct request_ctx *ctx, json_t *obj, const char *name, int flags,
    const char *const *choices, const char **out)
{
	if (params_string(ctx, obj, name, flags, 64, out) == -1)
		return -1;
	if (*out == NULL)
		return 0;
	for (size_t i = 0; choices[i] != NULL; i++)
		if (strcmp(*out, choices[i]) == 0)
			return 0;
	return params_refuse(
	    ctx, 400, ERR_INVALID_INPUT, name, "%s: \"%s\" is not an allowed value", name, *out);
}

int
params_object(struct request_ctx *ctx, json_t *obj, const char *name, int flags, size_t maxbytes,
    json_t **out)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || (json_is_null(v) && (flags & FIELD_NULLABLE))) {
		if (!(flags & FIELD_REQUIRED))
			return 0;
		return params_refuse(ctx, 400, ERR_INVALID_INPUT, name, "%s: is required", name);
	}
	if (!json_is_object(v))
		return params_refuse(
		    ctx, 400, ERR_INVALID_INPUT, name, "%s: must be an object", name);
	/* json_dumpb with no buffer only measures. */
	if (json_dumpb(v, NULL, 0, JSON_COMPACT) > maxbytes)
		return params_refuse(ctx, 413, ERR_PAYLOAD_TOO_LARGE, name,
		    "%s: must be at most %zu bytes as JSON", name, maxbytes);
	*out = v;
	return 0;
}

int
params_query_int(struct request_ctx *ctx, const char *name, long long min, long long max,
    long long dflt, long long *out)
{
	char buf[32], *end;
	int rc;

	*out = dflt;
	rc = http_query_param(ctx->req->query, name, buf, sizeof(buf));
	if (rc == 1) {
		errno = 0;
		*out = strtoll(buf, &end, 10);
		if (errno != 0 || end == buf || *end != '\0' || *out < min || *out > max)
			rc = -1;
	}
	if (rc == -1) {
		*out = dflt;
		return params_refuse(ctx, 400, ERR_INVALID_INPUT, name,
		    "%s: must be an integer from %lld to %lld", name, min, max);
	}
	return rc;
}

int
params_query_id(struct request_ctx *ctx, const char *name, char out[ID_BUFSZ])
{
	int rc = http_query_param(ctx->req->query, name, out, ID_BUFSZ);

	if (rc == 1 && !id_valid(out))
		rc = -1;
	if (rc != 1)
		out[0] = '\0';
	if (rc == -1)
		return params_refuse(ctx, 400, ERR_INVALID_INPUT, name, "%s: must be an id", name);
	return rc;
}

int
params_query_csv(
    struct request_ctx *ctx, const char *name, const char *const *choices, char *out, size_t outsz)
{
	const char *item, *end;
	size_t len, i;
	int rc = http_query_param(ctx->req->query, name, out, outsz);

	if (rc == 0)
		return 0;
	if (rc == -1)
		return params_refuse(
		    ctx, 400, ERR_INVALID_INPUT, name, "%s: malformed or too long", name);
	for (item = out;; item = end + 1) {
		end = strchr(item, ',');
		len = end != NULL ? (size_t)(end - item) : strlen(item);
		for (i = 0; choices[i] != NULL; i++)
			if (strlen(choices[i]) == len && strncmp(item, choices[i], len) == 0)
				break;
		if (choices[i] == NULL) {
			char allowed[256] = "";
			size_t n = 0;

			/* The bad item is not echoed: query bytes need not be UTF-8. */
			for (i = 0; choices[i] != NULL && n < sizeof(allowed); i++)
				n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%s",
				    i > 0 ? ", " : "", choices[i]);
			out[0] = '\0';
			return params_refuse(ctx, 400, ERR_INVALID_INPUT, name,
			    "%s: each comma-separated item must be one of: %s", name, allowed);
		}
		if (end == NULL)
			return 1;
	}
}

int
params_bool(struct request_ctx *ctx, json_t *obj, const char *name, int flags, int *out)
{
	json_t *v = json_object_get(obj, name);

	if (v == NULL || (json_is_null(v) && (flags & FIELD_NULLABLE))) {
		if (!(flags & FIELD_REQUIRED))
			return 0;
		return params_refuse(ctx, 400, ERR_INVALID_INPUT, name, "%s: is required", name);
	}
	if (!json_is_boolean(v))
		return params_refuse(
		    ctx, 400, ERR_INVALID_INPUT, name, "%s: must be a boolean", name);
	*out = json_is_true(v);
	return 0;
}

int
params_query_bool(struct request_ctx *ctx, const char *name, int dflt, int *out)
{
	char buf[8];
	int rc = http_query_param(ctx->req->query, name, buf, sizeof(buf));

	*out = dflt;
	if (rc == 0)
		return 0;
	if (rc == 1 && (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0))
		*out = 1;
	else if (rc == 1 && (strcmp(buf, "false") == 0 || strcmp(buf, "0") == 0))
		*out = 0;
	else
		return params_refuse(
		    ctx, 400, ERR_INVALID_INPUT, name, "%s: must be true or false", name);
	return 1;
}
