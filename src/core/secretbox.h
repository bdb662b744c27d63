/*
 * Encryption at rest for provider API keys of routes: libsodium
 * XChaCha20-Poly1305 (IETF AEAD) under security.master_key, with
 * "<workspace_id>:<route_id>" as additional data so a ciphertext moved to
 * another row does not decrypt.
 */
#ifndef AGENTRUN_SECRETBOX_H
#define AGENTRUN_SECRETBOX_H

#include <stddef.h>

#define SECRETBOX_KEY_LEN 32
#define SECRETBOX_NONCE_LEN 24
#define SECRETBOX_TAG_LEN 16

/* Parses 64 hex characters into key. 0, or -1 when malformed or empty. */
int secretbox_key_from_hex(const char *hex, unsigned char key[SECRETBOX_KEY_LEN]);

/*
 * Encrypts plain (len bytes) into out (len + SECRETBOX_TAG_LEN bytes) with
 * a fresh random nonce written to nonce. 0 or -1.
 */
int secretbox_seal(const unsigned char key[SECRETBOX_KEY_LEN], const char *workspace_id,
    const char *route_id, const unsigned char *plain, size_t len, unsigned char *out,
    unsigned char nonce[SECRETBOX_NONCE_LEN]);

/*
 * Decrypts ct (len bytes, tag included) into out (len - SECRETBOX_TAG_LEN
 * bytes, plus a NUL). 0, or -1 when it does not authenticate.
 */
int secretbox_open(const unsigned char key[SECRETBOX_KEY_LEN], const char *workspace_id,
    const char *route_id, const unsigned char *ct, size_t len,
    const unsigned char nonce[SECRETBOX_NONCE_LEN], unsigned char *out);

#endif
