#include "prices.h"

#include <stdlib.h>
#include <string.h>

#include "../core/db.h"
#include "../core/log.h"
#include "loop.h"

static const char prices_sql_all[] =
    "SELECT provider, model, input_per_mtok_nusd, cached_input_per_mtok_nusd,"
    " cache_write_per_mtok_nusd, output_per_mtok_nusd FROM models";

static struct db_result *prices_table;
static uint64_t prices_loaded_ms;

int
prices_lookup(struct db *db, const char *provider, const char *model, struct money_prices *p)
{
	uint64_t now = loop_now_ms();

	memset(p, 0, sizeof(*p));
	if (prices_table == NULL || now - prices_loaded_ms > PRICES_TTL_MS) {
		struct db_result *fresh;

		if (db_query(db, prices_sql_all, NULL, 0, &fresh) == 0) {
			db_result_free(prices_table);
			prices_table = fresh;
			prices_loaded_ms = now;
		} else
			log_warnx("msg=\"price table not reloaded\" errno=%u", db_last_errno(db));
	}
	for (size_t i = 0; prices_table != NULL && i < prices_table->nrows; i++)
		if (strcmp(db_cell(prices_table, i, 0), provider) == 0 &&
		    strcmp(db_cell(prices_table, i, 1), model) == 0) {
			p->input = db_cell_int(prices_table, i, 2, 0);
			p->cached_input = db_cell_int(prices_table, i, 3, 0);
			p->cache_write = db_cell_int(prices_table, i, 4, 0);
			p->output = db_cell_int(prices_table, i, 5, 0);
			return 1;
		}
	return 0;
}

void
prices_free(void)
{
	db_result_free(prices_table);
	prices_table = NULL;
}
