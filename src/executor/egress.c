/*
 * The outbound guard (ARCHITECTURE.md, "Outbound requests to tenant-supplied
 * URLs"). A tenant chooses two kinds of destination: HTTP tool URLs and the
 * base URLs of its routes. Neither may reach loopback, private or
 * link-local addresses unless the operator allows it (tools.allow_private;
 * providers.allow_hosts for private LLM gateways a route may name), and
 * neither may ride on a connection someone else opened.
 *
 * A guarded transfer gets three things, each closing a hole the others
 * leave open:
 *
 *  - a connect-time check (CURLOPT_OPENSOCKETFUNCTION) of every address curl
 *    is about to connect to, after DNS: a refused address never sees a SYN;
 *  - a per-request check (CURLOPT_PREREQFUNCTION, libcurl >= 7.80) of the
 *    address the request is about to be sent on (CURLINFO_PRIMARY_IP): it
 *    runs for every request, on a new or a reused connection alike, so no
 *    request goes out on an address the rules refuse, whatever the pool
 *    held;
 *  - no pooled connection, in either direction: it never takes one from the
 *    loop's pool (CURLOPT_FRESH_CONNECT) and never leaves its own there
 *    (CURLOPT_FORBID_REUSE). The executor has one curl multi handle, hence
 *    one pool, for the runs of every workspace; reusing a connection would
 *    let workspace B's request ride on workspace A's connection (or the
 *    operator's, to an allow-listed gateway).
 *
 * Why no reuse rather than a pool per workspace (a CURLSH sharing
 * CURL_LOCK_DATA_CONNECT for each workspace): per-workspace shares would
 * keep keep-alive, but their lifetime would follow the workspace's runs
 * across claims, and the connection cache of a share under a multi handle
 * is a little-used corner of libcurl. What no reuse costs is one TCP (and
 * TLS) handshake per tool call or routed model call, small beside calls
 * that take from tens of milliseconds to minutes; model calls to the
 * operator's own base URLs are not guarded and keep the pool.
 *
 * Guarded transfers also never use a proxy (the checks must see the
 * destination's address, not a proxy's) and never follow redirects by
 * themselves: a model call does not follow them at all, a tool call
 * follows each hop as a new guarded transfer (httptool.c).
 *
 * The allow-list and the URL comparisons parse URLs with libcurl's own URL
 * parser (curl_url), the one that also decides where the request goes, so
 * the check and the connection cannot disagree about the host.
 */
#include "egress.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "tools/netguard.h"

#if defined(LIBCURL_VERSION_NUM) && LIBCURL_VERSION_NUM < 0x075500
#error "libcurl >= 7.85 is needed (CURLOPT_PREREQFUNCTION, CURLOPT_PROTOCOLS_STR)"
#endif

#define EGRESS_HOST_MAX 256
#define EGRESS_ENTRY_MAX 300

static curl_socket_t
egress_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct egress *g = arg;

	(void)purpose;
	if (!netguard_allowed(&addr->addr, g->allow_private)) {
		const void *a = addr->family == AF_INET6
		    ? (const void *)&((const struct sockaddr_in6 *)(const void *)&addr->addr)
			  ->sin6_addr
		    : (const void *)&((const struct sockaddr_in *)(const void *)&addr->addr)
			  ->sin_addr;

		g->refused = 1;
		if ((addr->family != AF_INET && addr->family != AF_INET6) ||
		    inet_ntop(addr->family, a, g->refused_ip, sizeof(g->refused_ip)) == NULL)
			snprintf(g->refused_ip, sizeof(g->refused_ip), "(family %d)", addr->family);
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static int
egress_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct egress *g = arg;

	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (egress_ip_allowed(primary_ip, g->allow_private))
		return CURL_PREREQFUNC_OK;
	g->refused = 1;
	snprintf(g->refused_ip, sizeof(g->refused_ip), "%s", primary_ip != NULL ? primary_ip : "");
	return CURL_PREREQFUNC_ABORT;
}

void
egress_setopt(CURL *easy, struct egress *g)
{
	g->refused = 0;
	g->refused_ip[0] = '\0';
	if (!g->guarded)
		return;
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, egress_opensocket);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, egress_prereq);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, g);
	curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
}

int
egress_ip_allowed(const char *ip, int allow_private)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	size_t n;

	if (ip == NULL || (n = strcspn(ip, "%")) == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, ip, n); /* without a zone ("fe80::1%eth0") */
	buf[n] = '\0';
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, buf, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return netguard_allowed((const struct sockaddr *)&sin, allow_private);
	}
	if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		return netguard_allowed((const struct sockaddr *)&sin6, allow_private);
	}
	return 0;
}

/*
 * The scheme, host and port (the scheme's default when none) of url into
 * the buffers. 0, or -1 when it does not parse or a part does not fit.
 */
static int
egress_origin(const char *url, char *scheme, size_t schemesz, char *host, size_t hostsz, char *port,
    size_t portsz, int want_bare)
{
	CURLU *u = curl_url();
	char *s = NULL, *h = NULL, *p = NULL, *rest = NULL;
	int rc = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	/* An allow-list entry is a host and a port, nothing else. */
	if (want_bare &&
	    (curl_url_get(u, CURLUPART_USER, &rest, 0) != CURLUE_NO_USER ||
		curl_url_get(u, CURLUPART_QUERY, &rest, 0) != CURLUE_NO_QUERY ||
		curl_url_get(u, CURLUPART_FRAGMENT, &rest, 0) != CURLUE_NO_FRAGMENT))
		goto out;
	if (snprintf(scheme, schemesz, "%s", s) >= (int)schemesz ||
	    snprintf(host, hostsz, "%s", h) >= (int)hostsz ||
	    snprintf(port, portsz, "%s", p) >= (int)portsz)
		goto out;
	rc = 0;
out:
	curl_free(s);
	curl_free(h);
	curl_free(p);
	curl_free(rest);
	curl_url_cleanup(u);
	return rc;
}

/*
 * The next entry of an allow-list (from *list on, moved past it) into
 * entry as "http://<entry>/": 1, 0 at the end, -1 when it is too long.
 */
static int
egress_next_entry(const char **list, char *entry, size_t entrysz, size_t *len)
{
	static const char sep[] = ", \t";
	const char *s = *list + strspn(*list, sep);
	size_t n = strcspn(s, sep);

	*list = s + n;
	*len = n;
	if (n == 0)
		return 0;
	if (snprintf(entry, entrysz, "http://%.*s/", (int)n, s) >= (int)entrysz)
		return -1;
	return 1;
}

/* Whether the entry names a port ("host:port", "[v6]:port"). */
static int
egress_entry_has_port(const char *entry)
{
	const char *host = entry + strlen("http://");
	const char *end = strchr(host, '/');
	const char *colon = host[0] == '[' ? strstr(host, "]:") : strchr(host, ':');

	return colon != NULL && (end == NULL || colon < end);
}

int
egress_list_check(const char *list, char *err, size_t errsz)
{
	char entry[EGRESS_ENTRY_MAX], scheme[16], host[EGRESS_HOST_MAX], port[8];
	const char *at = list;
	size_t len;
	int more;

	while ((more = egress_next_entry(&at, entry, sizeof(entry), &len)) != 0) {
		const char *path;

		if (more == -1 || strchr(entry + strlen("http://"), '@') != NULL ||
		    (path = strchr(entry + strlen("http://"), '/')) == NULL || path[1] != '\0' ||
		    egress_origin(entry, scheme, sizeof(scheme), host, sizeof(host), port,
			sizeof(port), 1) == -1) {
			snprintf(
			    err, errsz, "\"%.*s\" is not a host or host:port", (int)len, at - len);
			return -1;
		}
	}
	return 0;
}

int
egress_host_listed(const char *list, const char *url)
{
	char scheme[16], host[EGRESS_HOST_MAX], port[8];
	char entry[EGRESS_ENTRY_MAX], escheme[16], ehost[EGRESS_HOST_MAX], eport[8];
	const char *at = list;
	size_t len;
	int more;

	if (list == NULL || url == NULL ||
	    egress_origin(url, scheme, sizeof(scheme), host, sizeof(host), port, sizeof(port), 0) ==
		-1)
		return 0;
	while ((more = egress_next_entry(&at, entry, sizeof(entry), &len)) != 0) {
		if (more == -1 ||
		    egress_origin(entry, escheme, sizeof(escheme), ehost, sizeof(ehost), eport,
			sizeof(eport), 1) == -1)
			continue;
		if (strcasecmp(host, ehost) == 0 &&
		    (!egress_entry_has_port(entry) || strcmp(port, eport) == 0))
			return 1;
	}
	return 0;
}

int
egress_same_base(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 0 && a[na - 1] == '/')
		na--;
	while (nb > 0 && b[nb - 1] == '/')
		nb--;
	return na > 0 && na == nb && memcmp(a, b, na) == 0;
}

int
egress_same_origin(const char *a, const char *b)
{
	char sa[16], ha[EGRESS_HOST_MAX], pa[8], sb[16], hb[EGRESS_HOST_MAX], pb[8];

	if (egress_origin(a, sa, sizeof(sa), ha, sizeof(ha), pa, sizeof(pa), 0) == -1 ||
	    egress_origin(b, sb, sizeof(sb), hb, sizeof(hb), pb, sizeof(pb), 0) == -1)
		return 0;
	return strcasecmp(sa, sb) == 0 && strcasecmp(ha, hb) == 0 && strcmp(pa, pb) == 0;
}
