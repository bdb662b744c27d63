/*
 * agentrunctl: the admin CLI. Output meant for scripts (ids, secrets) goes
 * to stdout alone; everything else to stderr.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/db.h"
#include "../core/log.h"
#include "ctl.h"

static const struct {
	const char *name;
	int (*fn)(struct db *, int, char **);
} ctl_commands[] = {
	{ "migrate", ctl_migrate },
	{ "workspace", ctl_workspace },
	{ "user", ctl_user },
	{ "key", ctl_key },
	{ "report", ctl_report },
	{ "price", ctl_price },
	{ "reporting-user", ctl_reporting_user },
};

const struct config *ctl_cfg;

static int
ctl_usage(void)
{
	fprintf(stderr,
	    "usage: agentrunctl [-c config] command ...\n"
	    "  migrate [--dir DIR]\n"
	    "  workspace create NAME\n"
	    "  user create --workspace ID --email EMAIL [--name NAME]\n"
	    "  key create --user ID --role admin|member [--name NAME]\n"
	    "  key revoke KEY_ID\n"
	    "  report billing|usage [--from DATE] [--to DATE] [--workspace ID]\n"
	    "         [--group-by day|agent|model|user|workspace] [--format table|csv|json]\n"
	    "  price set PROVIDER MODEL INPUT CACHED CACHE_WRITE OUTPUT   (USD per Mtok)\n"
	    "  price list\n"
	    "  reporting-user create [--name NAME] [--host HOST] [--password PASSWORD]\n");
	return CTL_USAGE;
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	const char *path = config_default_path();
	char err[512];
	struct db *db;
	int ch, rc = -1;

	log_init("agentrunctl", LOG_LEVEL_WARN);
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch == 'c')
			path = optarg;
		else
			return ctl_usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return ctl_usage();
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "agentrunctl: bad configuration: %s\n", err);
		return CTL_ERR;
	}
	ctl_cfg = &cfg;
	db_global_init();
	if ((db = db_new(&cfg)) == NULL)
		return CTL_ERR;
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
		if (strcmp(argv[0], ctl_commands[i].name) == 0) {
			if (db_connect(db) == -1) {
				fprintf(stderr, "agentrunctl: cannot connect to the database: %s\n",
				    db_errmsg(db));
				rc = CTL_ERR;
			} else
				rc = ctl_commands[i].fn(db, argc, argv);
			break;
		}
	db_free(db);
	return rc == -1 ? ctl_usage() : rc;
}
