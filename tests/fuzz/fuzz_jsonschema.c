/*
 * Fuzzes the input_schema validator: the input is "schema\ninstance", two
 * JSON texts. Schemas come from agent authors, instances from run creators.
 */
#include <stdint.h>
#include <string.h>

#include "core/jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	json_t *schema, *instance, *violations;
	char err[256];

	if (nl == NULL)
		return 0;
	schema = json_loadb((const char *)data, (size_t)(nl - data), JSON_DECODE_ANY, NULL);
	instance =
	    json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1, JSON_DECODE_ANY, NULL);
	if (schema != NULL && instance != NULL && jsonschema_check(schema, err, sizeof(err)) == 0) {
		violations = json_array();
		(void)jsonschema_validate(schema, instance, violations);
		json_decref(violations);
	}
	json_decref(schema);
	json_decref(instance);
	return 0;
}
