/*
 * Dollar amounts as exact decimal text, both ways: "2.50" ↔ 2500000000
 * nano-dollars. String arithmetic only, never floating point, so a price an
 * operator types is stored to the nano-dollar and a sum prints to the last
 * digit. Pure functions: any process may call them.
 */
#ifndef AGENTRUN_USD_H
#define AGENTRUN_USD_H

#include <stddef.h>

/* Enough for "-9223372036.854775808" and the NUL. */
#define USD_BUFSZ 32

/*
 * Parses a non-negative decimal number of dollars ("2", "2.5", "0.075",
 * ".5", "3.750000000") into nano-dollars. At most 9 digits after the point
 * (more is refused, even zeros: the text claims a precision the unit lacks);
 * no sign, exponent, spaces or thousands separators. Returns 0, or -1 when
 * s is not such a number or the value exceeds max_nusd.
 */
int usd_parse_nusd(const char *s, long long max_nusd, long long *out);

/*
 * Writes nusd as dollars with exactly 9 decimals ("0.001585000", "-1.5" →
 * "-1.500000000") into out (USD_BUFSZ bytes).
 */
void usd_format_nusd(long long nusd, char out[USD_BUFSZ]);

#endif
