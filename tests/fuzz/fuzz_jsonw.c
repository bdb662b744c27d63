/*
 * Differential fuzzing of the JSON writer (src/core/jsonw.c) against
 * jansson: whatever jsonw writes must parse with jansson to the same value
 * jansson reads from the input, and must be the very bytes jansson's
 * json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) writes (jsonw.h's
 * contract). The input is used three ways: as a stored document
 * (jw_doc: its canonical copy path versus jansson's parse and dump), as a
 * string (jw_strn: escaping, UTF-8 validation), and its first 16 bytes as
 * a double and an integer (jw_real, jw_int). A mismatch aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_JW_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY)

static void
fuzz_fail(const char *what, const struct jw *w, const char *want)
{
	fprintf(stderr, "jsonw differs from jansson (%s): wrote \"%.*s\", jansson \"%s\"\n", what,
	    (int)(w->len > 512 ? 512 : w->len), w->buf != NULL ? w->buf : "", want);
	abort();
}

/*
 * w must hold exactly the bytes jansson writes for v, and parse back to the
 * value those bytes parse to (not v itself: 15 digits do not round-trip
 * every double).
 */
static void
fuzz_same(const char *what, const struct jw *w, const json_t *v)
{
	char *want = json_dumps(v, FUZZ_JW_FLAGS);
	json_t *back, *ref;

	if (want == NULL)
		return; /* jansson cannot write it either */
	if (w->failed || w->len != strlen(want) || memcmp(w->buf, want, w->len) != 0)
		fuzz_fail(what, w, want);
	back = json_loadb(w->buf, w->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	ref = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (back == NULL || ref == NULL || !json_equal(back, ref))
		fuzz_fail(what, w, want);
	json_decref(back);
	json_decref(ref);
	free(want);
}

static void
fuzz_doc(const uint8_t *data, size_t size)
{
	json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct jw w;

	jw_init(&w, NULL, 0, 16 * 1024 * 1024);
	jw_doc(&w, (const char *)data, size);
	if (v == NULL) {
		if (w.failed || w.len != 4 || memcmp(w.buf, "null", 4) != 0)
			fuzz_fail("jw_doc of an unparsable document", &w, "null");
	} else {
		fuzz_same("jw_doc", &w, v);
	}
	json_decref(v);
	jw_free(&w);
}

static void
fuzz_string(const uint8_t *data, size_t size)
{
	json_t *v = json_stringn((const char *)data, size);
	struct jw w;

	jw_init(&w, NULL, 0, 16 * 1024 * 1024);
	jw_strn(&w, (const char *)data, size);
	if (v == NULL) {
		if (!w.failed)
			fuzz_fail("jw_strn of invalid UTF-8", &w, "(a failure)");
	} else {
		fuzz_same("jw_strn", &w, v);
	}
	json_decref(v);
	jw_free(&w);
}

static void
fuzz_numbers(const uint8_t *data, size_t size)
{
	char small[8]; /* the caller's buffer is outgrown at once: the heap path too */
	long long i;
	double d;
	json_t *v;
	struct jw w;

	if (size < 16)
		return;
	memcpy(&d, data, sizeof(d));
	memcpy(&i, data + 8, sizeof(i));
	jw_init(&w, small, sizeof(small), 4096);
	jw_real(&w, d);
	if ((v = json_real(d)) == NULL) {
		if (!w.failed)
			fuzz_fail("jw_real of a value json_real() refuses", &w, "(a failure)");
	} else {
		fuzz_same("jw_real", &w, v);
	}
	json_decref(v);
	jw_free(&w);
	jw_init(&w, small, sizeof(small), 4096);
	jw_int(&w, i);
	v = json_integer((json_int_t)i);
	fuzz_same("jw_int", &w, v);
	json_decref(v);
	jw_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_doc(data, size);
	fuzz_string(data, size);
	fuzz_numbers(data, size);
	return 0;
}
