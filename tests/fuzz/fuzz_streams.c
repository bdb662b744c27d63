/*
 * Fuzzes the provider stream parsers with bytes as a provider (or anything
 * pretending to be one) could send them: the first byte picks OpenAI or
 * Anthropic, the rest is fed in pieces whose sizes come from the input too.
 */
#include <stdint.h>
#include <string.h>

#include "executor/providers/anthropic.h"
#include "executor/providers/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_text(void *arg, const char *s, size_t n)
{
	(void)arg;
	(void)s;
	(void)n;
}

static void
fz_call(void *arg, const char *id, const char *name, const char *args)
{
	(void)arg;
	(void)id;
	(void)name;
	(void)args;
}

static void
fz_usage(void *arg, const struct llm_usage *u)
{
	(void)arg;
	(void)u;
}

static void
fz_str(void *arg, const char *s)
{
	(void)arg;
	(void)s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct llm_events ev = { NULL, fz_text, fz_text, fz_call, fz_usage, fz_str, fz_str };
	int anthropic;
	void *s;
	size_t pos = 2, step;

	if (size < 2)
		return 0;
	anthropic = data[0] & 1;
	step = (size_t)(data[1] % 64) + 1;
	s = anthropic ? (void *)anthropic_stream_new(&ev) : (void *)openai_stream_new(&ev);
	if (s == NULL)
		return 0;
	while (pos < size) {
		size_t n = size - pos < step ? size - pos : step;
		int rc = anthropic ? anthropic_stream_feed(s, (const char *)data + pos, n)
				   : openai_stream_feed(s, (const char *)data + pos, n);

		if (rc == -1)
			break;
		pos += n;
	}
	if (anthropic)
		anthropic_stream_free(s);
	else
		openai_stream_free(s);
	return 0;
}
