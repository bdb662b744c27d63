#include "dbrows.h"

#include <stdlib.h>
#include <string.h>

const char *
dbrows_sql(struct dbrows_template *tpl, size_t k)
{
	size_t slot = 0, hl, rl, sl, tl, len;
	char *sql, *o;

	while (slot < DBROWS_SIZES && ((size_t)1 << slot) != k)
		slot++;
	if (slot == DBROWS_SIZES)
		return NULL;
	if ((sql = __atomic_load_n(&tpl->sql[slot], __ATOMIC_ACQUIRE)) != NULL)
		return sql;
	hl = strlen(tpl->head);
	rl = strlen(tpl->row);
	sl = strlen(tpl->sep);
	tl = strlen(tpl->tail);
	len = hl + k * rl + (k - 1) * sl + tl;
	if ((sql = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(sql, tpl->head, hl);
	o = sql + hl;
	for (size_t i = 0; i < k; i++) {
		if (i > 0) {
			memcpy(o, tpl->sep, sl);
			o += sl;
		}
		memcpy(o, tpl->row, rl);
		o += rl;
	}
	memcpy(o, tpl->tail, tl);
	o[tl] = '\0';
	/*
	 * Kept for the life of the process: each connection caches its prepared
	 * statement by this address. Templates are shared by the executor's
	 * writer threads: the first text published wins, a loser's (the same
	 * bytes) is freed.
	 */
	{
		char *none = NULL;

		if (!__atomic_compare_exchange_n(
			&tpl->sql[slot], &none, sql, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			free(sql);
			return none;
		}
	}
	return sql;
}

void
dbrows_init(struct dbrows *r, struct dbrows_template *tpl)
{
	memset(r, 0, sizeof(*r));
	r->tpl = tpl;
}

void
dbrows_free(struct dbrows *r)
{
	for (size_t i = 0; i < r->nowned; i++)
		free(r->owned[i]);
	free(r->owned);
	free(r->p);
	free(r->bytes);
	memset(r, 0, sizeof(*r));
}

static size_t
dbrows_value_bytes(const struct db_param *v)
{
	return v->type == DB_P_STR || v->type == DB_P_BLOB ? v->len : sizeof(long long);
}

int
dbrows_add(struct dbrows *r, const struct db_param *values)
{
	size_t nc = r->tpl->ncols, bytes = 0;

	if (r->oom)
		return -1;
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct db_param *p = realloc(r->p, cap * nc * sizeof(*p));
		size_t *b;

		if (p == NULL) {
			r->oom = 1;
			return -1;
		}
		r->p = p;
		if ((b = realloc(r->bytes, cap * sizeof(*b))) == NULL) {
			r->oom = 1;
			return -1;
		}
		r->bytes = b;
		r->cap = cap;
	}
	memcpy(r->p + r->nrows * nc, values, nc * sizeof(*values));
	for (size_t i = 0; i < nc; i++)
		bytes += dbrows_value_bytes(&values[i]);
	r->bytes[r->nrows++] = bytes;
	return 0;
}

char *
dbrows_keep(struct dbrows *r, char *s)
{
	if (s == NULL)
		return NULL;
	if (r->nowned == r->owncap) {
		size_t cap = r->owncap ? r->owncap * 2 : 16;
		char **o = realloc(r->owned, cap * sizeof(*o));

		if (o == NULL) {
			free(s);
			r->oom = 1;
			return NULL;
		}
		r->owned = o;
		r->owncap = cap;
	}
	r->owned[r->nowned++] = s;
	return s;
}

/* Moves src's rows to the end of *dst (src keeps no rows). 0 or -1. */
static int
dbrows_append(struct db_result **dst, struct db_result *src)
{
	struct db_result *d = *dst;
	size_t nc = src->ncols, cells;
	char **cell;
	unsigned long *len;

	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return -1;
		d->ncols = nc;
		*dst = d;
	}
	if (src->nrows == 0)
		return 0;
	cells = (d->nrows + src->nrows) * nc;
	if ((cell = realloc(d->cell, cells * sizeof(*cell))) == NULL)
		return -1;
	d->cell = cell;
	if ((len = realloc(d->len, cells * sizeof(*len))) == NULL)
		return -1;
	d->len = len;
	memcpy(d->cell + d->nrows * nc, src->cell, src->nrows * nc * sizeof(*cell));
	memcpy(d->len + d->nrows * nc, src->len, src->nrows * nc * sizeof(*len));
	d->nrows += src->nrows;
	src->nrows = 0; /* the cells now belong to d */
	return 0;
}

/* Rows in the next chunk: a power of two, within the row and byte caps. */
static size_t
dbrows_chunk(const struct dbrows *r, size_t from)
{
	size_t left = r->nrows - from, k = DBROWS_CHUNK_MAX, bytes = 0;

	while (k > left)
		k /= 2;
	for (size_t i = 0; i < k; i++)
		bytes += r->bytes[from + i];
	while (k > 1 && bytes > DBROWS_CHUNK_BYTES) {
		k /= 2;
		bytes = 0;
		for (size_t i = 0; i < k; i++)
			bytes += r->bytes[from + i];
	}
	return k;
}

/*
 * Sends every chunk; each chunk's result goes to on_res (borrowed) or is
 * appended to *merged (when merged is set). The one loop of dbrows_exec()
 * and dbrows_query().
 */
static int
dbrows_run(struct db *db, struct dbrows *r, const struct db_param *head,
    int (*on_res)(const struct db_result *res, void *arg), void *arg, unsigned long long *affected,
    struct db_result **merged)
{
	size_t nh = r->tpl->nhead, nc = r->tpl->ncols, from = 0;
	struct db_param *p = NULL;
	int want = on_res != NULL || merged != NULL, rc = -1;

	if (affected != NULL)
		*affected = 0;
	if (r->oom)
		return -1;
	if (r->nrows == 0)
		return 0;
	if ((p = malloc((nh + DBROWS_CHUNK_MAX * nc) * sizeof(*p))) == NULL)
		return -1;
	if (nh > 0)
		memcpy(p, head, nh * sizeof(*p));
	while (from < r->nrows) {
		size_t k = dbrows_chunk(r, from);
		const char *sql = dbrows_sql(r->tpl, k);
		struct db_result *res = NULL;
		int cb = 0;

		if (sql == NULL)
			goto out;
		memcpy(p + nh, r->p + from * nc, k * nc * sizeof(*p));
		if (db_query(db, sql, p, nh + k * nc, want ? &res : NULL) == -1)
			goto out;
		if (affected != NULL)
			*affected += db_affected(db);
		if (on_res != NULL)
			cb = on_res(res, arg);
		else if (merged != NULL)
			cb = dbrows_append(merged, res);
		db_result_free(res);
		if (cb == -1)
			goto out;
		from += k;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

int
dbrows_exec(struct db *db, struct dbrows *r, const struct db_param *head,
    int (*on_res)(const struct db_result *res, void *arg), void *arg, unsigned long long *affected)
{
	return dbrows_run(db, r, head, on_res, arg, affected, NULL);
}

int
dbrows_query(struct db *db, struct dbrows *r, const struct db_param *head, struct db_result **out)
{
	*out = NULL;
	if (dbrows_run(db, r, head, NULL, NULL, NULL, out) == -1) {
		db_result_free(*out);
		*out = NULL;
		return -1;
	}
	if (*out == NULL && (*out = calloc(1, sizeof(**out))) == NULL)
		return -1;
	return 0;
}
