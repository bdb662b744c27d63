/*
 * Why this exists: serialising the Run object through a jansson tree cost
 * more than half of an API worker's instructions on GET /api/v1/runs/{id}
 * (docs/performance.md, "read"): ~45 allocations for the tree, then
 * json_dumps with its per-container loop-check hashtable and snprintf.
 * Here every value is appended to one buffer as it is read from the row.
 *
 * Exactness against jansson 2.x (compact, JSON_REAL_PRECISION(15)):
 *  - strings: '"', '\\' and code points below 0x20 are escaped (\b \f \n
 *    \r \t, else \u00XX with upper-case hex); everything else is copied,
 *    UTF-8 validated with jansson's rules (no overlongs, no surrogates,
 *    nothing past U+10FFFF);
 *  - reals: "%.15g", ".0" added when there is neither '.' nor 'e', the
 *    exponent without '+' and leading zeros;
 *  - stored documents: copied as is only when re-parsing and re-dumping
 *    them could not change a byte (jw_doc_canonical), else handed to
 *    jansson, so odd documents (duplicate keys, "\/" escapes, "1E2",
 *    whitespace) come out exactly as before.
 */
#include "jsonw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JW_MIN_HEAP 4096
/* Deeper or wider documents take jansson's path; they are rare and it is exact. */
#define JW_CANON_DEPTH 32
#define JW_CANON_KEYS 32

void
jw_init(struct jw *w, char *initial, size_t initialsz, size_t max)
{
	w->buf = initial;
	w->len = 0;
	w->cap = initial != NULL ? initialsz : 0;
	w->max = max;
	w->heap = 0;
	w->failed = 0;
}

void
jw_free(struct jw *w)
{
	if (w->heap)
		free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
	w->heap = 0;
}

/* Room for n more bytes: 0, or -1 (and failed) past max or out of memory. */
static int
jw_reserve(struct jw *w, size_t n)
{
	size_t ncap;
	char *nb;

	if (w->failed)
		return -1;
	if (n <= w->cap - w->len)
		return 0;
	if (n > w->max || w->len > w->max - n) {
		w->failed = 1;
		return -1;
	}
	ncap = w->cap * 2 > JW_MIN_HEAP ? w->cap * 2 : JW_MIN_HEAP;
	if (ncap < w->len + n)
		ncap = w->len + n;
	if (ncap > w->max)
		ncap = w->max;
	if (w->heap)
		nb = realloc(w->buf, ncap);
	else if ((nb = malloc(ncap)) != NULL && w->len > 0)
		memcpy(nb, w->buf, w->len);
	if (nb == NULL) {
		w->failed = 1;
		return -1;
	}
	w->buf = nb;
	w->cap = ncap;
	w->heap = 1;
	return 0;
}

void
jw_raw(struct jw *w, const char *s, size_t n)
{
	if (n == 0 || jw_reserve(w, n) == -1)
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

/* Length of the valid UTF-8 sequence at p (2-4), or 0: jansson's utf8_check_*. */
static size_t
jw_utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned int cp;
	size_t n, i;

	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2, cp = *p & 0x1f;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3, cp = *p & 0x0f;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4, cp = *p & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
jw_strn(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;

	jw_lit(w, "\"");
	while (p < end) {
		unsigned char c = *p;
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			p++;
			continue;
		}
		if (c >= 0x80) {
			size_t k = jw_utf8_len(p, end);

			if (k == 0) {
				w->failed = 1;
				return;
			}
			p += k;
			continue;
		}
		jw_raw(w, (const char *)run, (size_t)(p - run));
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			elen = 6;
			break;
		}
		jw_raw(w, esc, elen);
		run = ++p;
	}
	jw_raw(w, (const char *)run, (size_t)(p - run));
	jw_lit(w, "\"");
}

void
jw_str(struct jw *w, const char *s)
{
	if (s == NULL)
		jw_lit(w, "null");
	else
		jw_strn(w, s, strlen(s));
}

void
jw_int(struct jw *w, long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	jw_raw(w, p, (size_t)(buf + sizeof(buf) - p));
}

/* jansson's jsonp_dtostr() with precision 15, into out; returns the length or -1. */
static int
jw_fmt_real(double v, char *out, size_t outsz)
{
	char *e, *from;
	int n;

	if (!isfinite(v))
		return -1; /* json_real() refuses these */
	if (v == 0.0 && !signbit(v) && outsz >= 4) {
		memcpy(
		    out, "0.0", 4); /* no cost, no cache hits: common, and snprintf is not cheap */
		return 3;
	}
	n = snprintf(out, outsz, "%.15g", v);
	if (n < 0 || (size_t)n + 3 > outsz)
		return -1;
	if (strchr(out, '.') == NULL && strchr(out, 'e') == NULL) {
		memcpy(out + n, ".0", 3);
		n += 2;
	}
	/* "1e+20" -> "1e20", "1e-05" -> "1e-5" */
	if ((e = strchr(out, 'e')) != NULL) {
		e++;
		from = e + 1;
		if (*e == '-')
			e++;
		while (*from == '0')
			from++;
		if (from != e) {
			memmove(e, from, (size_t)(out + n - from) + 1);
			n -= (int)(from - e);
		}
	}
	return n;
}

void
jw_real(struct jw *w, double v)
{
	char buf[64];
	int n = jw_fmt_real(v, buf, sizeof(buf));

	if (n < 0)
		w->failed = 1;
	else
		jw_raw(w, buf, (size_t)n);
}

void
jw_int_cell(struct jw *w, const char *s)
{
	char *end;
	long long v;

	if (s == NULL) {
		jw_lit(w, "null");
		return;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		jw_lit(w, "null");
	else
		jw_int(w, v);
}

void
jw_time(struct jw *w, const char *t)
{
	char out[24];
	const char *dot;

	if (t == NULL) {
		jw_lit(w, "null");
		return;
	}
	/* jv_time_format(), without snprintf: "YYYY-MM-DD HH:MM:SS[.fff]". */
	if (strnlen(t, 19) < 19) {
		jw_lit(w, "\"\"");
		return;
	}
	memcpy(out, t, 10);
	out[10] = 'T';
	memcpy(out + 11, t + 11, 8);
	out[19] = '.';
	out[20] = out[21] = out[22] = '0';
	if ((dot = strchr(t + 19, '.')) != NULL)
		for (int i = 0; i < 3 && dot[1 + i] >= '0' && dot[1 + i] <= '9'; i++)
			out[20 + i] = dot[1 + i];
	out[23] = 'Z';
	jw_strn(w, out, sizeof(out));
}

static int
jw_dump_cb(const char *buf, size_t size, void *data)
{
	struct jw *w = data;

	jw_raw(w, buf, size);
	return w->failed ? -1 : 0;
}

void
jw_json(struct jw *w, const json_t *v)
{
	if (v == NULL ||
	    json_dump_callback(
		v, jw_dump_cb, w, JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY) != 0)
		w->failed = 1;
}

/* --- is a stored document already what jansson would write? ------------ */

struct jw_span {
	const char *p;
	size_t n;
};

static int jw_canon_value(const char **pp, const char *end, int depth);

static int
jw_upper_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* A string whose bytes jansson would write back unchanged. */
static int
jw_canon_string(const char **pp, const char *end, int is_key)
{
	const unsigned char *p = (const unsigned char *)*pp + 1, *e = (const unsigned char *)end;

	while (p < e) {
		unsigned char c = *p;

		if (c == '"') {
			*pp = (const char *)p + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			unsigned int v;

			if (e - p < 2)
				return -1;
			switch (p[1]) {
			case '"':
			case '\\':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't': p += 2; continue;
			case 'u': break;
			default: return -1; /* "\/" is written back as "/" */
			}
			/* Only \u0000-\u001F (upper-case hex) survive a round trip. */
			if (e - p < 6 || p[2] != '0' || p[3] != '0' ||
			    (p[4] != '0' && p[4] != '1') || !jw_upper_hex(p[5]))
				return -1;
			v = (unsigned int)(p[4] - '0') * 16 +
			    (p[5] <= '9' ? (unsigned int)(p[5] - '0')
					 : (unsigned int)(p[5] - 'A' + 10));
			if (v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r' ||
			    (v == 0 && is_key))
				return -1;
			p += 6;
			continue;
		}
		if (c < 0x80) {
			p++;
			continue;
		}
		{
			size_t k = jw_utf8_len(p, e);

			if (k == 0)
				return -1;
			p += k;
		}
	}
	return -1;
}

static int
jw_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* A number jansson would write back unchanged. */
static int
jw_canon_number(const char **pp, const char *end)
{
	const char *s = *pp, *p = s;
	char in[64], out[64];
	size_t n;
	int real = 0, outlen;

	if (p < end && *p == '-')
		p++;
	if (!jw_digit(p, end))
		return -1;
	if (*p == '0')
		p++;
	else
		while (jw_digit(p, end))
			p++;
	if (p < end && *p == '.') {
		real = 1;
		if (!jw_digit(++p, end))
			return -1;
		while (jw_digit(p, end))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = 1;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!jw_digit(p, end))
			return -1;
		while (jw_digit(p, end))
			p++;
	}
	n = (size_t)(p - s);
	if (!real) {
		/* "-0" comes back as 0; 19 digits and more may not fit json_int_t. */
		if ((n == 2 && s[0] == '-' && s[1] == '0') || n - (s[0] == '-') > 18)
			return -1;
	} else {
		if (n >= sizeof(in))
			return -1;
		memcpy(in, s, n);
		in[n] = '\0';
		outlen = jw_fmt_real(strtod(in, NULL), out, sizeof(out));
		if (outlen < 0 || (size_t)outlen != n || memcmp(in, out, n) != 0)
			return -1;
	}
	*pp = p;
	return 0;
}

static int
jw_canon_literal(const char **pp, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
		return -1;
	*pp += n;
	return 0;
}

static int
jw_canon_array(const char **pp, const char *end, int depth)
{
	const char *p = *pp + 1;

	if (depth > JW_CANON_DEPTH)
		return -1;
	if (p < end && *p == ']') {
		*pp = p + 1;
		return 0;
	}
	for (;;) {
		if (jw_canon_value(&p, end, depth) == -1 || p >= end)
			return -1;
		if (*p == ']') {
			*pp = p + 1;
			return 0;
		}
		if (*p++ != ',')
			return -1;
	}
}

static int
jw_canon_object(const char **pp, const char *end, int depth)
{
	struct jw_span keys[JW_CANON_KEYS];
	const char *p = *pp + 1;
	size_t nkeys = 0;

	if (depth > JW_CANON_DEPTH)
		return -1;
	if (p < end && *p == '}') {
		*pp = p + 1;
		return 0;
	}
	for (;;) {
		const char *k = p;

		if (p >= end || *p != '"' || jw_canon_string(&p, end, 1) == -1)
			return -1;
		/* A repeated key keeps its first place with the last value in jansson. */
		if (nkeys == JW_CANON_KEYS)
			return -1;
		for (size_t i = 0; i < nkeys; i++)
			if (keys[i].n == (size_t)(p - k) && memcmp(keys[i].p, k, keys[i].n) == 0)
				return -1;
		keys[nkeys].p = k;
		keys[nkeys++].n = (size_t)(p - k);
		if (p >= end || *p++ != ':')
			return -1;
		if (jw_canon_value(&p, end, depth) == -1 || p >= end)
			return -1;
		if (*p == '}') {
			*pp = p + 1;
			return 0;
		}
		if (*p++ != ',')
			return -1;
	}
}

static int
jw_canon_value(const char **pp, const char *end, int depth)
{
	if (*pp >= end)
		return -1;
	switch (**pp) {
	case '{': return jw_canon_object(pp, end, depth + 1);
	case '[': return jw_canon_array(pp, end, depth + 1);
	case '"': return jw_canon_string(pp, end, 0);
	case 't': return jw_canon_literal(pp, end, "true", 4);
	case 'f': return jw_canon_literal(pp, end, "false", 5);
	case 'n': return jw_canon_literal(pp, end, "null", 4);
	default: return jw_canon_number(pp, end);
	}
}

int
jw_doc_canonical(const char *s, size_t len)
{
	const char *p = s;

	return s != NULL && jw_canon_value(&p, s + len, 0) == 0 && p == s + len;
}

void
jw_doc(struct jw *w, const char *s, size_t len)
{
	json_t *v;

	if (s == NULL) {
		jw_lit(w, "null");
		return;
	}
	if (jw_doc_canonical(s, len)) {
		jw_raw(w, s, len);
		return;
	}
	v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (v == NULL) {
		jw_lit(w, "null");
		return;
	}
	jw_json(w, v);
	json_decref(v);
}
