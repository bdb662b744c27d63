/*
 * A JSON writer into one growable buffer, for hot responses that would
 * otherwise build a jansson tree only to serialise it (json_dumps). Every
 * writer produces exactly the bytes jansson's json_dumps(JSON_COMPACT |
 * JSON_REAL_PRECISION(15)) writes for the same value, so a response built
 * here is byte-for-byte the one built with jansson (tests/unit/test_jsonw.c
 * holds that). Where jansson would fail — a string that is not valid
 * UTF-8 — the writer fails too (jw.failed), and the caller falls back to
 * its jansson path, which then behaves as it always did.
 */
#ifndef AGENTRUN_JSONW_H
#define AGENTRUN_JSONW_H

#include <jansson.h>
#include <stddef.h>

struct jw {
	char *buf; /* the bytes so far; not NUL-terminated */
	size_t len;
	size_t cap;
	size_t max; /* growing past this fails */
	int heap; /* buf is ours to free (else the caller's initial buffer) */
	int failed; /* out of memory, past max, or not representable */
};

/* Starts w on the caller's buffer (may be NULL/0); grows on the heap up to max bytes. */
void jw_init(struct jw *w, char *initial, size_t initialsz, size_t max);

/* Releases the heap buffer, if any. */
void jw_free(struct jw *w);

/* Appends n raw bytes. */
void jw_raw(struct jw *w, const char *s, size_t n);

/* Appends a string literal (its length is known at compile time). */
#define jw_lit(w, lit) jw_raw((w), (lit), sizeof(lit) - 1)

/* A quoted, escaped string of n bytes; fails on invalid UTF-8 (as json_stringn would). */
void jw_strn(struct jw *w, const char *s, size_t n);

/* A NUL-terminated string, or null for NULL (jv_str). */
void jw_str(struct jw *w, const char *s);

void jw_int(struct jw *w, long long v);

/* A real as jansson writes it with JSON_REAL_PRECISION(15). */
void jw_real(struct jw *w, double v);

/* The integer a cell holds, or null for NULL / not a number (jv_int). */
void jw_int_cell(struct jw *w, const char *s);

/* "2026-11-23T10:00:00.123Z" from a database time, or null (jv_time). */
void jw_time(struct jw *w, const char *dbtime);

/*
 * The JSON document stored in a cell as jv_doc() + json_dumps would write
 * it: copied as is when it already is in that form (compact, canonical
 * numbers and escapes, no duplicate keys), else parsed and re-written by
 * jansson; null for NULL or unparsable.
 */
void jw_doc(struct jw *w, const char *s, size_t len);

/* Appends a jansson value (borrowed). */
void jw_json(struct jw *w, const json_t *v);

/* 1 when s (len bytes) is a document jw_doc() may copy as is. */
int jw_doc_canonical(const char *s, size_t len);

#endif
