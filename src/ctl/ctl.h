/* agentrunctl sub-commands; each returns the process exit code. */
#ifndef AGENTRUN_CTL_H
#define AGENTRUN_CTL_H

struct config;
struct db;

/* The configuration agentrunctl was started with (main.c), for commands that need more than db. */
extern const struct config *ctl_cfg;

#define CTL_OK 0
#define CTL_ERR 1
#define CTL_USAGE 2

/* migrate.c */
int ctl_migrate(struct db *db, int argc, char **argv);

/* accounts.c: workspace / user / key */
int ctl_workspace(struct db *db, int argc, char **argv);
int ctl_user(struct db *db, int argc, char **argv);
int ctl_key(struct db *db, int argc, char **argv);

/* reports.c: report billing|usage, price set|list, reporting-user create */
int ctl_report(struct db *db, int argc, char **argv);
int ctl_price(struct db *db, int argc, char **argv);
int ctl_reporting_user(struct db *db, int argc, char **argv);

#endif
