/*
 * Fuzzes what the API takes from the network before any handler: the
 * request path, the query string and the JSON body. The input is split at
 * the first two NUL bytes into path, query and body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_sink(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 2);
	const char *path, *query, *body;
	char out[HTTP_PATH_MAX], val[256];
	struct http_request req;
	size_t plen, qlen;
	json_t *obj = NULL;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	copy[size + 1] = '\0';
	path = copy;
	plen = strlen(path);
	query = plen < size ? copy + plen + 1 : "";
	qlen = strlen(query);
	body = plen + qlen + 2 <= size ? query + qlen + 1 : "";

	(void)http_normalize_path(path, out, sizeof(out));
	(void)http_query_param(query, "limit", val, sizeof(val));
	(void)http_query_param(query, "before", val, sizeof(val));

	memset(&req, 0, sizeof(req));
	req.write = fuzz_sink;
	http_set_request_id(&req, path);
	req.body = (char *)body;
	req.body_len = strlen(body);
	if (http_json_body(&req, &obj, 1) == 0)
		json_decref(obj);
	free(copy);
	return 0;
}
