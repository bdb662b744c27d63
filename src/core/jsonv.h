/* Small constructors for JSON views built from database cells. */
#ifndef AGENTRUN_JSONV_H
#define AGENTRUN_JSONV_H

#include <jansson.h>
#include <stddef.h>

/* "2026-11-23 10:00:00.123" (as MariaDB returns DATETIME(3)) -> "2026-11-23T10:00:00.123Z"; NULL -> null. New reference. */
json_t *jv_time(const char *dbtime);

/* Writes the RFC 3339 form of a database time into out (at least 25 bytes); "" for NULL. */
void jv_time_format(const char *dbtime, char *out, size_t outsz);

/* A string, or null for NULL. New reference. */
json_t *jv_str(const char *s);

/* A parsed integer, or null for NULL. New reference. */
json_t *jv_int(const char *s);

/* The JSON document stored in a cell, or null for NULL / unparsable. New reference. */
json_t *jv_doc(const char *s, size_t len);

#endif
