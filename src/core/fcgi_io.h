/* Builds a struct http_request from a libfcgi request, and writes to it. */
#ifndef AGENTRUN_FCGI_IO_H
#define AGENTRUN_FCGI_IO_H

#include <fcgiapp.h>

#include "http.h"

enum fcgi_read {
	FCGI_READ_OK = 0,
	FCGI_READ_TOO_LARGE,
	FCGI_READ_ERROR
};

/*
 * Fills req from fr's parameters and reads the body (at most HTTP_BODY_MAX
 * bytes; a larger one is not read and gives FCGI_READ_TOO_LARGE). req keeps
 * pointers into fr: it lives only as long as the FastCGI request.
 */
enum fcgi_read fcgi_request_init(struct http_request *req, FCGX_Request *fr);

/* Frees what fcgi_request_init allocated. */
void fcgi_request_release(struct http_request *req);

/*
 * Opens the listening socket from a config "listen" value: an absolute path
 * is a unix socket (stale file removed, mode 0660), anything else HOST:PORT.
 * Returns the fd or -1.
 */
int fcgi_listen(const char *listen, int backlog);

#endif
