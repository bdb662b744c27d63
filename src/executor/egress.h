/*
 * The outbound guard for destinations a tenant chose: HTTP tool URLs and the
 * base URLs of routes. The operator's own provider base URLs ([openai],
 * [anthropic]) are trusted and not guarded. Design notes in egress.c.
 *
 * Loop thread only: the callbacks run inside curl_multi_perform().
 */
#ifndef AGENTRUN_EXECUTOR_EGRESS_H
#define AGENTRUN_EXECUTOR_EGRESS_H

#include <curl/curl.h>
#include <stddef.h>

/* One transfer's guard; it must outlive the transfer (it lives in the xrun). */
struct egress {
	int guarded; /* a tenant chose the destination: check addresses, no pooled connection */
	int allow_private; /* loopback, private and link-local are allowed too */
	int refused; /* out: a check refused the address; the transfer was aborted */
	char refused_ip[48]; /* out: the address refused last, as text, for the log */
};

/*
 * Sets the guard on easy (after curl_easy_reset): the connect-time and the
 * per-request address checks, no pooled connection in either direction, no
 * proxy. Does nothing when g->guarded is 0. Borrows g; clears g->refused.
 * refused is set even when curl then connects to another address of the
 * host: look at it only when the transfer failed.
 */
void egress_setopt(CURL *easy, struct egress *g);

/*
 * 1 when a request may go out on a connection to the textual address ip (as
 * CURLINFO_PRIMARY_IP gives it): a public address, or with allow_private a
 * loopback, private or link-local one. Anything unparsable is refused.
 */
int egress_ip_allowed(const char *ip, int allow_private);

/*
 * 1 when url's host is on list (providers.allow_hosts: entries "host" or
 * "host:port", IPv6 literals in brackets, separated by commas or blanks;
 * host names compare case-insensitively; an entry without a port matches
 * every port). 0 when it is not, or url does not parse. Borrows both.
 */
int egress_host_listed(const char *list, const char *url);

/* 0 when every entry of list is a host[:port], else -1 with a message in err. */
int egress_list_check(const char *list, char *err, size_t errsz);

/*
 * 1 when a and b are the same URL but for trailing slashes: how a route's
 * base_url is recognised as the operator's own.
 */
int egress_same_base(const char *a, const char *b);

/* 1 when two URLs have the same scheme, host and port (an unparsable one never does). */
int egress_same_origin(const char *a, const char *b);

#endif
