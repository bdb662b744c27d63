/*
 * Logging in the OpenBSD log.c manner: one line per event on stderr,
 * "ts=… proc=… level=… msg=…" plus key=value pairs the caller formats.
 * Untrusted bytes must go through log_escape() first.
 */
#ifndef AGENTRUN_LOG_H
#define AGENTRUN_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL__MAX
};

void log_init(const char *procname, enum log_level level);
void log_set_level(enum log_level level);
int log_level_parse(const char *s, enum log_level *out);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies src into dst (size dstsz, always NUL-terminated) replacing control
 * characters, quotes, backslashes and non-ASCII bytes with \xHH so a value
 * from the network cannot forge a log line. Returns dst.
 */
char *log_escape(char *dst, size_t dstsz, const char *src);

#endif
