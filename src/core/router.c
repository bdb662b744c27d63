#include "router.h"

#include <stdio.h>
#include <string.h>

static const struct {
	unsigned bit;
	const char *name;
} router_methods[] = {
	{ HTTP_GET, "GET" },
	{ HTTP_POST, "POST" },
	{ HTTP_PUT, "PUT" },
	{ HTTP_PATCH, "PATCH" },
	{ HTTP_DELETE, "DELETE" },
};

#define ROUTER_NMETHODS (sizeof(router_methods) / sizeof(router_methods[0]))

unsigned
router_method(const char *name)
{
	for (size_t i = 0; name != NULL && i < ROUTER_NMETHODS; i++)
		if (strcmp(name, router_methods[i].name) == 0)
			return router_methods[i].bit;
	return 0;
}

/* Matches one pattern; fills m's params. 1 on match. */
static int
router_match_one(const char *pattern, const char *path, struct route_match *m)
{
	const char *p = pattern, *q = path;

	m->nparams = 0;
	while (*p != '\0' && *q != '\0') {
		if (*p == '{') {
			const char *pend = strchr(p, '}');
			size_t seg = strcspn(q, "/");

			if (pend == NULL || seg == 0 || seg >= ROUTE_PARAM_LEN ||
			    m->nparams >= ROUTE_PARAMS_MAX)
				return 0;
			memcpy(m->params[m->nparams], q, seg);
			m->params[m->nparams][seg] = '\0';
			m->nparams++;
			p = pend + 1;
			q += seg;
			continue;
		}
		if (*p != *q)
			return 0;
		p++;
		q++;
	}
	return *p == '\0' && *q == '\0';
}

enum router_result
router_match(const struct route *table, size_t n, const char *method, const char *path,
    struct route_match *m, unsigned *allow)
{
	unsigned want = router_method(method);
	struct route_match tmp;

	*allow = 0;
	for (size_t i = 0; i < n; i++) {
		if (!router_match_one(table[i].pattern, path, &tmp))
			continue;
		if (table[i].methods & want) {
			*m = tmp;
			m->route = &table[i];
			return ROUTER_OK;
		}
		*allow |= table[i].methods;
	}
	return *allow ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

void
router_allow_header(unsigned methods, char *out, size_t outsz)
{
	size_t o = 0;

	if (outsz == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < ROUTER_NMETHODS; i++) {
		int w;

		if (!(methods & router_methods[i].bit))
			continue;
		w = snprintf(out + o, outsz - o, "%s%s", o ? ", " : "", router_methods[i].name);
		if (w < 0 || (size_t)w >= outsz - o)
			return;
		o += (size_t)w;
	}
}
