#include "fcgi_proto.h"

#include <stdlib.h>
#include <string.h>

int
fbuf_put(struct fbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (b->max != 0 && b->len + n > b->max)
		return -1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *np;

		while (cap < b->len + n)
			cap *= 2;
		if (b->max != 0 && cap > b->max)
			cap = b->max;
		if ((np = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

void
fbuf_consume(struct fbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void
fbuf_free(struct fbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Parses one record header; 1 when a whole record is present. */
static int
fcgi_record(const unsigned char *buf, size_t len, uint8_t *type, uint16_t *id,
    const unsigned char **content, size_t *clen, size_t *total)
{
	size_t pad;

	if (len < FCGI_HEADER_LEN)
		return 0;
	*type = buf[1];
	*id = (uint16_t)((buf[2] << 8) | buf[3]);
	*clen = (size_t)((buf[4] << 8) | buf[5]);
	pad = buf[6];
	*total = FCGI_HEADER_LEN + *clen + pad;
	if (len < *total)
		return 0;
	*content = buf + FCGI_HEADER_LEN;
	return 1;
}

enum fcgi_parse_result
fcgi_req_feed(struct fcgi_req *req, const unsigned char *buf, size_t len, size_t *used)
{
	size_t off = 0;

	*used = 0;
	while (off < len) {
		const unsigned char *content;
		size_t clen, total;
		uint8_t type;
		uint16_t id;

		if (buf[off] != FCGI_VERSION_1)
			return FCGI_PROTO_ERROR;
		if (!fcgi_record(buf + off, len - off, &type, &id, &content, &clen, &total))
			break;
		off += total;
		*used = off;
		if (id == 0)
			continue; /* management records: nothing to say */
		switch (type) {
		case FCGI_BEGIN_REQUEST:
			if (req->begun || clen < 8)
				return FCGI_PROTO_ERROR;
			req->begun = 1;
			req->id = id;
			req->params.max = FCGI_PARAMS_MAX;
			req->body.max = FCGI_STDIN_MAX;
			break;
		case FCGI_ABORT_REQUEST:
			if (id == req->id)
				req->aborted = 1;
			break;
		case FCGI_PARAMS:
			if (!req->begun || id != req->id)
				return FCGI_PROTO_ERROR;
			if (clen == 0)
				req->params_done = 1;
			else if (fbuf_put(&req->params, content, clen) == -1)
				req->too_large = 1;
			break;
		case FCGI_STDIN:
			if (!req->begun || id != req->id)
				return FCGI_PROTO_ERROR;
			if (clen == 0)
				req->stdin_done = 1;
			else if (!req->too_large && fbuf_put(&req->body, content, clen) == -1)
				req->too_large = 1;
			break;
		default: break;
		}
	}
	return FCGI_NEED_MORE;
}

void
fcgi_req_free(struct fcgi_req *req)
{
	fbuf_free(&req->params);
	fbuf_free(&req->body);
}

/* Reads a 1- or 4-byte length; 0 on success. */
static int
fcgi_len(const unsigned char *p, size_t left, size_t *len, size_t *used)
{
	if (left < 1)
		return -1;
	if (!(p[0] & 0x80)) {
		*len = p[0];
		*used = 1;
		return 0;
	}
	if (left < 4)
		return -1;
	*len = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
	*used = 4;
	return 0;
}

char *
fcgi_param_get(const struct fbuf *params, const char *name)
{
	size_t off = 0, want = strlen(name);

	while (off < params->len) {
		size_t nlen, vlen, u1, u2;
		char *v;

		if (fcgi_len(params->p + off, params->len - off, &nlen, &u1) == -1)
			return NULL;
		off += u1;
		if (fcgi_len(params->p + off, params->len - off, &vlen, &u2) == -1)
			return NULL;
		off += u2;
		if (nlen > params->len - off || vlen > params->len - off - nlen)
			return NULL;
		if (nlen == want && memcmp(params->p + off, name, nlen) == 0) {
			if ((v = malloc(vlen + 1)) == NULL)
				return NULL;
			memcpy(v, params->p + off + nlen, vlen);
			v[vlen] = '\0';
			return v;
		}
		off += nlen + vlen;
	}
	return NULL;
}

static int
fcgi_put_header(struct fbuf *out, uint8_t type, uint16_t id, size_t clen)
{
	unsigned char h[FCGI_HEADER_LEN] = { FCGI_VERSION_1, type, (unsigned char)(id >> 8),
		(unsigned char)id, (unsigned char)(clen >> 8), (unsigned char)clen, 0, 0 };

	return fbuf_put(out, h, sizeof(h));
}

int
fcgi_put_stream(struct fbuf *out, uint8_t type, uint16_t id, const void *data, size_t n)
{
	const unsigned char *p = data;

	if (n == 0)
		return fcgi_put_header(out, type, id, 0);
	while (n > 0) {
		size_t chunk = n > 65535 ? 65535 : n;

		if (fcgi_put_header(out, type, id, chunk) == -1 || fbuf_put(out, p, chunk) == -1)
			return -1;
		p += chunk;
		n -= chunk;
	}
	return 0;
}

int
fcgi_put_stdout(struct fbuf *out, uint16_t id, const void *data, size_t n)
{
	return n == 0 ? 0 : fcgi_put_stream(out, FCGI_STDOUT, id, data, n);
}

int
fcgi_put_end(struct fbuf *out, uint16_t id, uint32_t app_status)
{
	unsigned char body[8] = { (unsigned char)(app_status >> 24),
		(unsigned char)(app_status >> 16), (unsigned char)(app_status >> 8),
		(unsigned char)app_status, 0 /* REQUEST_COMPLETE */, 0, 0, 0 };

	if (fcgi_put_stream(out, FCGI_STDOUT, id, NULL, 0) == -1 ||
	    fcgi_put_header(out, FCGI_END_REQUEST, id, sizeof(body)) == -1)
		return -1;
	return fbuf_put(out, body, sizeof(body));
}

int
fcgi_record_open(struct fbuf *out, size_t *at)
{
	static const unsigned char blank[FCGI_HEADER_LEN];

	*at = out->len;
	return fbuf_put(out, blank, sizeof(blank));
}

int
fcgi_record_close(struct fbuf *out, size_t at, uint8_t type, uint16_t id)
{
	size_t clen = out->len - at - FCGI_HEADER_LEN;
	unsigned char *copy;
	int rc;

	if (clen == 0) {
		out->len = at;
		return 0;
	}
	if (clen <= 65535) {
		unsigned char *h = out->p + at;

		h[0] = FCGI_VERSION_1;
		h[1] = type;
		h[2] = (unsigned char)(id >> 8);
		h[3] = (unsigned char)id;
		h[4] = (unsigned char)(clen >> 8);
		h[5] = (unsigned char)clen;
		h[6] = h[7] = 0;
		return 0;
	}
	/* Rare (a payload over 64 KiB): write it again as several records. */
	if ((copy = malloc(clen)) == NULL) {
		out->len = at;
		return -1;
	}
	memcpy(copy, out->p + at + FCGI_HEADER_LEN, clen);
	out->len = at;
	rc = fcgi_put_stream(out, type, id, copy, clen);
	free(copy);
	if (rc == -1)
		out->len = at;
	return rc;
}

void
fcgi_set_request_id(unsigned char *buf, size_t len, uint16_t id)
{
	size_t off = 0;

	while (len - off >= FCGI_HEADER_LEN) {
		size_t total =
		    FCGI_HEADER_LEN + (size_t)((buf[off + 4] << 8) | buf[off + 5]) + buf[off + 6];

		if (total > len - off)
			return;
		buf[off + 2] = (unsigned char)(id >> 8);
		buf[off + 3] = (unsigned char)id;
		off += total;
	}
}

int
fcgi_put_begin(struct fbuf *out, uint16_t id)
{
	unsigned char body[8] = { 0, FCGI_RESPONDER, 0 /* no keep-conn */, 0, 0, 0, 0, 0 };

	if (fcgi_put_header(out, FCGI_BEGIN_REQUEST, id, sizeof(body)) == -1)
		return -1;
	return fbuf_put(out, body, sizeof(body));
}

static int
fcgi_put_len(struct fbuf *b, size_t n)
{
	unsigned char l[4];

	if (n < 128) {
		l[0] = (unsigned char)n;
		return fbuf_put(b, l, 1);
	}
	l[0] = (unsigned char)(0x80 | (n >> 24));
	l[1] = (unsigned char)(n >> 16);
	l[2] = (unsigned char)(n >> 8);
	l[3] = (unsigned char)n;
	return fbuf_put(b, l, 4);
}

int
fcgi_put_param(struct fbuf *params, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (fcgi_put_len(params, nl) == -1 || fcgi_put_len(params, vl) == -1 ||
	    fbuf_put(params, name, nl) == -1 || fbuf_put(params, value, vl) == -1)
		return -1;
	return 0;
}

enum fcgi_parse_result
fcgi_resp_feed(struct fcgi_resp *resp, const unsigned char *buf, size_t len, size_t *used)
{
	size_t off = 0;

	*used = 0;
	while (off < len) {
		const unsigned char *content;
		size_t clen, total;
		uint8_t type;
		uint16_t id;

		if (buf[off] != FCGI_VERSION_1)
			return FCGI_PROTO_ERROR;
		if (!fcgi_record(buf + off, len - off, &type, &id, &content, &clen, &total))
			break;
		off += total;
		*used = off;
		if (type == FCGI_STDOUT && clen > 0 &&
		    fbuf_put(&resp->stdout_data, content, clen) == -1)
			return FCGI_PROTO_ERROR;
		if (type == FCGI_END_REQUEST)
			resp->ended = 1;
	}
	return FCGI_NEED_MORE;
}
