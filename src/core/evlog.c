#include "evlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static const char evlog_sql_lock[] = "SELECT last_seq, status, active_run_id FROM sessions"
				     " WHERE workspace_id = ? AND id = ? FOR UPDATE";
static const char evlog_sql_insert[] =
    "INSERT IGNORE INTO events (session_id, seq, workspace_id, run_id, type, data, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, NOW(3))";
/* Queued runs are pending with queued = 1 (ix_runs_session_queue); seqs follow id order. */
static const char evlog_sql_insert_queued[] =
    "INSERT IGNORE INTO events (session_id, seq, workspace_id, run_id, type, data, created_at)"
    " SELECT session_id, ? + ROW_NUMBER() OVER (ORDER BY id), workspace_id, id, ?, ?, NOW(3)"
    " FROM runs WHERE session_id = ? AND queued = 1 AND status = 'pending'";
static const char evlog_sql_finish[] =
    "UPDATE sessions SET last_seq = ?, updated_at = NOW(3) WHERE id = ?";

int
evlog_begin(struct db *db, const char *workspace_id, const char *session_id, struct evlog_batch *b)
{
	struct db_param p[2] = { dbp_str(workspace_id), dbp_str(session_id) };
	struct db_result *res;
	int found;

	memset(b, 0, sizeof(*b));
	if (db_query(db, evlog_sql_lock, p, 2, &res) == -1)
		return -1;
	found = res->nrows > 0;
	if (found) {
		snprintf(b->workspace_id, sizeof(b->workspace_id), "%s", workspace_id);
		snprintf(b->session_id, sizeof(b->session_id), "%s", session_id);
		b->last_seq = db_cell_int(res, 0, 0, 0);
		b->next_seq = b->last_seq + 1;
		b->session_open = strcmp(db_cell(res, 0, 1), "open") == 0;
		snprintf(b->active_run_id, sizeof(b->active_run_id), "%s",
		    db_cell(res, 0, 2) != NULL ? db_cell(res, 0, 2) : "");
	}
	db_result_free(res);
	return found;
}

void
evlog_begin_new(
    struct evlog_batch *b, const char *workspace_id, const char *session_id, long long reserved)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->workspace_id, sizeof(b->workspace_id), "%s", workspace_id);
	snprintf(b->session_id, sizeof(b->session_id), "%s", session_id);
	b->last_seq = reserved;
	b->next_seq = 1;
	b->session_open = 1;
}

int
evlog_add(struct db *db, struct evlog_batch *b, const char *run_id, const char *type,
    const json_t *data, long long *seq_out)
{
	struct db_param p[6];
	char *text;
	int rc;

	if ((text = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15))) == NULL)
		return -1;
	p[0] = dbp_str(b->session_id);
	p[1] = DBP_INT(b->next_seq);
	p[2] = dbp_str(b->workspace_id);
	p[3] = dbp_str(run_id);
	p[4] = dbp_str(type);
	p[5] = dbp_str(text);
	rc = db_query(db, evlog_sql_insert, p, 6, NULL);
	free(text);
	if (rc == -1)
		return -1;
	/* INSERT IGNORE: 0 rows means the seq was taken (not under the session lock). */
	if (db_affected(db) == 1) {
		if (seq_out != NULL)
			*seq_out = b->next_seq;
		b->next_seq++;
	} else if (seq_out != NULL)
		*seq_out = 0;
	return 0;
}

int
evlog_add_queued(
    struct db *db, struct evlog_batch *b, const char *type, const json_t *data, long long expected)
{
	struct db_param p[4];
	char *text;
	int rc;

	if (expected == 0)
		return 0;
	if ((text = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15))) == NULL)
		return -1;
	p[0] = DBP_INT(b->next_seq - 1);
	p[1] = dbp_str(type);
	p[2] = dbp_str(text);
	p[3] = dbp_str(b->session_id);
	rc = db_query(db, evlog_sql_insert_queued, p, 4, NULL);
	free(text);
	/* Fewer rows: a seq was taken (not under the session lock) or the queue moved. */
	if (rc == -1 || db_affected(db) != (unsigned long long)expected)
		return -1;
	b->next_seq += expected;
	return 0;
}

int
evlog_finish(struct db *db, struct evlog_batch *b)
{
	struct db_param p[2];

	if (b->next_seq - 1 == b->last_seq)
		return 0;
	p[0] = DBP_INT(b->next_seq - 1);
	p[1] = dbp_str(b->session_id);
	if (db_query(db, evlog_sql_finish, p, 2, NULL) == -1)
		return -1;
	b->last_seq = b->next_seq - 1;
	return 0;
}
