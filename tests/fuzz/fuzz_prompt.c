/*
 * Fuzzes prompt_template rendering: "template\ninput-json".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/prompt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *tpl, *out;
	json_t *input;

	if (nl == NULL)
		return 0;
	if ((tpl = strndup((const char *)data, (size_t)(nl - data))) == NULL)
		return 0;
	input = json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1, 0, NULL);
	if (input == NULL)
		input = json_object();
	out = prompt_render_user(tpl, input);
	free(out);
	out = prompt_render_user(NULL, input);
	free(out);
	json_decref(input);
	free(tpl);
	return 0;
}
