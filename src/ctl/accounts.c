/* agentrunctl workspace / user / key: bootstrap tenants and credentials. */
#include <stdio.h>
#include <string.h>

#include "../core/accounts.h"
#include "../core/db.h"
#include "ctl.h"

/* Finds "--name value" in argv[from…]; NULL when absent. */
static const char *
ctl_opt(int argc, char **argv, int from, const char *name)
{
	for (int i = from; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

/* Every argument from `from` on must be a known "--opt value" pair. */
static int
ctl_opts_known(int argc, char **argv, int from, const char *const *known)
{
	for (int i = from; i < argc; i += 2) {
		int ok = 0;

		for (size_t k = 0; known[k] != NULL; k++)
			ok |= strcmp(argv[i], known[k]) == 0;
		if (!ok || i + 1 >= argc) {
			fprintf(stderr, "agentrunctl: unexpected argument \"%s\"\n", argv[i]);
			return 0;
		}
	}
	return 1;
}

static int
ctl_db_error(struct db *db, const char *what)
{
	if (db_last_err(db) == DB_ERR_DUPLICATE)
		fprintf(stderr, "agentrunctl: %s: already exists\n", what);
	else
		fprintf(stderr, "agentrunctl: %s: %s\n", what, db_errmsg(db));
	return CTL_ERR;
}

int
ctl_workspace(struct db *db, int argc, char **argv)
{
	char id[ID_BUFSZ];

	if (argc != 3 || strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "usage: agentrunctl workspace create NAME\n");
		return CTL_USAGE;
	}
	if (strlen(argv[2]) == 0 || strlen(argv[2]) > 200) {
		fprintf(stderr, "agentrunctl: NAME must be 1 to 200 bytes\n");
		return CTL_USAGE;
	}
	if (accounts_workspace_create(db, argv[2], id) == -1)
		return ctl_db_error(db, "workspace create");
	printf("%s\n", id);
	return CTL_OK;
}

int
ctl_user(struct db *db, int argc, char **argv)
{
	static const char *const known[] = { "--workspace", "--email", "--name", NULL };
	const char *ws, *email, *name;
	char id[ID_BUFSZ];
	int ex;

	if (argc < 2 || strcmp(argv[1], "create") != 0 || !ctl_opts_known(argc, argv, 2, known) ||
	    (ws = ctl_opt(argc, argv, 2, "--workspace")) == NULL ||
	    (email = ctl_opt(argc, argv, 2, "--email")) == NULL) {
		fprintf(stderr,
		    "usage: agentrunctl user create --workspace ID --email EMAIL "
		    "[--name NAME]\n");
		return CTL_USAGE;
	}
	name = ctl_opt(argc, argv, 2, "--name");
	if (!id_valid(ws) || (ex = accounts_workspace_exists(db, ws)) == 0) {
		fprintf(stderr, "agentrunctl: workspace %s not found\n", ws);
		return CTL_ERR;
	}
	if (ex == -1)
		return ctl_db_error(db, "user create");
	if (strchr(email, '@') == NULL || strlen(email) > 254) {
		fprintf(stderr, "agentrunctl: EMAIL must be an e-mail address\n");
		return CTL_USAGE;
	}
	if (accounts_user_create(db, ws, email, name, id) == -1)
		return ctl_db_error(db, "user create");
	printf("%s\n", id);
	return CTL_OK;
}

static const char ctl_sql_user_ws[] = "SELECT workspace_id FROM users WHERE id = ?";

int
ctl_key(struct db *db, int argc, char **argv)
{
	static const char *const known[] = { "--user", "--role", "--name", NULL };
	char id[ID_BUFSZ], secret[APIKEY_SECRET_MAX], ws[ID_BUFSZ];
	const char *user, *role, *name;
	struct db_result *res;
	struct db_param p;
	int found;

	if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
		found = id_valid(argv[2]) ? accounts_key_revoke(db, NULL, argv[2]) : 0;
		if (found == -1)
			return ctl_db_error(db, "key revoke");
		if (found == 0) {
			fprintf(stderr, "agentrunctl: key %s not found\n", argv[2]);
			return CTL_ERR;
		}
		return CTL_OK;
	}
	if (argc < 2 || strcmp(argv[1], "create") != 0 || !ctl_opts_known(argc, argv, 2, known) ||
	    (user = ctl_opt(argc, argv, 2, "--user")) == NULL ||
	    (role = ctl_opt(argc, argv, 2, "--role")) == NULL ||
	    (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0)) {
		fprintf(stderr,
		    "usage: agentrunctl key create --user ID --role admin|member "
		    "[--name NAME]\n       agentrunctl key revoke KEY_ID\n");
		return CTL_USAGE;
	}
	name = ctl_opt(argc, argv, 2, "--name");
	p = dbp_str(user);
	if (!id_valid(user)) {
		fprintf(stderr, "agentrunctl: user %s not found\n", user);
		return CTL_ERR;
	}
	if (db_query(db, ctl_sql_user_ws, &p, 1, &res) == -1)
		return ctl_db_error(db, "key create");
	found = res->nrows > 0;
	if (found)
		snprintf(ws, sizeof(ws), "%s", db_cell(res, 0, 0));
	db_result_free(res);
	if (!found) {
		fprintf(stderr, "agentrunctl: user %s not found\n", user);
		return CTL_ERR;
	}
	if (accounts_key_create(db, ws, user, name, role, id, secret) == -1)
		return ctl_db_error(db, "key create");
	printf("%s %s\n", id, secret);
	return CTL_OK;
}
