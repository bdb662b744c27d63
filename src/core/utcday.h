/*
 * UTC calendar days as day numbers (days since 1970-01-01), for reports
 * that take "from"/"to" dates and walk every day of a range. Proleptic
 * Gregorian calendar; pure functions apart from utcday_today().
 */
#ifndef AGENTRUN_UTCDAY_H
#define AGENTRUN_UTCDAY_H

#include <time.h>

/* "YYYY-MM-DD" and the NUL. */
#define UTCDAY_BUFSZ 11

/* The accepted years; a day number outside them is never produced. */
#define UTCDAY_YEAR_MIN 1970
#define UTCDAY_YEAR_MAX 9999

/*
 * Parses exactly "YYYY-MM-DD" (four-digit year from UTCDAY_YEAR_MIN to
 * UTCDAY_YEAR_MAX, a real month and day of that month) into *day.
 * Returns 0, or -1 for anything else.
 */
int utcday_parse(const char *s, long *day);

/* Writes day as "YYYY-MM-DD"; day must lie within the accepted years. */
void utcday_format(long day, char out[UTCDAY_BUFSZ]);

/* The day number of a date (no range check; month 1–12). */
long utcday_from_ymd(long y, int m, int d);

/* The day number of a Unix time (UTC). */
long utcday_of_time(time_t t);

/* Today (UTC). */
long utcday_today(void);

#endif
