/*
 * agentrunctl migrate: applies sql/migrations/NNNN_name.sql in order and
 * records each in schema_migrations. Files are split into statements at a
 * ';' that ends a line (migrations keep to that). DDL is not transactional
 * in MariaDB, so statements are written to be re-runnable (IF NOT EXISTS,
 * INSERT IGNORE) and a file is recorded only once all of it has applied.
 * A named lock keeps two migrators from interleaving.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/db.h"
#include "ctl.h"

#ifndef MIGRATIONS_DIR
#define MIGRATIONS_DIR "/usr/local/share/agentrun/migrations"
#endif
#define MIGRATE_MIN_SERVER 100600UL /* MariaDB 10.6 */
#define MIGRATE_MAX_FILES 1000
#define MIGRATE_MAX_FILE_BYTES (4 * 1024 * 1024)

static const char mig_sql_create[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version VARCHAR(255) CHARACTER SET ascii NOT NULL PRIMARY KEY,"
    " applied_at DATETIME(3) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char mig_sql_applied[] = "SELECT 1 FROM schema_migrations WHERE version = ?";
static const char mig_sql_record[] =
    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(3))";
static const char mig_sql_lock[] = "SELECT GET_LOCK('agentrun_migrate', 60)";
static const char mig_sql_unlock[] = "SELECT RELEASE_LOCK('agentrun_migrate')";

static int
mig_is_file_name(const char *n)
{
	size_t len = strlen(n);

	return len > 9 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' && n[1] <= '9' && n[2] >= '0' &&
	    n[2] <= '9' && n[3] >= '0' && n[3] <= '9' && n[4] == '_' &&
	    strcmp(n + len - 4, ".sql") == 0;
}

static int
mig_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
mig_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(MIGRATE_MAX_FILE_BYTES + 1)) != NULL) {
		n = fread(buf, 1, MIGRATE_MAX_FILE_BYTES + 1, f);
		if (n > MIGRATE_MAX_FILE_BYTES || ferror(f)) {
			free(buf);
			buf = NULL;
		} else
			buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* Executes each statement of text; 0 or -1 (with the failing line printed). */
static int
mig_apply_text(struct db *db, const char *file, char *text)
{
	char *stmt = text, *p = text;
	int line = 1, stmt_line = 1;

	for (; *p != '\0'; p++) {
		if (*p == '\n')
			line++;
		if (*p != ';')
			continue;
		{
			char *q = p + 1;

			while (*q == ' ' || *q == '\t' || *q == '\r')
				q++;
			if (*q != '\n' && *q != '\0')
				continue;
		}
		*p = '\0';
		if (strspn(stmt, " \t\r\n") != strlen(stmt) && db_exec_text(db, stmt) == -1) {
			fprintf(stderr, "agentrunctl: %s: statement near line %d failed: %s\n",
			    file, stmt_line, db_errmsg(db));
			return -1;
		}
		stmt = p + 1;
		stmt_line = line;
	}
	/* Trailing text without ';' that is more than comments and blanks is an error. */
	for (char *l = stmt; l != NULL && *l != '\0';) {
		char *nl = strchr(l, '\n');
		size_t sp = strspn(l, " \t\r");

		if (l[sp] != '\n' && l[sp] != '\0' && strncmp(l + sp, "--", 2) != 0) {
			fprintf(stderr, "agentrunctl: %s: statement without ';' near line %d\n",
			    file, stmt_line);
			return -1;
		}
		l = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

int
ctl_migrate(struct db *db, int argc, char **argv)
{
	const char *dir = getenv("AGENTRUN_MIGRATIONS_DIR");
	char *names[MIGRATE_MAX_FILES];
	size_t nnames = 0, applied = 0;
	struct db_result *res = NULL;
	unsigned long ver;
	struct dirent *de;
	DIR *d;
	int rc = CTL_ERR;

	if (dir == NULL || dir[0] == '\0')
		dir = MIGRATIONS_DIR;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else {
			fprintf(stderr, "usage: agentrunctl migrate [--dir DIR]\n");
			return CTL_USAGE;
		}
	}
	ver = db_server_version(db);
	if (ver < MIGRATE_MIN_SERVER) {
		fprintf(stderr,
		    "agentrunctl: MariaDB %lu.%lu is too old: 10.6 or newer is needed\n",
		    ver / 10000, ver / 100 % 100);
		return CTL_ERR;
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "agentrunctl: %s: %s\n", dir, strerror(errno));
		return CTL_ERR;
	}
	while ((de = readdir(d)) != NULL && nnames < MIGRATE_MAX_FILES)
		if (mig_is_file_name(de->d_name) && (names[nnames] = strdup(de->d_name)) != NULL)
			nnames++;
	closedir(d);
	qsort(names, nnames, sizeof(names[0]), mig_cmp);

	if (db_query(db, mig_sql_lock, NULL, 0, &res) == -1 || db_cell_int(res, 0, 0, 0) != 1) {
		fprintf(stderr, "agentrunctl: another migration holds the lock\n");
		goto out;
	}
	db_result_free(res);
	res = NULL;
	if (db_exec_text(db, mig_sql_create) == -1) {
		fprintf(
		    stderr, "agentrunctl: cannot create schema_migrations: %s\n", db_errmsg(db));
		goto unlock;
	}
	for (size_t i = 0; i < nnames; i++) {
		struct db_param p = dbp_str(names[i]);
		char path[4096];
		char *text;
		int done;

		if (db_query(db, mig_sql_applied, &p, 1, &res) == -1)
			goto db_fail;
		done = res->nrows > 0;
		db_result_free(res);
		res = NULL;
		if (done)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path) ||
		    (text = mig_read(path)) == NULL) {
			fprintf(stderr, "agentrunctl: cannot read %s/%s\n", dir, names[i]);
			goto unlock;
		}
		done = mig_apply_text(db, names[i], text);
		free(text);
		if (done == -1)
			goto unlock;
		if (db_query(db, mig_sql_record, &p, 1, NULL) == -1)
			goto db_fail;
		printf("applied %s\n", names[i]);
		applied++;
	}
	if (applied == 0)
		fprintf(stderr, "agentrunctl: schema up to date (%zu migrations)\n", nnames);
	rc = CTL_OK;
	goto unlock;
db_fail:
	fprintf(stderr, "agentrunctl: database error: %s\n", db_errmsg(db));
unlock:
	if (db_query(db, mig_sql_unlock, NULL, 0, &res) == 0)
		db_result_free(res);
	res = NULL;
out:
	db_result_free(res);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	return rc;
}
