/*
 * API key secrets: "ar_" + 43 base64url characters (32 random bytes). Only
 * the SHA-256 of the whole secret is stored; lookups go by that hash and the
 * stored hash is compared again in constant time.
 */
#ifndef AGENTRUN_APIKEY_H
#define AGENTRUN_APIKEY_H

#include <stddef.h>

#define APIKEY_PREFIX "ar_"
#define APIKEY_SECRET_MAX 64
#define APIKEY_HASH_LEN 32
/*
 * The part of a secret stored and shown to tell keys apart: "ar_" and 5
 * random characters (30 bits), never more than 8 characters of a secret.
 */
#define APIKEY_SHOWN_PREFIX_LEN 8
#define APIKEY_SHOWN_PREFIX_LEN_SQL "8"

/* Writes a new secret into out (APIKEY_SECRET_MAX bytes). */
void apikey_generate(char out[APIKEY_SECRET_MAX]);

/* 1 when s has the shape of a secret (prefix, length, alphabet), else 0. */
int apikey_well_formed(const char *s);

void apikey_hash(const char *secret, unsigned char out[APIKEY_HASH_LEN]);

/* Constant-time comparison of two hashes: 1 when equal. */
int apikey_hash_equal(const unsigned char *a, const unsigned char *b);

/*
 * Extracts the token from an "Authorization: Bearer <token>" header value.
 * Returns a pointer into header (borrowed) and its length in *len, or NULL
 * when the header is missing or not a Bearer credential.
 */
const char *apikey_from_bearer(const char *header, size_t *len);

#endif
