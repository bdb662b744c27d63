/*
 * The FastCGI wire protocol (FastCGI 1.0 specification), both ways, as pure
 * functions: agentrun-stream serves many long-held requests from one event
 * loop, which libfcgi's blocking accept loop cannot do, so it speaks the
 * protocol itself — as a responder to nginx, and as a client of
 * agentrun-api for the requests it delegates (sync execution).
 */
#ifndef AGENTRUN_STREAM_FCGI_PROTO_H
#define AGENTRUN_STREAM_FCGI_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define FCGI_HEADER_LEN 8
#define FCGI_VERSION_1 1
#define FCGI_BEGIN_REQUEST 1
#define FCGI_ABORT_REQUEST 2
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_STDERR 7
#define FCGI_GET_VALUES 9
#define FCGI_GET_VALUES_RESULT 10
#define FCGI_RESPONDER 1

#define FCGI_PARAMS_MAX (64 * 1024)
#define FCGI_STDIN_MAX (1024 * 1024)

/* A growable byte buffer with a cap (curl's dynbuf in spirit). */
struct fbuf {
	unsigned char *p;
	size_t len, cap, max;
};

int fbuf_put(struct fbuf *b, const void *data, size_t n); /* 0, or -1 past max / OOM */
void fbuf_consume(struct fbuf *b, size_t n);
void fbuf_free(struct fbuf *b);

/* One request as a responder receives it. */
struct fcgi_req {
	uint16_t id;
	int begun; /* BEGIN_REQUEST seen */
	int params_done; /* the empty PARAMS record seen */
	int stdin_done; /* the empty STDIN record seen */
	int aborted; /* ABORT_REQUEST seen */
	int too_large; /* params or stdin over their caps */
	struct fbuf params; /* raw name-value pairs */
	struct fbuf body;
};

enum fcgi_parse_result {
	FCGI_NEED_MORE = 0,
	FCGI_PROTO_ERROR = -1
};

/*
 * Consumes every complete record at the start of buf (len bytes) into req;
 * *used receives the bytes consumed. Returns FCGI_NEED_MORE or
 * FCGI_PROTO_ERROR (a bad version, a second request on the connection).
 * Records for management (GET_VALUES) are ignored.
 */
enum fcgi_parse_result fcgi_req_feed(
    struct fcgi_req *req, const unsigned char *buf, size_t len, size_t *used);
void fcgi_req_free(struct fcgi_req *req);

/*
 * Looks a parameter up in the raw name-value pairs; returns a new
 * NUL-terminated copy, or NULL when absent or malformed.
 */
char *fcgi_param_get(const struct fbuf *params, const char *name);

/* Responder output: STDOUT records (split at 65535 bytes), and the end. */
int fcgi_put_stdout(struct fbuf *out, uint16_t id, const void *data, size_t n);
int fcgi_put_end(struct fbuf *out, uint16_t id, uint32_t app_status);

/*
 * One record built in place, for content whose length is known only once
 * written: fcgi_record_open() reserves the header at the end of out and
 * stores its offset in *at; the caller appends the content with fbuf_put();
 * fcgi_record_close() writes the header, splits content over 65535 bytes
 * into several records, and removes the record when it got no content (an
 * empty STDOUT record would end the stream). 0, or -1 (out full / OOM: out
 * is cut back to *at).
 */
int fcgi_record_open(struct fbuf *out, size_t *at);
int fcgi_record_close(struct fbuf *out, size_t at, uint8_t type, uint16_t id);

/* Rewrites the request id of every whole record in buf (len bytes of records). */
void fcgi_set_request_id(unsigned char *buf, size_t len, uint16_t id);

/* Client side: a whole request (BEGIN, PARAMS pairs, empty PARAMS, STDIN, empty STDIN). */
int fcgi_put_begin(struct fbuf *out, uint16_t id);
int fcgi_put_param(struct fbuf *params, const char *name, const char *value);
int fcgi_put_stream(struct fbuf *out, uint8_t type, uint16_t id, const void *data, size_t n);

/* Client side: one response. */
struct fcgi_resp {
	struct fbuf stdout_data;
	int ended;
};

enum fcgi_parse_result fcgi_resp_feed(
    struct fcgi_resp *resp, const unsigned char *buf, size_t len, size_t *used);

#endif
