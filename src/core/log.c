#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_proc = "agentrun";
static enum log_level log_min = LOG_LEVEL_INFO;

static const char *const log_level_names[LOG_LEVEL__MAX] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
};

void
log_init(const char *procname, enum log_level level)
{
	log_proc = procname;
	log_min = level;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < LOG_LEVEL__MAX; i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Writes the whole line with one write(2) so lines of forked children do not interleave. */
static void
log_vwrite(enum log_level level, const char *err, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (level < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ proc=%s pid=%ld level=%s ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	    log_proc, (long)getpid(), log_level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n = (size_t)n + (size_t)m >= sizeof(line) - 1 ? (int)sizeof(line) - 2 : n + m;
	if (err != NULL) {
		m = snprintf(line + n, sizeof(line) - (size_t)n, " error=\"%s\"", err);
		if (m > 0)
			n = (size_t)n + (size_t)m >= sizeof(line) - 1 ? (int)sizeof(line) - 2
								      : n + m;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(name, level, with_errno)                                            \
	void name(const char *fmt, ...)                                            \
	{                                                                          \
		int saved = errno;                                                 \
		va_list ap;                                                        \
		va_start(ap, fmt);                                                 \
		log_vwrite(level, (with_errno) ? strerror(saved) : NULL, fmt, ap); \
		va_end(ap);                                                        \
		errno = saved;                                                     \
	}

LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

char *
log_escape(char *dst, size_t dstsz, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (dstsz == 0)
		return dst;
	for (const unsigned char *p = (const unsigned char *)src; src && *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = (char)*p;
		} else {
			if (o + 4 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 0xf];
		}
	}
	dst[o] = '\0';
	return dst;
}
