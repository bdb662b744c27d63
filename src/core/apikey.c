#include "apikey.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define APIKEY_RANDOM_BYTES 32

void
apikey_generate(char out[APIKEY_SECRET_MAX])
{
	unsigned char raw[APIKEY_RANDOM_BYTES];
	size_t plen = strlen(APIKEY_PREFIX);

	randombytes_buf(raw, sizeof(raw));
	snprintf(out, APIKEY_SECRET_MAX, "%s", APIKEY_PREFIX);
	sodium_bin2base64(out + plen, APIKEY_SECRET_MAX - plen, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

int
apikey_well_formed(const char *s)
{
	size_t plen = strlen(APIKEY_PREFIX);
	size_t n;

	if (s == NULL || strncmp(s, APIKEY_PREFIX, plen) != 0)
		return 0;
	n = strlen(s + plen);
	if (n !=
	    sodium_base64_ENCODED_LEN(
		APIKEY_RANDOM_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING) -
		1)
		return 0;
	for (const char *p = s + plen; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

void
apikey_hash(const char *secret, unsigned char out[APIKEY_HASH_LEN])
{
	crypto_hash_sha256(out, (const unsigned char *)secret, strlen(secret));
}

int
apikey_hash_equal(const unsigned char *a, const unsigned char *b)
{
	return sodium_memcmp(a, b, APIKEY_HASH_LEN) == 0;
}

const char *
apikey_from_bearer(const char *header, size_t *len)
{
	const char *p;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	p = header + 7;
	while (*p == ' ')
		p++;
	*len = strcspn(p, " \t");
	if (*len == 0 || p[*len] != '\0')
		return NULL;
	return p;
}
