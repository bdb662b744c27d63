/*
 * Fuzzes the stream worker's FastCGI codec (src/stream/fcgi_proto.c): what
 * nginx (and agentrun-api, for delegated requests) send it is parsed
 * without libfcgi, so every record and name-value length is untrusted.
 * The input is fed as a responder's request (in two pieces, split where
 * its first byte says, as a socket would deliver it), as a client's
 * response, and through the record rewriter; then the writers are checked
 * against the readers: a parameter written must read back the same, and
 * bytes written as STDOUT records must come back whole from the response
 * parser. A mismatch aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/fcgi_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_names[] = { "REQUEST_METHOD", "DOCUMENT_URI", "QUERY_STRING",
	"HTTP_AUTHORIZATION", "HTTP_ACCEPT", "REQUEST_ID", "" };

/* Feeds data to a fresh request as a socket would: bytes accumulate, whole records go. */
static void
fuzz_request(const uint8_t *data, size_t size)
{
	struct fcgi_req req;
	struct fbuf in;
	size_t split = size > 0 ? data[0] % (size + 1) : 0;
	const uint8_t *piece[2] = { data, data + split };
	size_t plen[2] = { split, size - split };

	memset(&req, 0, sizeof(req));
	memset(&in, 0, sizeof(in));
	in.max = FCGI_PARAMS_MAX + FCGI_STDIN_MAX + 65536;
	for (int i = 0; i < 2; i++) {
		size_t used;

		if (fbuf_put(&in, piece[i], plen[i]) == -1)
			break;
		if (fcgi_req_feed(&req, in.p, in.len, &used) == FCGI_PROTO_ERROR)
			break;
		if (used > in.len)
			abort();
		fbuf_consume(&in, used);
	}
	if (req.params.len > FCGI_PARAMS_MAX || req.body.len > FCGI_STDIN_MAX)
		abort();
	for (size_t i = 0; i < sizeof(fuzz_names) / sizeof(fuzz_names[0]); i++)
		free(fcgi_param_get(&req.params, fuzz_names[i]));
	fcgi_req_free(&req);
	fbuf_free(&in);
}

static void
fuzz_response(const uint8_t *data, size_t size)
{
	struct fcgi_resp resp;
	unsigned char *copy;
	size_t used;

	memset(&resp, 0, sizeof(resp));
	resp.stdout_data.max = FCGI_STDIN_MAX;
	(void)fcgi_resp_feed(&resp, data, size, &used);
	if (used > size)
		abort();
	fbuf_free(&resp.stdout_data);
	if ((copy = malloc(size + 1)) == NULL)
		return;
	memcpy(copy, data, size);
	fcgi_set_request_id(copy, size, 513);
	free(copy);
}

/* A name-value pair written by fcgi_put_param reads back the same; STDOUT round-trips. */
static void
fuzz_writers(const uint8_t *data, size_t size)
{
	const char *nul = memchr(data, '\0', size);
	struct fbuf params, out;
	struct fcgi_resp resp;
	char *name, *value, *got;
	size_t nlen, used;

	memset(&params, 0, sizeof(params));
	memset(&out, 0, sizeof(out));
	memset(&resp, 0, sizeof(resp));
	if (nul != NULL) {
		nlen = (size_t)(nul - (const char *)data);
		name = strndup((const char *)data, nlen);
		value = strndup(nul + 1, size - nlen - 1); /* up to a second NUL */
		if (name != NULL && value != NULL && fcgi_put_param(&params, name, value) == 0) {
			got = fcgi_param_get(&params, name);
			if (got == NULL || strcmp(got, value) != 0)
				abort();
			free(got);
		}
		free(name);
		free(value);
	}
	if (fcgi_put_stream(&out, FCGI_STDOUT, 1, data, size) == 0 &&
	    fcgi_put_end(&out, 1, 0) == 0) {
		if (fcgi_resp_feed(&resp, out.p, out.len, &used) != FCGI_NEED_MORE ||
		    used != out.len || !resp.ended || resp.stdout_data.len != size ||
		    (size > 0 && memcmp(resp.stdout_data.p, data, size) != 0))
			abort();
	}
	fbuf_free(&resp.stdout_data);
	fbuf_free(&params);
	fbuf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(data, size);
	fuzz_response(data, size);
	fuzz_writers(data, size);
	return 0;
}
