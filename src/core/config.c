#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

enum config_type {
	CONFIG_STR,
	CONFIG_INT,
	CONFIG_BOOL
};

struct config_entry {
	const char *section;
	const char *key;
	enum config_type type;
	size_t offset;
	const char *def;
	long long min;
	long long max;
};

#define STR(s, k, field, d)                                               \
	{                                                                 \
		s, k, CONFIG_STR, offsetof(struct config, field), d, 0, 0 \
	}
#define INT(s, k, field, d, lo, hi)                                         \
	{                                                                   \
		s, k, CONFIG_INT, offsetof(struct config, field), d, lo, hi \
	}
#define BOOL(s, k, field, d)                                               \
	{                                                                  \
		s, k, CONFIG_BOOL, offsetof(struct config, field), d, 0, 1 \
	}

static const struct config_entry config_table[] = {
	STR("database", "host", db_host, "127.0.0.1"),
	INT("database", "port", db_port, "3306", 1, 65535),
	STR("database", "socket", db_socket, ""),
	STR("database", "user", db_user, "agentrun"),
	STR("database", "password", db_password, ""),
	STR("database", "name", db_name, "agentrun"),
	INT("database", "connect_timeout_s", db_connect_timeout_s, "5", 1, 300),
	/* No database call waits longer than this for the server (read or write). */
	INT("database", "io_timeout_s", db_io_timeout_s, "60", 1, 86400),

	STR("api", "listen", api_listen, "/run/agentrun/api.sock"),
	INT("api", "workers", api_workers, "0", 0, 256),
	/* Requests each worker holds at once; > 1 lets it group-commit new-session creates. */
	INT("api", "threads", api_threads, "16", 1, CONFIG_API_THREADS_MAX),
	INT("api", "backlog", api_backlog, "1024", 16, 65535),
	STR("api", "pidfile", api_pidfile, ""),
	/* How long a worker reuses a key resolution; at most 1 s of a revocation made elsewhere. */
	INT("api", "key_cache_ms", api_key_cache_ms, "1000", 0, 1000),
	/* Database time of one request; below nginx's fastcgi_read_timeout (60 s). */
	INT("api", "db_deadline_s", api_db_deadline_s, "20", 1, 50),
	/* How long a worker remembers that a key hash is unknown (no lookup meanwhile); 0 = off. */
	INT("api", "unknown_key_cache_ms", api_unknown_key_cache_ms, "2000", 0, 10000),
	/* Lookups finding no key per client address and second, all workers together; 0 = off. */
	INT("api", "unknown_keys_per_address", api_unknown_keys_per_address, "20", 0, 1000000),
	/* Runs waiting behind a session's active run ("multitask": "enqueue"); past it, 409. */
	INT("api", "max_queued_runs_per_session", api_max_queued_runs_per_session, "100", 1,
	    100000),

	STR("stream", "listen", stream_listen, "/run/agentrun/stream.sock"),
	INT("stream", "max_connections", stream_max_connections, "10000", 1, 1000000),
	INT("stream", "keepalive_s", stream_keepalive_s, "15", 1, 300),
	INT("stream", "poll_ms", stream_poll_ms, "250", 10, 60000),
	/* Open streams and waiting sync executions per API key / workspace; past them, 429. */
	INT("stream", "max_streams_per_key", stream_max_streams_per_key, "500", 1, 1000000),
	INT("stream", "max_streams_per_workspace", stream_max_streams_per_workspace, "2000", 1,
	    1000000),
	/* A request must arrive whole within this; a peer that stalls is disconnected. */
	INT("stream", "request_timeout_s", stream_request_timeout_s, "10", 1, 300),
	/* Fan-out sends batched into one system call (io_uring); off, or refused by the kernel: send(). */
	BOOL("stream", "io_uring", stream_io_uring, "true"),
	STR("stream", "pidfile", stream_pidfile, ""),

	INT("executor", "capacity", executor_capacity, "512", 1, 100000),
	INT("executor", "workspace_concurrency", executor_workspace_concurrency, "64", 1, 100000),
	INT("executor", "lease_s", executor_lease_s, "30", 2, 3600),
	INT("executor", "poll_ms", executor_poll_ms, "500", 10, 60000),
	INT("executor", "writers", executor_writers, "2", 1, CONFIG_EXECUTOR_WRITERS_MAX),
	/* Takeovers after a lost lease a run may have; the next one ends it failed (claim.c). */
	INT("executor", "max_takeovers", executor_max_takeovers, "10", 1, 1000),
	/* Expired idempotency keys deleted per statement by the housekeeping thread. */
	INT("executor", "purge_batch", executor_purge_batch, "500", 10, 100000),
	STR("executor", "pidfile", executor_pidfile, ""),

	STR("doorbell", "executor", doorbell_executor, "/run/agentrun/executor.bell"),
	STR("doorbell", "stream", doorbell_stream, "/run/agentrun/stream.bell"),

	STR("security", "master_key", security_master_key, ""),

	BOOL("tools", "allow_private", tools_allow_private, "false"),
	INT("tools", "max_response_bytes", tools_max_response_bytes, "1048576", 1024, 67108864),

	/* Server-wide provider endpoints; a run's route overrides them. */
	STR("openai", "base_url", openai_base_url, "https://api.openai.com/v1"),
	STR("openai", "api_key", openai_api_key, ""),
	STR("anthropic", "base_url", anthropic_base_url, "https://api.anthropic.com"),
	STR("anthropic", "api_key", anthropic_api_key, ""),
	/*
	 * Hosts a route's base_url may name although they resolve to loopback,
	 * private or link-local addresses (private LLM gateways); the executor
	 * checks the syntax at start.
	 */
	STR("providers", "allow_hosts", providers_allow_hosts, ""),

	INT("billing", "credits_per_usd", billing_credits_per_usd, "1000", 0, 1000000000),

	STR("log", "level", log_level, "info"),
};

#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

static int
config_apply(
    struct config *cfg, const struct config_entry *e, const char *value, char *err, size_t errsz)
{
	char *base = (char *)cfg + e->offset;

	switch (e->type) {
	case CONFIG_STR: {
		size_t len = strlen(value);
		if (len >= CONFIG_STR_MAX) {
			snprintf(err, errsz, "%s.%s: value too long (max %d bytes)", e->section,
			    e->key, CONFIG_STR_MAX - 1);
			return -1;
		}
		memcpy(base, value, len + 1);
		return 0;
	}
	case CONFIG_INT: {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || v < e->min || v > e->max) {
			snprintf(err, errsz, "%s.%s: \"%s\" is not an integer in [%lld, %lld]",
			    e->section, e->key, value, e->min, e->max);
			return -1;
		}
		*(long long *)(void *)base = v;
		return 0;
	}
	case CONFIG_BOOL:
		if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
		    strcmp(value, "1") == 0 || strcasecmp(value, "on") == 0)
			*(int *)(void *)base = 1;
		else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
		    strcmp(value, "0") == 0 || strcasecmp(value, "off") == 0)
			*(int *)(void *)base = 0;
		else {
			snprintf(err, errsz, "%s.%s: \"%s\" is not a boolean (true/false)",
			    e->section, e->key, value);
			return -1;
		}
		return 0;
	}
	return -1;
}

void
config_defaults(struct config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CONFIG_N; i++)
		if (config_apply(cfg, &config_table[i], config_table[i].def, err, sizeof(err)) ==
		    -1)
			fatalx("config default: %s", err);
}

int
config_set(struct config *cfg, const char *section, const char *key, const char *value, char *err,
    size_t errsz)
{
	for (size_t i = 0; i < CONFIG_N; i++)
		if (strcmp(config_table[i].section, section) == 0 &&
		    strcmp(config_table[i].key, key) == 0)
			return config_apply(cfg, &config_table[i], value, err, errsz);
	return 1; /* unknown key: the caller decides how loud to be */
}

struct config_parse {
	struct config *cfg;
	const char *path;
	char *err;
	size_t errsz;
	int failed;
};

static int
config_ini_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	char esc[3][128];
	int rc;

	if (p->failed)
		return 1;
	rc = config_set(p->cfg, section, name, value, p->err, p->errsz);
	if (rc == 1)
		log_warnx("msg=\"unknown config key ignored\" file=\"%s\" key=\"%s.%s\"",
		    log_escape(esc[0], sizeof(esc[0]), p->path),
		    log_escape(esc[1], sizeof(esc[1]), section),
		    log_escape(esc[2], sizeof(esc[2]), name));
	else if (rc == -1)
		p->failed = 1;
	return 1;
}

/* AGENTRUN_DATABASE_HOST etc.: section and key upper-cased. */
static int
config_env(struct config *cfg, char *err, size_t errsz)
{
	for (size_t i = 0; i < CONFIG_N; i++) {
		const struct config_entry *e = &config_table[i];
		char name[128];
		const char *v;
		size_t o;
		int n;

		n = snprintf(name, sizeof(name), "AGENTRUN_%s_%s", e->section, e->key);
		if (n < 0 || (size_t)n >= sizeof(name))
			continue;
		for (o = 0; name[o]; o++)
			if (name[o] >= 'a' && name[o] <= 'z')
				name[o] = (char)(name[o] - 'a' + 'A');
		if ((v = getenv(name)) == NULL)
			continue;
		if (config_apply(cfg, e, v, err, errsz) == -1) {
			size_t len = strlen(err);
			snprintf(err + len, errsz - len, " (from %s)", name);
			return -1;
		}
	}
	return 0;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errsz)
{
	struct config_parse p = { cfg, path, err, errsz, 0 };
	enum log_level lvl;
	int rc;

	config_defaults(cfg);
	if (path != NULL) {
		rc = ini_parse(path, config_ini_handler, &p);
		if (rc == -1) {
			snprintf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
			return -1;
		}
		if (rc > 0) {
			snprintf(err, errsz, "%s:%d: syntax error", path, rc);
			return -1;
		}
		if (p.failed) {
			size_t len = strlen(err);
			snprintf(err + len, errsz - len, " (in %s)", path);
			return -1;
		}
	}
	if (config_env(cfg, err, errsz) == -1)
		return -1;
	if (log_level_parse(cfg->log_level, &lvl) == -1) {
		snprintf(err, errsz, "log.level: \"%s\" is not one of debug, info, warn",
		    cfg->log_level);
		return -1;
	}
	if (cfg->security_master_key[0] != '\0' &&
	    (strlen(cfg->security_master_key) != 64 ||
		strspn(cfg->security_master_key, "0123456789abcdefABCDEF") != 64)) {
		snprintf(err, errsz, "security.master_key: must be 64 hex characters");
		return -1;
	}
	return 0;
}

const char *
config_default_path(void)
{
	const char *p = getenv("AGENTRUN_CONFIG");

	return p != NULL && *p != '\0' ? p : "/etc/agentrun/agentrun.conf";
}
