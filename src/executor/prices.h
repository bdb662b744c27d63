/*
 * The price table (models), cached for a few seconds: a call's cost is
 * fixed from the prices in force when it is recorded, and a price change is
 * seen within PRICES_TTL_MS. Unknown models cost 0 and are flagged unpriced.
 */
#ifndef AGENTRUN_EXECUTOR_PRICES_H
#define AGENTRUN_EXECUTOR_PRICES_H

#include "../core/money.h"

struct db;

#define PRICES_TTL_MS 5000

/* 1 priced (p filled), 0 unknown model (p zeroed). */
int prices_lookup(struct db *db, const char *provider, const char *model, struct money_prices *p);

void prices_free(void);

#endif
