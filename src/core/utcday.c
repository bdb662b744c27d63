/*
 * Day numbers after Howard Hinnant's days_from_civil / civil_from_days
 * (http://howardhinnant.github.io/date_algorithms.html): eras of 400 years,
 * years starting in March so the leap day ends the year.
 */
#include "utcday.h"

#include <string.h>

static int
utcday_leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
utcday_month_len(long y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && utcday_leap(y) ? 29 : len[m - 1];
}

long
utcday_from_ymd(long y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153L * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads n decimal digits; -1 when one is not a digit. */
static long
utcday_digits(const char *s, int n)
{
	long v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
utcday_parse(const char *s, long *day)
{
	long y, m, d;

	*day = 0;
	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = utcday_digits(s, 4);
	m = utcday_digits(s + 5, 2);
	d = utcday_digits(s + 8, 2);
	if (y < UTCDAY_YEAR_MIN || y > UTCDAY_YEAR_MAX || m < 1 || m > 12 || d < 1 ||
	    d > utcday_month_len(y, (int)m))
		return -1;
	*day = utcday_from_ymd(y, (int)m, (int)d);
	return 0;
}

void
utcday_format(long day, char out[UTCDAY_BUFSZ])
{
	long z = day + 719468, era, doe, yoe, y, doy, mp, d, m;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 0 || y > 9999)
		y = 0; /* outside the contract; keeps the output 10 characters */
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = '\0';
}

long
utcday_of_time(time_t t)
{
	long long s = (long long)t;

	return (long)(s >= 0 ? s / 86400 : -((-s + 86399) / 86400));
}

long
utcday_today(void)
{
	return utcday_of_time(time(NULL));
}
