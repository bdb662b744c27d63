/*
 * Provider API keys at rest: XChaCha20-Poly1305 (IETF AEAD) from libsodium.
 * The nonce is 24 random bytes per seal, which is safe to draw at random for
 * any number of messages under one key. The additional data binds a
 * ciphertext to its row: "<workspace_id>:<route_id>", so a ciphertext copied
 * into another route or workspace fails to open. Plaintext never leaves
 * these functions except through the caller's out buffer; temporary copies
 * of keys are wiped.
 */
#include "secretbox.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(
    SECRETBOX_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "secretbox key length");
_Static_assert(
    SECRETBOX_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "secretbox nonce length");
_Static_assert(
    SECRETBOX_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "secretbox tag length");

/* Room for two ids and the separator, with slack for longer test ids. */
#define SECRETBOX_AD_MAX 256

/* Writes the additional data into ad; its length, or -1 when it does not fit. */
static int
secretbox_ad(char ad[SECRETBOX_AD_MAX], const char *workspace_id, const char *route_id)
{
	int n;

	if (workspace_id == NULL || route_id == NULL)
		return -1;
	n = snprintf(ad, SECRETBOX_AD_MAX, "%s:%s", workspace_id, route_id);
	if (n < 0 || n >= SECRETBOX_AD_MAX)
		return -1;
	return n;
}

int
secretbox_key_from_hex(const char *hex, unsigned char key[SECRETBOX_KEY_LEN])
{
	const char *end = NULL;
	size_t binlen = 0;

	if (hex == NULL || strlen(hex) != 2 * SECRETBOX_KEY_LEN)
		return -1;
	if (sodium_hex2bin(
		key, SECRETBOX_KEY_LEN, hex, 2 * SECRETBOX_KEY_LEN, NULL, &binlen, &end) != 0 ||
	    binlen != SECRETBOX_KEY_LEN || end != hex + 2 * SECRETBOX_KEY_LEN) {
		sodium_memzero(key, SECRETBOX_KEY_LEN);
		return -1;
	}
	return 0;
}

int
secretbox_seal(const unsigned char key[SECRETBOX_KEY_LEN], const char *workspace_id,
    const char *route_id, const unsigned char *plain, size_t len, unsigned char *out,
    unsigned char nonce[SECRETBOX_NONCE_LEN])
{
	char ad[SECRETBOX_AD_MAX];
	unsigned long long outlen = 0;
	int adlen;

	if (sodium_init() < 0)
		return -1;
	if ((adlen = secretbox_ad(ad, workspace_id, route_id)) == -1)
		return -1;
	if (len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX)
		return -1;
	randombytes_buf(nonce, SECRETBOX_NONCE_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out, &outlen, plain, len,
		(const unsigned char *)ad, (unsigned long long)adlen, NULL, nonce, key) != 0 ||
	    outlen != (unsigned long long)len + SECRETBOX_TAG_LEN)
		return -1;
	return 0;
}

int
secretbox_open(const unsigned char key[SECRETBOX_KEY_LEN], const char *workspace_id,
    const char *route_id, const unsigned char *ct, size_t len,
    const unsigned char nonce[SECRETBOX_NONCE_LEN], unsigned char *out)
{
	char ad[SECRETBOX_AD_MAX];
	unsigned long long outlen = 0;
	int adlen;

	if (sodium_init() < 0)
		return -1;
	if (len < SECRETBOX_TAG_LEN)
		return -1;
	if ((adlen = secretbox_ad(ad, workspace_id, route_id)) == -1)
		return -1;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &outlen, NULL, ct, len,
		(const unsigned char *)ad, (unsigned long long)adlen, nonce, key) != 0 ||
	    outlen != (unsigned long long)len - SECRETBOX_TAG_LEN) {
		/* Leave nothing of a forgery in out. */
		sodium_memzero(out, len - SECRETBOX_TAG_LEN);
		out[0] = '\0';
		return -1;
	}
	out[outlen] = '\0';
	return 0;
}
