/*
 * Configuration: one table (name, type, default, bounds) in config.c, read
 * from an INI file with inih, then overridden by AGENTRUN_<SECTION>_<KEY>
 * environment variables. Unknown keys warn; bad values are errors that name
 * the key.
 */
#ifndef AGENTRUN_CONFIG_H
#define AGENTRUN_CONFIG_H

#include <stddef.h>

#define CONFIG_STR_MAX 512
/* Upper bounds of settings that size arrays in the daemons. */
#define CONFIG_API_THREADS_MAX 64 /* api.threads: request threads per API worker */
#define CONFIG_EXECUTOR_WRITERS_MAX 8 /* executor.writers: commit lanes */

struct config {
	char db_host[CONFIG_STR_MAX];
	long long db_port;
	char db_socket[CONFIG_STR_MAX];
	char db_user[CONFIG_STR_MAX];
	char db_password[CONFIG_STR_MAX];
	char db_name[CONFIG_STR_MAX];
	long long db_connect_timeout_s;
	long long db_io_timeout_s; /* MYSQL_OPT_READ_TIMEOUT / WRITE_TIMEOUT */

	char api_listen[CONFIG_STR_MAX];
	long long api_workers;
	long long api_threads;
	long long api_backlog;
	char api_pidfile[CONFIG_STR_MAX];
	long long api_key_cache_ms;
	long long api_db_deadline_s; /* a request's database work ends by then: 503 */
	long long api_unknown_key_cache_ms;
	long long api_unknown_keys_per_address;
	long long api_max_queued_runs_per_session;

	char stream_listen[CONFIG_STR_MAX];
	long long stream_max_connections;
	long long stream_keepalive_s;
	long long stream_poll_ms;
	long long stream_max_streams_per_key;
	long long stream_max_streams_per_workspace;
	long long stream_request_timeout_s;
	int stream_io_uring; /* fan-out sends through io_uring where the kernel allows */
	char stream_pidfile[CONFIG_STR_MAX];

	long long executor_capacity;
	long long executor_workspace_concurrency;
	long long executor_lease_s;
	long long executor_poll_ms;
	long long executor_writers;
	long long executor_max_takeovers;
	long long executor_purge_batch;
	char executor_pidfile[CONFIG_STR_MAX];

	char doorbell_executor[CONFIG_STR_MAX];
	char doorbell_stream[CONFIG_STR_MAX];

	char security_master_key[CONFIG_STR_MAX];

	int tools_allow_private;
	long long tools_max_response_bytes;

	char openai_base_url[CONFIG_STR_MAX];
	char openai_api_key[CONFIG_STR_MAX];
	char anthropic_base_url[CONFIG_STR_MAX];
	char anthropic_api_key[CONFIG_STR_MAX];
	char providers_allow_hosts[CONFIG_STR_MAX]; /* route hosts allowed private addresses */

	long long billing_credits_per_usd;

	char log_level[CONFIG_STR_MAX];
};

/* Fills cfg with every default. */
void config_defaults(struct config *cfg);

/*
 * Loads defaults, then path (skipped when NULL), then the environment.
 * Returns 0, or -1 with a message naming the bad key or file in err.
 * Unknown keys are logged as warnings and ignored.
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errsz);

/* Sets one "section.key" from a string; used by the loader and the tests. */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
    char *err, size_t errsz);

/* The config file path a daemon uses when given none: $AGENTRUN_CONFIG or the default. */
const char *config_default_path(void);

#endif
