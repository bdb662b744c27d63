#include "prompt.h"

#include <stdlib.h>
#include <string.h>

#define PROMPT_FIELD_MAX 128

struct prompt_buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
prompt_put(struct prompt_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
prompt_put_value(struct prompt_buf *b, const json_t *v)
{
	char *text;

	if (v == NULL || json_is_null(v))
		return;
	if (json_is_string(v)) {
		prompt_put(b, json_string_value(v), json_string_length(v));
		return;
	}
	if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		b->oom = 1;
		return;
	}
	prompt_put(b, text, strlen(text));
	free(text);
}

char *
prompt_render_user(const char *tpl, const json_t *input)
{
	struct prompt_buf b = { NULL, 0, 0, 0 };
	const char *p;

	if (tpl == NULL) {
		const json_t *v = json_object_get(input, "prompt");

		if (!json_is_string(v))
			v = json_object_get(input, "message");
		if (json_is_string(v))
			return strdup(json_string_value(v));
		return json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	}
	prompt_put(&b, "", 0);
	for (p = tpl; *p != '\0';) {
		const char *open = strstr(p, "{{"), *close;
		char name[PROMPT_FIELD_MAX];
		size_t n;

		if (open == NULL || (close = strstr(open + 2, "}}")) == NULL) {
			prompt_put(&b, p, strlen(p));
			break;
		}
		prompt_put(&b, p, (size_t)(open - p));
		/* "{{ name }}": surrounding blanks are allowed. */
		open += 2;
		while (open < close && (*open == ' ' || *open == '\t'))
			open++;
		n = (size_t)(close - open);
		while (n > 0 && (open[n - 1] == ' ' || open[n - 1] == '\t'))
			n--;
		if (n > 0 && n < sizeof(name)) {
			memcpy(name, open, n);
			name[n] = '\0';
			prompt_put_value(&b, json_object_get(input, name));
		}
		p = close + 2;
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
