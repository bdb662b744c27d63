/*
 * Caps on what one tenant holds open in the stream worker.
 *
 * Each SSE stream and each waiting sync execution is a descriptor here and
 * in nginx, keep-alives, and a share of every poll. Without a cap one key
 * held 2,000 streams and other tenants' delivery latency went from ~20 ms
 * to ~500 ms (issue 14), so a request is counted against its API key and
 * its workspace from its authentication until its connection closes, and
 * refused with 429 past stream.max_streams_per_key or
 * stream.max_streams_per_workspace.
 *
 * Two small chained hash tables of counters, keyed by id string; an entry
 * lives while its count is above zero. Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "stream.h"

#define STREAMCAP_BUCKETS 1024

struct streamcap_entry {
	char id[ID_BUFSZ];
	long count;
	struct streamcap_entry *next;
};

static struct streamcap_entry *streamcap_keys[STREAMCAP_BUCKETS];
static struct streamcap_entry *streamcap_workspaces[STREAMCAP_BUCKETS];

static struct streamcap_entry **
streamcap_slot(struct streamcap_entry **table, const char *id)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	struct streamcap_entry **pp;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 16777619u;
	for (pp = &table[h % STREAMCAP_BUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0)
			break;
	return pp;
}

static long
streamcap_count(struct streamcap_entry **table, const char *id)
{
	struct streamcap_entry *e = *streamcap_slot(table, id);

	return e != NULL ? e->count : 0;
}

/* +1 or -1 on id's counter; 0, or -1 when out of memory (nothing changed). */
static int
streamcap_add(struct streamcap_entry **table, const char *id, long delta)
{
	struct streamcap_entry **pp = streamcap_slot(table, id), *e = *pp;

	if (e == NULL) {
		if (delta < 0 || (e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		memcpy(e->id, id, strnlen(id, ID_BUFSZ - 1));
		*pp = e;
	}
	e->count += delta;
	if (e->count <= 0) {
		*pp = e->next;
		free(e);
	}
	return 0;
}

enum streamcap_result
streamcap_take(struct server *s, struct sconn *c)
{
	const struct config *cfg = s->cfg;

	if (c->capped)
		return STREAMCAP_OK;
	if (streamcap_count(streamcap_keys, c->key_id) >= cfg->stream_max_streams_per_key)
		return STREAMCAP_KEY;
	if (streamcap_count(streamcap_workspaces, c->workspace_id) >=
	    cfg->stream_max_streams_per_workspace)
		return STREAMCAP_WORKSPACE;
	if (streamcap_add(streamcap_keys, c->key_id, 1) == -1)
		return STREAMCAP_KEY;
	if (streamcap_add(streamcap_workspaces, c->workspace_id, 1) == -1) {
		(void)streamcap_add(streamcap_keys, c->key_id, -1);
		return STREAMCAP_WORKSPACE;
	}
	c->capped = 1;
	return STREAMCAP_OK;
}

void
streamcap_release(struct sconn *c)
{
	if (!c->capped)
		return;
	(void)streamcap_add(streamcap_keys, c->key_id, -1);
	(void)streamcap_add(streamcap_workspaces, c->workspace_id, -1);
	c->capped = 0;
}
