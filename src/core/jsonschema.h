/*
 * A JSON Schema validator for agent versions' input_schema: type,
 * properties, required, enum, items, minLength/maxLength,
 * minimum/maximum, additionalProperties (and the keywords listed in
 * jsonschema.c). Pure: no I/O, no globals.
 */
#ifndef AGENTRUN_JSONSCHEMA_H
#define AGENTRUN_JSONSCHEMA_H

#include <jansson.h>
#include <stddef.h>

/*
 * Checks that schema is one this validator understands (an object whose
 * known keywords have the right types). 0, or -1 with a message in err.
 */
int jsonschema_check(const json_t *schema, char *err, size_t errsz);

/*
 * Validates instance against schema. Each violation is appended to
 * violations (an array; borrowed) as {"pointer": "/items/0/name",
 * "message": "…"} with the instance's JSON pointer (RFC 6901).
 * Returns the number of violations (0 = valid), or -1 on out-of-memory.
 */
int jsonschema_validate(const json_t *schema, const json_t *instance, json_t *violations);

#endif
