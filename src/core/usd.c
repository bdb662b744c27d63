#include "usd.h"

#include <stdio.h>

#define USD_NUSD_PER_USD 1000000000LL
#define USD_FRAC_DIGITS 9

int
usd_parse_nusd(const char *s, long long max_nusd, long long *out)
{
	long long whole = 0, frac = 0;
	int nwhole = 0, nfrac = 0;
	const char *p = s;

	*out = 0;
	if (s == NULL)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++, nwhole++) {
		if (whole > (max_nusd / USD_NUSD_PER_USD))
			return -1; /* already too large; also keeps whole × 10 in range */
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nfrac++) {
			if (nfrac == USD_FRAC_DIGITS)
				return -1;
			frac = frac * 10 + (*p - '0');
		}
		if (nfrac == 0)
			return -1; /* "2." */
	}
	if (*p != '\0' || nwhole + nfrac == 0)
		return -1;
	for (int i = nfrac; i < USD_FRAC_DIGITS; i++)
		frac *= 10;
	if (whole > (max_nusd - frac) / USD_NUSD_PER_USD)
		return -1;
	*out = whole * USD_NUSD_PER_USD + frac;
	return *out <= max_nusd ? 0 : -1;
}

void
usd_format_nusd(long long nusd, char out[USD_BUFSZ])
{
	/* Unsigned magnitude: -LLONG_MIN does not fit a long long. */
	unsigned long long mag =
	    nusd < 0 ? 0ULL - (unsigned long long)nusd : (unsigned long long)nusd;

	snprintf(out, USD_BUFSZ, "%s%llu.%09llu", nusd < 0 ? "-" : "",
	    mag / (unsigned long long)USD_NUSD_PER_USD, mag % (unsigned long long)USD_NUSD_PER_USD);
}
