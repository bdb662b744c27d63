/*
 * The agent version document (see versionspec.h). Validation rules and
 * defaults, per field (docs/api.md "Agent versions" is the reference):
 *
 *   model          required object: provider (scripted|openai|anthropic),
 *                  name (1..255 bytes), route_id (a UUID; that it names a
 *                  live route is versionspec_check_route's, through byok.h),
 *                  params (object, {}); for scripted, each
 *                  params.turns[i].usage an object whose token counts are
 *                  integers 0..MONEY_TOKENS_MAX
 *   system_prompt  string <= 256 KiB, ""
 *   prompt_template string <= 256 KiB or null
 *   input_schema   object or null, accepted by jsonschema_check()
 *   tools          array (<= 128) of http / ask_user tools, []; names unique
 *   limits         max_steps 1..1000 (20), max_tokens 1..1e8 (200000),
 *                  max_cost_usd 0..1e6 (5.0), timeout_s 1..86400 (600)
 *   retry          max_attempts 1..20 (3), initial_backoff_ms 0..600000
 *                  (500), max_backoff_ms initial..3600000 (30000, or
 *                  initial when larger), multiplier 1..10 (2.0)
 *   approval       required (false), before_tools: names of tools ([])
 *
 * A null anywhere counts as absent (the default applies), except for the
 * two nullable fields prompt_template and input_schema, and model, which is
 * required. Unknown fields are dropped.
 */
#include "versionspec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/db.h"
#include "../core/jsonschema.h"
#include "../core/jsonv.h"
#include "../core/money.h"
#include "api.h"
#include "byok.h"

#define VS_NAME_MAX 255
#define VS_PROMPT_MAX (256 * 1024)
#define VS_DESCRIPTION_MAX (64 * 1024)
#define VS_URL_MAX 2048
#define VS_TOOLS_MAX 128
#define VS_TOOL_NAME_MAX 64
#define VS_HEADERS_MAX 64
#define VS_HEADER_NAME_MAX 128
#define VS_HEADER_VALUE_MAX 8192
#define VS_MAX_COST_USD 1000000.0

static const char vs_sql_insert[] =
    "INSERT INTO agent_versions (id, workspace_id, agent_id, version, status, model,"
    " system_prompt, prompt_template, input_schema, tools, limits, retry, approval,"
    " activated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, IF(? = 1, NOW(3), NULL))";
static const char vs_sql_update[] =
    "UPDATE agent_versions SET model = ?, system_prompt = ?, prompt_template = ?,"
    " input_schema = ?, tools = ?, limits = ?, retry = ?, approval = ?, updated_at = NOW(3)"
    " WHERE id = ? AND status = 'draft'";
static const char vs_sql_get[] =
    "SELECT " VERSIONSPEC_COLUMNS " FROM agent_versions WHERE workspace_id = ? AND id = ?";

/* The top-level fields of a version body, in column order. */
enum vs_field {
	VS_MODEL,
	VS_SYSTEM_PROMPT,
	VS_PROMPT_TEMPLATE,
	VS_INPUT_SCHEMA,
	VS_TOOLS,
	VS_LIMITS,
	VS_RETRY,
	VS_APPROVAL,
	VS__MAX
};

static const char *const vs_fields[VS__MAX] = {
	"model",
	"system_prompt",
	"prompt_template",
	"input_schema",
	"tools",
	"limits",
	"retry",
	"approval",
};

static const char *const vs_providers[] = { "scripted", "openai", "anthropic", NULL };

/* Headers the executor sets itself; a tool may not. */
static const char *const vs_reserved_headers[] = { "connection", "content-length", "host",
	"idempotency-key", "transfer-encoding", NULL };

struct vs {
	const char *prefix;
	struct vspec_error *err;
};

/* Fills the error: field is prefix + path. Always -1. */
static int vs_fail(struct vs *v, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
vs_fail(struct vs *v, const char *path, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	snprintf(v->err->field, sizeof(v->err->field), "%s%s", v->prefix, path);
	snprintf(v->err->message, sizeof(v->err->message), "%.*s: %s",
	    (int)(sizeof(v->err->message) - sizeof(what) - 4), v->err->field, what);
	return -1;
}

/* Out of memory: an empty field, which versionspec_send_error() turns into a 500. */
static int
vs_oom(struct vs *v)
{
	v->err->field[0] = '\0';
	snprintf(v->err->message, sizeof(v->err->message), "out of memory");
	return -1;
}

/* "parent.name", or "name" at the top. */
static void
vs_path(char *out, size_t outsz, const char *parent, const char *name)
{
	if (parent[0] == '\0')
		snprintf(out, outsz, "%s", name);
	else
		snprintf(out, outsz, "%s.%s", parent, name);
}

/* obj[name], with null (and a missing obj) counting as absent. Borrowed. */
static json_t *
vs_get(const json_t *obj, const char *name)
{
	json_t *x = json_object_get(obj, name);

	return x != NULL && !json_is_null(x) ? x : NULL;
}

static int
vs_string(struct vs *v, const json_t *val, const char *path, size_t maxlen)
{
	if (!json_is_string(val))
		return vs_fail(v, path, "must be a string");
	if (json_string_length(val) > maxlen)
		return vs_fail(v, path, "must be at most %zu bytes", maxlen);
	if (strlen(json_string_value(val)) != json_string_length(val))
		return vs_fail(v, path, "must not contain NUL");
	return 0;
}

static int
vs_int(struct vs *v, const json_t *obj, const char *parent, const char *name, long long lo,
    long long hi, long long *out)
{
	const json_t *x = vs_get(obj, name);
	char path[VSPEC_FIELD_MAX];

	if (x == NULL)
		return 0; /* *out keeps its default */
	vs_path(path, sizeof(path), parent, name);
	if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
		return vs_fail(v, path, "must be an integer from %lld to %lld", lo, hi);
	*out = json_integer_value(x);
	return 0;
}

static int
vs_number(struct vs *v, const json_t *obj, const char *parent, const char *name, double lo,
    double hi, double *out)
{
	const json_t *x = vs_get(obj, name);
	char path[VSPEC_FIELD_MAX];

	if (x == NULL)
		return 0;
	vs_path(path, sizeof(path), parent, name);
	if (!json_is_number(x) || json_number_value(x) < lo || json_number_value(x) > hi)
		return vs_fail(v, path, "must be a number from %g to %g", lo, hi);
	*out = json_number_value(x);
	return 0;
}

static int
vs_bool(struct vs *v, const json_t *obj, const char *parent, const char *name, int *out)
{
	const json_t *x = vs_get(obj, name);
	char path[VSPEC_FIELD_MAX];

	if (x == NULL)
		return 0;
	vs_path(path, sizeof(path), parent, name);
	if (!json_is_boolean(x))
		return vs_fail(v, path, "must be a boolean");
	*out = json_is_true(x);
	return 0;
}

/* An object section ("limits"…) or NULL when absent; -1 when not an object. */
static int
vs_section(struct vs *v, const json_t *x, const char *path)
{
	if (x != NULL && !json_is_object(x))
		return vs_fail(v, path, "must be an object");
	return 0;
}

static int
vs_in(const char *s, const char *const *set)
{
	for (size_t i = 0; set[i] != NULL; i++)
		if (strcmp(s, set[i]) == 0)
			return 1;
	return 0;
}

/* --- model ---------------------------------------------------------------- */

/*
 * The scripted model's turns may script a call's usage: each count is what
 * one model call may report, 0..MONEY_TOKENS_MAX (the executor would clamp
 * anything else; an absurd script is refused here, where its author sees
 * why). Other members of the turns are the scripted model's to read.
 */
static int
vs_scripted_usage(struct vs *v, const json_t *params)
{
	static const char *const counts[] = { "prompt_tokens", "cached_tokens",
		"cache_write_tokens", "completion_tokens", NULL };
	const json_t *turns = json_object_get(params, "turns"), *turn;
	char path[VSPEC_FIELD_MAX];
	size_t i;

	json_array_foreach(turns, i, turn)
	{
		const json_t *usage = json_object_get(turn, "usage");
		long long n;

		if (usage == NULL || json_is_null(usage))
			continue;
		snprintf(path, sizeof(path), "model.params.turns[%zu].usage", i);
		if (!json_is_object(usage))
			return vs_fail(v, path, "must be an object");
		for (size_t k = 0; counts[k] != NULL; k++)
			if (vs_int(v, usage, path, counts[k], 0, MONEY_TOKENS_MAX, &n) == -1)
				return -1;
	}
	return 0;
}

static int
vs_model(struct vs *v, const json_t *m, json_t **out)
{
	const json_t *provider, *name, *route, *params;

	*out = NULL;
	if (m == NULL)
		return vs_fail(v, "model", "is required");
	if (!json_is_object(m))
		return vs_fail(v, "model", "must be an object");
	if ((provider = vs_get(m, "provider")) == NULL)
		return vs_fail(v, "model.provider", "is required");
	if (!json_is_string(provider) || !vs_in(json_string_value(provider), vs_providers))
		return vs_fail(v, "model.provider", "must be one of scripted, openai, anthropic");
	if ((name = vs_get(m, "name")) == NULL)
		return vs_fail(v, "model.name", "is required");
	if (vs_string(v, name, "model.name", VS_NAME_MAX) == -1)
		return -1;
	if (json_string_length(name) == 0)
		return vs_fail(v, "model.name", "must not be empty");
	route = vs_get(m, "route_id");
	if (route != NULL && (!json_is_string(route) || !id_valid(json_string_value(route))))
		return vs_fail(v, "model.route_id", "must be a route id");
	params = vs_get(m, "params");
	if (params != NULL && !json_is_object(params))
		return vs_fail(v, "model.params", "must be an object");
	if (params != NULL && strcmp(json_string_value(provider), "scripted") == 0 &&
	    vs_scripted_usage(v, params) == -1)
		return -1;
	*out = json_pack("{s:O, s:O, s:o, s:o}", "provider", provider, "name", name, "route_id",
	    route != NULL ? json_deep_copy(route) : json_null(), "params",
	    params != NULL ? json_deep_copy(params) : json_object());
	return *out != NULL ? 0 : vs_oom(v);
}

/* --- tools ---------------------------------------------------------------- */

/* ^[A-Za-z0-9_-]{1,64}$ */
static int
vs_tool_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > VS_TOOL_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * An absolute http:// or https:// URL: printable ASCII without spaces, a
 * non-empty host (a name, an IPv4 or a bracketed IPv6 literal) and an
 * optional port 1..65535. Address policy (private ranges) is the
 * executor's, at call time, after name resolution.
 */
static int
vs_url_ok(const char *u)
{
	const char *auth, *end, *host, *at, *colon = NULL;
	long port = 0;

	for (const char *p = u; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	if (strncasecmp(u, "http://", 7) == 0)
		auth = u + 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		auth = u + 8;
	else
		return 0;
	end = auth + strcspn(auth, "/?#");
	host = auth;
	for (at = auth; at < end; at++)
		if (*at == '@')
			host = at + 1;
	if (host < end && *host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (rb == NULL || rb == host + 1)
			return 0;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return 0;
			colon = rb + 1;
		}
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		if ((colon != NULL ? colon : end) == host)
			return 0;
	}
	if (colon != NULL) {
		if (colon + 1 == end || end - colon > 6)
			return 0;
		for (const char *p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return 0;
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return 0;
	}
	return 1;
}

/* An HTTP token (RFC 9110) of 1..VS_HEADER_NAME_MAX characters. */
static int
vs_header_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VS_HEADER_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			strchr("!#$%&'*+-.^_`|~", c) != NULL))
			return 0;
	}
	return 1;
}

static int
vs_headers(struct vs *v, const json_t *h, const char *path, json_t **out)
{
	char sub[VSPEC_FIELD_MAX];
	const char *name;
	json_t *val;

	*out = NULL;
	if (h != NULL && !json_is_object(h))
		return vs_fail(v, path, "must be an object of strings");
	if (json_object_size(h) > VS_HEADERS_MAX)
		return vs_fail(v, path, "must have at most %d headers", VS_HEADERS_MAX);
	json_object_foreach((json_t *)h, name, val)
	{
		char lower[VS_HEADER_NAME_MAX + 1];
		size_t n;

		if (!vs_header_name_ok(name))
			return vs_fail(v, path,
			    "header names must be HTTP tokens of 1 to %d characters",
			    VS_HEADER_NAME_MAX);
		n = strlen(name);
		for (size_t i = 0; i <= n; i++)
			lower[i] =
			    (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
		if (snprintf(sub, sizeof(sub), "%s.%s", path, name) >= (int)sizeof(sub))
			return vs_fail(v, path, "header name too long");
		if (vs_in(lower, vs_reserved_headers))
			return vs_fail(v, sub, "is set by the server");
		if (vs_string(v, val, sub, VS_HEADER_VALUE_MAX) == -1)
			return -1;
		if (strpbrk(json_string_value(val), "\r\n") != NULL)
			return vs_fail(v, sub, "must not contain CR or LF");
	}
	*out = h != NULL ? json_deep_copy(h) : json_object();
	return *out != NULL ? 0 : vs_oom(v);
}

static int
vs_description(struct vs *v, const json_t *t, const char *tpath, const char **out)
{
	const json_t *d = vs_get(t, "description");
	char path[VSPEC_FIELD_MAX];

	*out = "";
	if (d == NULL)
		return 0;
	vs_path(path, sizeof(path), tpath, "description");
	if (vs_string(v, d, path, VS_DESCRIPTION_MAX) == -1)
		return -1;
	*out = json_string_value(d);
	return 0;
}

static int
vs_http_tool(struct vs *v, const json_t *t, const char *tpath, const char *name, json_t **out)
{
	const json_t *params, *url, *method;
	const char *desc;
	char path[VSPEC_FIELD_MAX], err[256];
	json_t *headers = NULL, *pcopy;
	long long timeout_ms = 30000;
	int confirm = 0;

	*out = NULL;
	if (vs_description(v, t, tpath, &desc) == -1)
		return -1;
	if ((params = vs_get(t, "parameters")) != NULL) {
		vs_path(path, sizeof(path), tpath, "parameters");
		if (!json_is_object(params))
			return vs_fail(v, path, "must be an object (a JSON Schema)");
		if (jsonschema_check(params, err, sizeof(err)) == -1)
			return vs_fail(v, path, "not a usable JSON Schema: %s", err);
	}
	vs_path(path, sizeof(path), tpath, "url");
	if ((url = vs_get(t, "url")) == NULL)
		return vs_fail(v, path, "is required");
	if (vs_string(v, url, path, VS_URL_MAX) == -1)
		return -1;
	if (!vs_url_ok(json_string_value(url)))
		return vs_fail(v, path, "must be an absolute http:// or https:// URL");
	if ((method = vs_get(t, "method")) != NULL &&
	    (!json_is_string(method) || strcasecmp(json_string_value(method), "POST") != 0)) {
		vs_path(path, sizeof(path), tpath, "method");
		return vs_fail(v, path, "must be \"POST\"");
	}
	if (vs_int(v, t, tpath, "timeout_ms", 1, 300000, &timeout_ms) == -1 ||
	    vs_bool(v, t, tpath, "requires_confirmation", &confirm) == -1)
		return -1;
	vs_path(path, sizeof(path), tpath, "headers");
	if (vs_headers(v, vs_get(t, "headers"), path, &headers) == -1)
		return -1;
	pcopy = params != NULL ? json_deep_copy(params) : json_pack("{s:s}", "type", "object");
	*out = json_pack("{s:s, s:s, s:s, s:o, s:O, s:s, s:o, s:I, s:b}", "type", "http", "name",
	    name, "description", desc, "parameters", pcopy, "url", url, "method", "POST", "headers",
	    headers, "timeout_ms", (json_int_t)timeout_ms, "requires_confirmation", confirm);
	return *out != NULL ? 0 : vs_oom(v);
}

static int
vs_tool(struct vs *v, const json_t *t, size_t i, const json_t *done, json_t **out)
{
	static const char *const types[] = { "http", "ask_user", NULL };
	char tpath[64], path[VSPEC_FIELD_MAX];
	const json_t *type, *name;
	const char *desc;

	*out = NULL;
	snprintf(tpath, sizeof(tpath), "tools[%zu]", i);
	if (!json_is_object(t))
		return vs_fail(v, tpath, "must be an object");
	vs_path(path, sizeof(path), tpath, "type");
	if ((type = vs_get(t, "type")) == NULL)
		return vs_fail(v, path, "is required");
	if (!json_is_string(type) || !vs_in(json_string_value(type), types))
		return vs_fail(v, path, "must be \"http\" or \"ask_user\"");

	vs_path(path, sizeof(path), tpath, "name");
	name = vs_get(t, "name");
	if (strcmp(json_string_value(type), "ask_user") == 0) {
		if (name != NULL && !json_equal(name, json_object_get(t, "type")))
			return vs_fail(v, path, "must be \"ask_user\" for an ask_user tool");
	} else {
		if (name == NULL)
			return vs_fail(v, path, "is required");
		if (!json_is_string(name) ||
		    !vs_tool_name_ok(json_string_value(name), json_string_length(name)))
			return vs_fail(
			    v, path, "must be 1 to %d of A-Z a-z 0-9 _ -", VS_TOOL_NAME_MAX);
	}
	for (size_t k = 0; k < json_array_size(done); k++) {
		const char *other =
		    json_string_value(json_object_get(json_array_get(done, k), "name"));

		if (strcmp(other, name != NULL ? json_string_value(name) : "ask_user") == 0)
			return vs_fail(v, path, "repeats the name of tools[%zu]", k);
	}
	if (strcmp(json_string_value(type), "http") == 0)
		return vs_http_tool(v, t, tpath, json_string_value(name), out);
	if (vs_description(v, t, tpath, &desc) == -1)
		return -1;
	*out = json_pack(
	    "{s:s, s:s, s:s}", "type", "ask_user", "name", "ask_user", "description", desc);
	return *out != NULL ? 0 : vs_oom(v);
}

static int
vs_tools(struct vs *v, const json_t *tools, json_t **out)
{
	json_t *arr, *t;

	*out = NULL;
	if (tools != NULL && !json_is_array(tools))
		return vs_fail(v, "tools", "must be an array");
	if (json_array_size(tools) > VS_TOOLS_MAX)
		return vs_fail(v, "tools", "must have at most %d tools", VS_TOOLS_MAX);
	if ((arr = json_array()) == NULL)
		return vs_oom(v);
	for (size_t i = 0; i < json_array_size(tools); i++) {
		if (vs_tool(v, json_array_get(tools, i), i, arr, &t) == -1 ||
		    json_array_append_new(arr, t) == -1) {
			json_decref(arr);
			return -1;
		}
	}
	*out = arr;
	return 0;
}

/* --- limits, retry, approval --------------------------------------------- */

static int
vs_limits(struct vs *v, const json_t *l, json_t **out)
{
	long long max_steps = 20, max_tokens = 200000, timeout_s = 600;
	double max_cost = 5.0;

	*out = NULL;
	if (vs_section(v, l, "limits") == -1 ||
	    vs_int(v, l, "limits", "max_steps", 1, 1000, &max_steps) == -1 ||
	    vs_int(v, l, "limits", "max_tokens", 1, 100000000, &max_tokens) == -1 ||
	    vs_number(v, l, "limits", "max_cost_usd", 0, VS_MAX_COST_USD, &max_cost) == -1 ||
	    vs_int(v, l, "limits", "timeout_s", 1, 86400, &timeout_s) == -1)
		return -1;
	*out = json_pack("{s:I, s:I, s:f, s:I}", "max_steps", (json_int_t)max_steps, "max_tokens",
	    (json_int_t)max_tokens, "max_cost_usd", max_cost, "timeout_s", (json_int_t)timeout_s);
	return *out != NULL ? 0 : vs_oom(v);
}

static int
vs_retry(struct vs *v, const json_t *r, json_t **out)
{
	long long attempts = 3, initial = 500, max = 30000;
	double multiplier = 2.0;

	*out = NULL;
	if (vs_section(v, r, "retry") == -1 ||
	    vs_int(v, r, "retry", "max_attempts", 1, 20, &attempts) == -1 ||
	    vs_int(v, r, "retry", "initial_backoff_ms", 0, 600000, &initial) == -1)
		return -1;
	if (initial > max)
		max = initial; /* the default never undercuts the initial back-off */
	if (vs_int(v, r, "retry", "max_backoff_ms", initial, 3600000, &max) == -1 ||
	    vs_number(v, r, "retry", "multiplier", 1, 10, &multiplier) == -1)
		return -1;
	*out = json_pack("{s:I, s:I, s:I, s:f}", "max_attempts", (json_int_t)attempts,
	    "initial_backoff_ms", (json_int_t)initial, "max_backoff_ms", (json_int_t)max,
	    "multiplier", multiplier);
	return *out != NULL ? 0 : vs_oom(v);
}

static int
vs_has_tool(const json_t *tools, const char *name)
{
	for (size_t i = 0; i < json_array_size(tools); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(tools, i), "name")),
			name) == 0)
			return 1;
	return 0;
}

static int
vs_approval(struct vs *v, const json_t *a, const json_t *tools, json_t **out)
{
	const json_t *before;
	json_t *names;
	char path[64];
	int required = 0;

	*out = NULL;
	if (vs_section(v, a, "approval") == -1 ||
	    vs_bool(v, a, "approval", "required", &required) == -1)
		return -1;
	before = vs_get(a, "before_tools");
	if (before != NULL && !json_is_array(before))
		return vs_fail(v, "approval.before_tools", "must be an array of tool names");
	if ((names = json_array()) == NULL)
		return vs_oom(v);
	for (size_t i = 0; i < json_array_size(before); i++) {
		const json_t *n = json_array_get(before, i);
		int dup = 0;

		snprintf(path, sizeof(path), "approval.before_tools[%zu]", i);
		if (!json_is_string(n)) {
			json_decref(names);
			return vs_fail(v, path, "must be a string");
		}
		if (!vs_has_tool(tools, json_string_value(n))) {
			json_decref(names);
			return vs_fail(v, path, "names no tool of this version");
		}
		for (size_t k = 0; k < json_array_size(names); k++)
			dup |= json_equal(n, json_array_get(names, k));
		if (!dup && json_array_append_new(names, json_deep_copy(n)) == -1) {
			json_decref(names);
			return vs_oom(v);
		}
	}
	*out = json_pack("{s:b, s:o}", "required", required, "before_tools", names);
	return *out != NULL ? 0 : vs_oom(v);
}

/* --- the whole body ------------------------------------------------------- */

int
versionspec_normalize(const json_t *body, const json_t *base, const char *prefix, json_t **out,
    struct vspec_error *err)
{
	const json_t *src[VS__MAX];
	json_t *doc[VS__MAX] = { NULL }, *spec = NULL;
	struct vs v = { prefix, err };
	char serr[256];
	int rc = -1;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	for (int f = 0; f < VS__MAX; f++) {
		const json_t *x = json_object_get(body, vs_fields[f]);

		if (x == NULL && base != NULL)
			x = json_object_get(base, vs_fields[f]);
		src[f] = x != NULL && !json_is_null(x) ? x : NULL;
	}

	if (vs_model(&v, src[VS_MODEL], &doc[VS_MODEL]) == -1)
		goto out;
	if (src[VS_SYSTEM_PROMPT] != NULL) {
		if (vs_string(&v, src[VS_SYSTEM_PROMPT], "system_prompt", VS_PROMPT_MAX) == -1)
			goto out;
		doc[VS_SYSTEM_PROMPT] = json_deep_copy(src[VS_SYSTEM_PROMPT]);
	} else
		doc[VS_SYSTEM_PROMPT] = json_string("");
	if (src[VS_PROMPT_TEMPLATE] != NULL) {
		if (vs_string(&v, src[VS_PROMPT_TEMPLATE], "prompt_template", VS_PROMPT_MAX) == -1)
			goto out;
		doc[VS_PROMPT_TEMPLATE] = json_deep_copy(src[VS_PROMPT_TEMPLATE]);
	} else
		doc[VS_PROMPT_TEMPLATE] = json_null();
	if (src[VS_INPUT_SCHEMA] != NULL) {
		if (!json_is_object(src[VS_INPUT_SCHEMA])) {
			vs_fail(&v, "input_schema", "must be an object (a JSON Schema) or null");
			goto out;
		}
		if (jsonschema_check(src[VS_INPUT_SCHEMA], serr, sizeof(serr)) == -1) {
			vs_fail(&v, "input_schema", "not a usable JSON Schema: %s", serr);
			goto out;
		}
		doc[VS_INPUT_SCHEMA] = json_deep_copy(src[VS_INPUT_SCHEMA]);
	} else
		doc[VS_INPUT_SCHEMA] = json_null();
	if (vs_tools(&v, src[VS_TOOLS], &doc[VS_TOOLS]) == -1 ||
	    vs_limits(&v, src[VS_LIMITS], &doc[VS_LIMITS]) == -1 ||
	    vs_retry(&v, src[VS_RETRY], &doc[VS_RETRY]) == -1 ||
	    vs_approval(&v, src[VS_APPROVAL], doc[VS_TOOLS], &doc[VS_APPROVAL]) == -1)
		goto out;

	if ((spec = json_object()) == NULL) {
		vs_oom(&v);
		goto out;
	}
	for (int f = 0; f < VS__MAX; f++) {
		if (doc[f] == NULL || json_object_set_new(spec, vs_fields[f], doc[f]) == -1) {
			doc[f] = NULL; /* stolen, even on failure */
			vs_oom(&v);
			goto out;
		}
		doc[f] = NULL;
	}
	*out = spec;
	spec = NULL;
	rc = 0;
out:
	for (int f = 0; f < VS__MAX; f++)
		json_decref(doc[f]);
	json_decref(spec);
	return rc;
}

int
versionspec_send_error(struct request_ctx *ctx, const struct vspec_error *err)
{
	if (err->field[0] == '\0')
		http_send_error(ctx->req, 500, ERR_INTERNAL, NULL, "internal error");
	else
		http_send_error(ctx->req, 400, ERR_INVALID_INPUT,
		    json_pack("{s:s}", "field", err->field), "%s", err->message);
	return -1;
}

int
versionspec_check_route(
    struct request_ctx *ctx, const json_t *spec, const char *prefix, struct vspec_error *err)
{
	const char *route =
	    json_string_value(json_object_get(json_object_get(spec, "model"), "route_id"));
	struct vs v = { prefix, err };
	int found;

	if (route == NULL)
		return 0;
	if ((found = byok_route_exists(ctx, route)) == -1)
		return -1;
	if (found == 1)
		return 0;
	vs_fail(&v, "model.route_id", "names no route of this workspace");
	return 1;
}

/* --- storage -------------------------------------------------------------- */

/* JSON text of a stored document (or NULL for null); new string. */
static int
vs_dump(const json_t *spec, enum vs_field f, char **out)
{
	const json_t *x = json_object_get(spec, vs_fields[f]);

	*out = NULL;
	if (x == NULL || json_is_null(x))
		return 0;
	*out = json_dumps(x, JSON_COMPACT);
	return *out != NULL ? 0 : -1;
}

/*
 * Binds the eight stored fields of spec to p[0..7] in column order; the
 * dumped documents go to text[] for the caller to free.
 */
static int
vs_bind(const json_t *spec, char *text[VS__MAX], struct db_param p[VS__MAX])
{
	for (int f = 0; f < VS__MAX; f++)
		text[f] = NULL;
	for (int f = 0; f < VS__MAX; f++) {
		const json_t *x = json_object_get(spec, vs_fields[f]);

		if (f == VS_SYSTEM_PROMPT || f == VS_PROMPT_TEMPLATE) {
			p[f] = json_is_string(x)
			    ? DBP_STRN(json_string_value(x), json_string_length(x))
			    : DBP_NULL();
			continue;
		}
		if (vs_dump(spec, (enum vs_field)f, &text[f]) == -1)
			return -1;
		p[f] = dbp_str(text[f]);
	}
	return 0;
}

static void
vs_bind_free(char *text[VS__MAX])
{
	for (int f = 0; f < VS__MAX; f++)
		free(text[f]);
}

int
versionspec_insert(struct db *db, const char *workspace_id, const char *agent_id, long long version,
    const json_t *spec, int active, char id[ID_BUFSZ])
{
	struct db_param p[5 + VS__MAX + 1];
	char *text[VS__MAX];
	int rc = -1;

	id_new(id);
	p[0] = dbp_str(id);
	p[1] = dbp_str(workspace_id);
	p[2] = dbp_str(agent_id);
	p[3] = DBP_INT(version);
	p[4] = dbp_str(active ? "active" : "draft");
	if (vs_bind(spec, text, p + 5) == 0) {
		p[5 + VS__MAX] = DBP_INT(active ? 1 : 0);
		rc = db_query(db, vs_sql_insert, p, sizeof(p) / sizeof(p[0]), NULL);
	}
	vs_bind_free(text);
	return rc;
}

int
versionspec_update(struct db *db, const char *version_id, const json_t *spec)
{
	struct db_param p[VS__MAX + 1];
	char *text[VS__MAX];
	int rc = -1;

	if (vs_bind(spec, text, p) == 0) {
		p[VS__MAX] = dbp_str(version_id);
		rc = db_query(db, vs_sql_update, p, sizeof(p) / sizeof(p[0]), NULL);
	}
	vs_bind_free(text);
	return rc;
}

int
versionspec_load(
    struct db *db, const char *workspace_id, const char *version_id, struct db_result **res)
{
	struct db_param p[2] = { dbp_str(workspace_id), dbp_str(version_id) };

	if (db_query(db, vs_sql_get, p, 2, res) == -1)
		return -1;
	return (*res)->nrows > 0;
}

/* The document in column col of row r; null for NULL. New reference. */
static json_t *
vs_cell_doc(const struct db_result *res, size_t r, size_t col)
{
	return jv_doc(db_cell(res, r, col), res->len[r * res->ncols + col]);
}

json_t *
versionspec_view(const struct db_result *res, size_t r)
{
	const char *sp = db_cell(res, r, 5);

	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:o, s:o, s:o, s:o}",
	    "id", jv_str(db_cell(res, r, 0)), "agent_id", jv_str(db_cell(res, r, 1)), "version",
	    jv_int(db_cell(res, r, 2)), "status", jv_str(db_cell(res, r, 3)), "model",
	    vs_cell_doc(res, r, 4), "system_prompt",
	    json_stringn(sp != NULL ? sp : "", sp != NULL ? res->len[r * res->ncols + 5] : 0),
	    "prompt_template", jv_str(db_cell(res, r, 6)), "input_schema", vs_cell_doc(res, r, 7),
	    "tools", vs_cell_doc(res, r, 8), "limits", vs_cell_doc(res, r, 9), "retry",
	    vs_cell_doc(res, r, 10), "approval", vs_cell_doc(res, r, 11), "created_at",
	    jv_time(db_cell(res, r, 12)), "updated_at", jv_time(db_cell(res, r, 13)),
	    "activated_at", jv_time(db_cell(res, r, 14)), "archived_at",
	    jv_time(db_cell(res, r, 15)));
}

json_t *
versionspec_from_row(const struct db_result *res, size_t r)
{
	json_t *view = versionspec_view(res, r), *spec;

	if (view == NULL)
		return NULL;
	spec = json_object();
	for (int f = 0; spec != NULL && f < VS__MAX; f++)
		if (json_object_set(spec, vs_fields[f], json_object_get(view, vs_fields[f])) ==
		    -1) {
			json_decref(spec);
			spec = NULL;
		}
	json_decref(view);
	return spec;
}
