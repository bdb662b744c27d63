/*
 * A small JSON Schema validator for agent versions' input_schema and http
 * tools' parameters. Keywords understood:
 *
 *   type        a name or a non-empty array of names: object, array, string,
 *               number, integer, boolean, null. "integer" is a JSON integer
 *               (1.0 is a number, not an integer); "number" is either.
 *   properties, required, additionalProperties (a boolean or a schema)
 *   enum, const (numbers compare by value: 1 equals 1.0)
 *   items (one schema for every element; the tuple form is refused)
 *   minItems, maxItems
 *   minLength, maxLength (Unicode code points, not bytes)
 *   minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers, the
 *               draft 6 form; the draft 4 boolean form is refused)
 *
 * Every other keyword (pattern, format, $ref, allOf, …) is ignored, and so
 * are the schemas inside such keywords. Any subschema may be true or false.
 *
 * jsonschema_check() bounds what validation can cost: at most
 * JS_DEPTH_MAX levels of schemas (the root is level 1).
 *
 * Violations carry the instance's RFC 6901 pointer ("" is the whole
 * instance, "~" and "/" in names escape as "~0" and "~1"). A missing
 * required property is reported at the pointer of that property. At most
 * JS_VIOLATIONS_MAX violations are appended; the count returned covers all.
 */
#include "jsonschema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_DEPTH_MAX 32
#define JS_VALIDATE_DEPTH_MAX 64 /* for schemas that never went through check */
#define JS_VIOLATIONS_MAX 100
#define JS_PTR_MAX (4u * 1024 * 1024) /* escaping at most doubles a 1 MiB body */

static const char *const js_types[] = { "object", "array", "string", "number", "integer", "boolean",
	"null", NULL };

/* A growable JSON pointer: "/a/0/b". */
struct js_ptr {
	char *buf;
	size_t len;
	size_t cap;
};

struct js_state {
	json_t *out; /* borrowed */
	struct js_ptr ptr;
	int count;
	int oom;
};

static int
js_ptr_reserve(struct js_ptr *p, size_t more)
{
	size_t need = p->len + more + 1, ncap;
	char *nbuf;

	if (p->buf != NULL && need <= p->cap)
		return 0;
	if (need > JS_PTR_MAX)
		return -1;
	ncap = p->cap > 0 ? p->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if ((nbuf = realloc(p->buf, ncap)) == NULL)
		return -1;
	p->buf = nbuf;
	p->cap = ncap;
	return 0;
}

/* Appends "/" and key escaped per RFC 6901. 0 / -1 (too long, OOM). */
static int
js_ptr_push_key(struct js_ptr *p, const char *key)
{
	size_t n = strlen(key);

	if (js_ptr_reserve(p, 1 + 2 * n) == -1)
		return -1;
	p->buf[p->len++] = '/';
	for (size_t i = 0; i < n; i++) {
		if (key[i] == '~' || key[i] == '/') {
			p->buf[p->len++] = '~';
			p->buf[p->len++] = key[i] == '~' ? '0' : '1';
		} else
			p->buf[p->len++] = key[i];
	}
	p->buf[p->len] = '\0';
	return 0;
}

static int
js_ptr_push_index(struct js_ptr *p, size_t i)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "/%zu", i);

	if (n < 0 || (size_t)n >= sizeof(num) || js_ptr_reserve(p, (size_t)n) == -1)
		return -1;
	memcpy(p->buf + p->len, num, (size_t)n + 1);
	p->len += (size_t)n;
	return 0;
}

static void
js_ptr_pop(struct js_ptr *p, size_t len)
{
	p->len = len;
	if (p->buf != NULL)
		p->buf[len] = '\0';
}

static const char *
js_ptr_str(const struct js_ptr *p)
{
	return p->buf != NULL ? p->buf : "";
}

/* --- values ------------------------------------------------------------- */

static int
js_type_known(const char *name)
{
	for (size_t i = 0; js_types[i] != NULL; i++)
		if (strcmp(name, js_types[i]) == 0)
			return 1;
	return 0;
}

static int
js_type_is(const char *name, const json_t *v)
{
	if (strcmp(name, "object") == 0)
		return json_is_object(v);
	if (strcmp(name, "array") == 0)
		return json_is_array(v);
	if (strcmp(name, "string") == 0)
		return json_is_string(v);
	if (strcmp(name, "number") == 0)
		return json_is_number(v);
	if (strcmp(name, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(name, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(name, "null") == 0)
		return json_is_null(v);
	return 0;
}

/* -1, 0, 1 as a < b, a == b, a > b; both numbers. */
static int
js_num_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);

		return x < y ? -1 : x > y;
	} else {
		double x = json_number_value(a), y = json_number_value(b);

		return x < y ? -1 : x > y;
	}
}

/* JSON equality where numbers compare by value (1 == 1.0). */
static int
js_equal(const json_t *a, const json_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (json_is_number(a) && json_is_number(b))
		return js_num_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!js_equal(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a)) {
		const char *k;
		json_t *v;

		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, k, v)
		{
			const json_t *w = json_object_get(b, k);

			if (w == NULL || !js_equal(v, w))
				return 0;
		}
		return 1;
	}
	return json_equal(a, b);
}

/* Code points of a (valid UTF-8) string. */
static size_t
js_codepoints(const json_t *s)
{
	const unsigned char *p = (const unsigned char *)json_string_value(s);
	size_t n = json_string_length(s), cps = 0;

	for (size_t i = 0; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			cps++;
	return cps;
}

static void
js_numstr(const json_t *n, char *buf, size_t sz)
{
	if (json_is_integer(n))
		snprintf(buf, sz, "%lld", (long long)json_integer_value(n));
	else
		snprintf(buf, sz, "%.15g", json_real_value(n));
}

static int
js_is_schema(const json_t *s)
{
	return json_is_object(s) || json_is_boolean(s);
}

static int
js_is_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* --- check -------------------------------------------------------------- */

struct js_check {
	struct js_ptr ptr; /* where in the schema */
	char *err;
	size_t errsz;
};

static int
js_check_fail(struct js_check *c, const char *keyword, const char *what)
{
	if (c->errsz > 0)
		snprintf(c->err, c->errsz, "%s/%s: %s", js_ptr_str(&c->ptr), keyword, what);
	return -1;
}

static int js_check_schema(struct js_check *c, const json_t *s, int depth);

/* Checks s[keyword] (a schema) one level down, at ".../keyword[/name]". */
static int
js_check_sub(
    struct js_check *c, const json_t *sub, const char *keyword, const char *name, int depth)
{
	size_t mark = c->ptr.len;
	int rc;

	if (js_ptr_push_key(&c->ptr, keyword) == -1 ||
	    (name != NULL && js_ptr_push_key(&c->ptr, name) == -1)) {
		js_ptr_pop(&c->ptr, mark);
		return js_check_fail(c, keyword, "schema too large");
	}
	rc = js_check_schema(c, sub, depth + 1);
	js_ptr_pop(&c->ptr, mark);
	return rc;
}

static int
js_check_schema(struct js_check *c, const json_t *s, int depth)
{
	static const char *const counts[] = { "minItems", "maxItems", "minLength", "maxLength",
		NULL };
	static const char *const bounds[] = { "minimum", "maximum", "exclusiveMinimum",
		"exclusiveMaximum", NULL };
	const json_t *v;

	if (depth > JS_DEPTH_MAX) {
		if (c->errsz > 0)
			snprintf(c->err, c->errsz, "%s: schemas nest deeper than %d levels",
			    js_ptr_str(&c->ptr), JS_DEPTH_MAX);
		return -1;
	}
	if (json_is_boolean(s))
		return 0;
	if (!json_is_object(s)) {
		if (c->errsz > 0)
			snprintf(c->err, c->errsz, "%s: a schema must be an object or a boolean",
			    c->ptr.len > 0 ? js_ptr_str(&c->ptr) : "/");
		return -1;
	}

	if ((v = json_object_get(s, "type")) != NULL) {
		if (json_is_string(v)) {
			if (!js_type_known(json_string_value(v)))
				return js_check_fail(c, "type", "unknown type name");
		} else if (json_is_array(v) && json_array_size(v) > 0) {
			for (size_t i = 0; i < json_array_size(v); i++) {
				const json_t *t = json_array_get(v, i);

				if (!json_is_string(t) || !js_type_known(json_string_value(t)))
					return js_check_fail(c, "type", "unknown type name");
				for (size_t j = 0; j < i; j++)
					if (json_equal(t, json_array_get(v, j)))
						return js_check_fail(
						    c, "type", "repeats a type name");
			}
		} else
			return js_check_fail(
			    c, "type", "must be a type name or a non-empty array of type names");
	}
	if ((v = json_object_get(s, "enum")) != NULL && !json_is_array(v))
		return js_check_fail(c, "enum", "must be an array");
	if ((v = json_object_get(s, "required")) != NULL) {
		if (!json_is_array(v))
			return js_check_fail(c, "required", "must be an array of strings");
		for (size_t i = 0; i < json_array_size(v); i++)
			if (!json_is_string(json_array_get(v, i)))
				return js_check_fail(c, "required", "must be an array of strings");
	}
	for (size_t i = 0; counts[i] != NULL; i++)
		if ((v = json_object_get(s, counts[i])) != NULL && !js_is_count(v))
			return js_check_fail(c, counts[i], "must be a non-negative integer");
	for (size_t i = 0; bounds[i] != NULL; i++)
		if ((v = json_object_get(s, bounds[i])) != NULL && !json_is_number(v))
			return js_check_fail(c, bounds[i], "must be a number");

	if ((v = json_object_get(s, "properties")) != NULL) {
		const char *name;
		json_t *sub;

		if (!json_is_object(v))
			return js_check_fail(c, "properties", "must be an object of schemas");
		json_object_foreach((json_t *)v, name,
		    sub) if (js_check_sub(c, sub, "properties", name, depth) == -1) return -1;
	}
	if ((v = json_object_get(s, "additionalProperties")) != NULL &&
	    js_check_sub(c, v, "additionalProperties", NULL, depth) == -1)
		return -1;
	if ((v = json_object_get(s, "items")) != NULL) {
		if (json_is_array(v))
			return js_check_fail(
			    c, "items", "must be one schema (the array form is not supported)");
		if (js_check_sub(c, v, "items", NULL, depth) == -1)
			return -1;
	}
	return 0;
}

int
jsonschema_check(const json_t *schema, char *err, size_t errsz)
{
	struct js_check c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errsz = errsz;
	if (errsz > 0)
		err[0] = '\0';
	if (schema == NULL) {
		if (errsz > 0)
			snprintf(err, errsz, "/: a schema must be an object or a boolean");
		return -1;
	}
	rc = js_check_schema(&c, schema, 1);
	free(c.ptr.buf);
	return rc;
}

/* --- validate ----------------------------------------------------------- */

static void js_violation(struct js_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
js_violation(struct js_state *st, const char *fmt, ...)
{
	char msg[256];
	json_t *v;
	va_list ap;

	st->count++;
	if (st->count > JS_VIOLATIONS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	v = json_pack("{s:s, s:s}", "pointer", js_ptr_str(&st->ptr), "message", msg);
	if (v == NULL || json_array_append_new(st->out, v) == -1)
		st->oom = 1;
}

static void js_validate(struct js_state *st, const json_t *s, const json_t *inst, int depth);

static void
js_validate_key(
    struct js_state *st, const json_t *s, const json_t *inst, const char *key, int depth)
{
	size_t mark = st->ptr.len;

	if (js_ptr_push_key(&st->ptr, key) == -1) {
		st->oom = 1;
		return;
	}
	js_validate(st, s, inst, depth + 1);
	js_ptr_pop(&st->ptr, mark);
}

static void
js_validate_type(struct js_state *st, const json_t *t, const json_t *inst)
{
	char names[128];
	size_t off = 0;

	if (json_is_string(t)) {
		if (!js_type_is(json_string_value(t), inst))
			js_violation(st, "must be of type %s", json_string_value(t));
		return;
	}
	if (!json_is_array(t) || json_array_size(t) == 0)
		return;
	names[0] = '\0';
	for (size_t i = 0; i < json_array_size(t); i++) {
		const char *name = json_string_value(json_array_get(t, i));
		int n;

		if (name == NULL)
			continue;
		if (js_type_is(name, inst))
			return;
		n = snprintf(names + off, sizeof(names) - off, "%s%s", off > 0 ? ", " : "", name);
		if (n > 0 && (size_t)n < sizeof(names) - off)
			off += (size_t)n;
	}
	js_violation(st, "must be of type %s", names);
}

static void
js_bound_violation(struct js_state *st, const char *op, const json_t *bound)
{
	char num[64];

	js_numstr(bound, num, sizeof(num));
	js_violation(st, "must be %s %s", op, num);
}

static void
js_validate_number(struct js_state *st, const json_t *s, const json_t *inst)
{
	const json_t *b;

	if ((b = json_object_get(s, "minimum")) != NULL && json_is_number(b) &&
	    js_num_cmp(inst, b) < 0)
		js_bound_violation(st, ">=", b);
	if ((b = json_object_get(s, "maximum")) != NULL && json_is_number(b) &&
	    js_num_cmp(inst, b) > 0)
		js_bound_violation(st, "<=", b);
	if ((b = json_object_get(s, "exclusiveMinimum")) != NULL && json_is_number(b) &&
	    js_num_cmp(inst, b) <= 0)
		js_bound_violation(st, ">", b);
	if ((b = json_object_get(s, "exclusiveMaximum")) != NULL && json_is_number(b) &&
	    js_num_cmp(inst, b) >= 0)
		js_bound_violation(st, "<", b);
}

static void
js_validate_object(struct js_state *st, const json_t *s, const json_t *inst, int depth)
{
	const json_t *req = json_object_get(s, "required");
	const json_t *props = json_object_get(s, "properties");
	const json_t *addl = json_object_get(s, "additionalProperties");
	const char *key;
	json_t *val;

	if (!json_is_object(props))
		props = NULL;
	if (json_is_array(req)) {
		for (size_t i = 0; i < json_array_size(req); i++) {
			const char *name = json_string_value(json_array_get(req, i));
			size_t mark = st->ptr.len;

			if (name == NULL || json_object_get(inst, name) != NULL)
				continue;
			if (js_ptr_push_key(&st->ptr, name) == -1) {
				st->oom = 1;
				return;
			}
			js_violation(st, "is required");
			js_ptr_pop(&st->ptr, mark);
		}
	}
	json_object_foreach((json_t *)inst, key, val)
	{
		const json_t *sub = props != NULL ? json_object_get(props, key) : NULL;

		if (sub == NULL)
			sub = addl;
		if (sub == NULL)
			continue;
		if (json_is_false(sub) && sub == addl) {
			size_t mark = st->ptr.len;

			if (js_ptr_push_key(&st->ptr, key) == -1) {
				st->oom = 1;
				return;
			}
			js_violation(st, "is not an allowed property");
			js_ptr_pop(&st->ptr, mark);
			continue;
		}
		js_validate_key(st, sub, val, key, depth);
		if (st->oom)
			return;
	}
}

static void
js_validate(struct js_state *st, const json_t *s, const json_t *inst, int depth)
{
	const json_t *v;

	if (st->oom || json_is_true(s) || depth > JS_VALIDATE_DEPTH_MAX)
		return;
	if (json_is_false(s)) {
		js_violation(st, "is not allowed");
		return;
	}
	if (!json_is_object(s))
		return;

	if ((v = json_object_get(s, "type")) != NULL)
		js_validate_type(st, v, inst);
	if ((v = json_object_get(s, "enum")) != NULL && json_is_array(v)) {
		size_t i;

		for (i = 0; i < json_array_size(v); i++)
			if (js_equal(inst, json_array_get(v, i)))
				break;
		if (i == json_array_size(v))
			js_violation(st, "must be one of the allowed values");
	}
	if ((v = json_object_get(s, "const")) != NULL && !js_equal(inst, v))
		js_violation(st, "must be equal to the constant");

	if (json_is_string(inst)) {
		size_t cps = js_codepoints(inst);

		if ((v = json_object_get(s, "minLength")) != NULL && js_is_count(v) &&
		    cps < (size_t)json_integer_value(v))
			js_violation(st, "must be at least %lld characters long",
			    (long long)json_integer_value(v));
		if ((v = json_object_get(s, "maxLength")) != NULL && js_is_count(v) &&
		    cps > (size_t)json_integer_value(v))
			js_violation(st, "must be at most %lld characters long",
			    (long long)json_integer_value(v));
	} else if (json_is_number(inst))
		js_validate_number(st, s, inst);
	else if (json_is_array(inst)) {
		size_t n = json_array_size(inst);

		if ((v = json_object_get(s, "minItems")) != NULL && js_is_count(v) &&
		    n < (size_t)json_integer_value(v))
			js_violation(
			    st, "must have at least %lld items", (long long)json_integer_value(v));
		if ((v = json_object_get(s, "maxItems")) != NULL && js_is_count(v) &&
		    n > (size_t)json_integer_value(v))
			js_violation(
			    st, "must have at most %lld items", (long long)json_integer_value(v));
		if ((v = json_object_get(s, "items")) != NULL && js_is_schema(v)) {
			for (size_t i = 0; i < n && !st->oom; i++) {
				size_t mark = st->ptr.len;

				if (js_ptr_push_index(&st->ptr, i) == -1) {
					st->oom = 1;
					return;
				}
				js_validate(st, v, json_array_get(inst, i), depth + 1);
				js_ptr_pop(&st->ptr, mark);
			}
		}
	} else if (json_is_object(inst))
		js_validate_object(st, s, inst, depth);
}

int
jsonschema_validate(const json_t *schema, const json_t *instance, json_t *violations)
{
	struct js_state st;
	int rc;

	if (schema == NULL || instance == NULL || !json_is_array(violations))
		return -1;
	memset(&st, 0, sizeof(st));
	st.out = violations;
	js_validate(&st, schema, instance, 1);
	rc = st.oom ? -1 : st.count;
	free(st.ptr.buf);
	return rc;
}
