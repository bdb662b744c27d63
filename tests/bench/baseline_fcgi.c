/*
 * The benchmarks' baseline FastCGI responder: what the simplest C program
 * on the same stack (libfcgi behind the same nginx, MariaDB Connector/C)
 * does per request, so the API's figures can be read as a fraction of it.
 *
 * Pre-forked like agentrun-api: the master opens one FastCGI socket, forks
 * -w workers that each hold one MariaDB connection and accept from that
 * socket with FCGX_Accept_r; SIGTERM stops everything. Per request:
 *
 *   GET  .../runs/{id}   one primary-key SELECT * on agentrun.runs (prepared
 *                        statement, as the API does), the row as a JSON
 *                        object of strings (200), or 404
 *   POST .../items       one INSERT of the request body into
 *                        agentrun_bench.items, autocommit: one durable commit
 *                        per request (201)
 *
 * usage: baseline_fcgi -l SOCKET -w WORKERS -S MYSQL_SOCKET -u USER [-p PASSWORD]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <mysql.h>

#define MAX_COLS 96
#define COL_BUF 65536
#define BODY_MAX (1024 * 1024)

static const char sql_get[] = "SELECT * FROM agentrun.runs WHERE id = ?";
static const char sql_put[] = "INSERT INTO agentrun_bench.items (id, body, created_at)"
			      " VALUES (UUID(), ?, NOW(3))";

static volatile sig_atomic_t got_term;

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

struct worker {
	MYSQL *db;
	MYSQL_STMT *get, *put;
	unsigned ncols;
	MYSQL_BIND res[MAX_COLS];
	char *buf[MAX_COLS];
	unsigned long len[MAX_COLS];
	my_bool isnull[MAX_COLS];
	char names[MAX_COLS][64];
	char *out;
	size_t outcap;
};

static void
die(const char *what, MYSQL *db)
{
	fprintf(stderr, "baseline_fcgi: %s: %s\n", what, db ? mysql_error(db) : strerror(errno));
	exit(1);
}

static MYSQL_STMT *
prepare(MYSQL *db, const char *sql)
{
	MYSQL_STMT *st = mysql_stmt_init(db);

	if (st == NULL || mysql_stmt_prepare(st, sql, strlen(sql)) != 0)
		die(sql, db);
	return st;
}

static void
worker_init(struct worker *w, const char *sock, const char *user, const char *pass)
{
	MYSQL_RES *meta;
	MYSQL_FIELD *f;

	memset(w, 0, sizeof(*w));
	if ((w->db = mysql_init(NULL)) == NULL)
		die("mysql_init", NULL);
	mysql_optionsv(w->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (mysql_real_connect(w->db, NULL, user, pass, NULL, 0, sock, 0) == NULL)
		die("connect", w->db);
	w->get = prepare(w->db, sql_get);
	w->put = prepare(w->db, sql_put);
	if ((meta = mysql_stmt_result_metadata(w->get)) == NULL)
		die("metadata", w->db);
	w->ncols = mysql_num_fields(meta);
	if (w->ncols > MAX_COLS)
		w->ncols = MAX_COLS;
	f = mysql_fetch_fields(meta);
	for (unsigned i = 0; i < w->ncols; i++) {
		snprintf(w->names[i], sizeof(w->names[i]), "%s", f[i].name);
		w->buf[i] = malloc(COL_BUF);
		w->res[i].buffer_type = MYSQL_TYPE_STRING;
		w->res[i].buffer = w->buf[i];
		w->res[i].buffer_length = COL_BUF;
		w->res[i].length = &w->len[i];
		w->res[i].is_null = &w->isnull[i];
	}
	mysql_free_result(meta);
	if (mysql_stmt_bind_result(w->get, w->res) != 0)
		die("bind result", w->db);
	w->outcap = 1 << 20;
	w->out = malloc(w->outcap);
}

/* Appends s (n bytes) JSON-escaped; the buffer is sized for the worst case. */
static size_t
json_str(char *o, size_t at, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	o[at++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			o[at++] = '\\';
			o[at++] = (char)c;
		} else if (c < 0x20) {
			o[at++] = '\\';
			o[at++] = 'u';
			o[at++] = '0';
			o[at++] = '0';
			o[at++] = hex[c >> 4];
			o[at++] = hex[c & 15];
		} else
			o[at++] = (char)c;
	}
	o[at++] = '"';
	return at;
}

static void
reply(FCGX_Request *r, const char *status, const char *body, size_t n)
{
	char head[256];
	/* libfcgi's own FCGX_FPrintF knows no %zu: format here. */
	int hn = snprintf(head, sizeof(head),
	    "Status: %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    status, n);

	FCGX_PutStr(head, hn, r->out);
	FCGX_PutStr(body, (int)n, r->out);
}

static int
valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n != 36)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') ||
			id[i] == '-'))
			return 0;
	return 1;
}

static void
serve_get(struct worker *w, FCGX_Request *r, const char *id)
{
	MYSQL_BIND p;
	unsigned long idlen = strlen(id);
	size_t at = 0;
	int rc;

	if (!valid_id(id)) {
		reply(r, "404 Not Found", "{\"error\":\"not found\"}", 21);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.buffer_type = MYSQL_TYPE_STRING;
	p.buffer = (char *)id;
	p.buffer_length = idlen;
	p.length = &idlen;
	if (mysql_stmt_bind_param(w->get, &p) != 0 || mysql_stmt_execute(w->get) != 0 ||
	    mysql_stmt_store_result(w->get) != 0) {
		reply(r, "500 Internal Server Error", "{\"error\":\"db\"}", 14);
		return;
	}
	rc = mysql_stmt_fetch(w->get);
	if (rc == MYSQL_NO_DATA) {
		mysql_stmt_free_result(w->get);
		reply(r, "404 Not Found", "{\"error\":\"not found\"}", 21);
		return;
	}
	w->out[at++] = '{';
	for (unsigned i = 0; i < w->ncols; i++) {
		size_t n = w->len[i] < COL_BUF ? w->len[i] : COL_BUF;

		if (at + 6 * n + 200 > w->outcap)
			break;
		if (i > 0)
			w->out[at++] = ',';
		at = json_str(w->out, at, w->names[i], strlen(w->names[i]));
		w->out[at++] = ':';
		if (w->isnull[i]) {
			memcpy(w->out + at, "null", 4);
			at += 4;
		} else
			at = json_str(w->out, at, w->buf[i], n);
	}
	w->out[at++] = '}';
	while (mysql_stmt_fetch(w->get) == 0)
		;
	mysql_stmt_free_result(w->get);
	reply(r, "200 OK", w->out, at);
}

static void
serve_put(struct worker *w, FCGX_Request *r)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	long n = cl != NULL ? strtol(cl, NULL, 10) : 0;
	unsigned long len;
	MYSQL_BIND p;
	char *body;
	int got;

	if (n < 0 || n > BODY_MAX) {
		reply(r, "413 Payload Too Large", "{\"error\":\"too large\"}", 21);
		return;
	}
	body = malloc((size_t)n + 1);
	got = n > 0 ? FCGX_GetStr(body, (int)n, r->in) : 0;
	len = got > 0 ? (unsigned long)got : 0;
	memset(&p, 0, sizeof(p));
	p.buffer_type = MYSQL_TYPE_STRING;
	p.buffer = body;
	p.buffer_length = len;
	p.length = &len;
	if (mysql_stmt_bind_param(w->put, &p) != 0 || mysql_stmt_execute(w->put) != 0)
		reply(r, "500 Internal Server Error", "{\"error\":\"db\"}", 14);
	else
		reply(r, "201 Created", "{\"ok\":true}", 11);
	free(body);
}

static void
serve(struct worker *w, FCGX_Request *r)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", r->envp);
	const char *uri = FCGX_GetParam("DOCUMENT_URI", r->envp);
	const char *slash = uri != NULL ? strrchr(uri, '/') : NULL;

	if (method != NULL && strcmp(method, "POST") == 0)
		serve_put(w, r);
	else if (slash != NULL && strstr(uri, "/runs/") != NULL)
		serve_get(w, r, slash + 1);
	else
		reply(r, "404 Not Found", "{\"error\":\"no route\"}", 20);
}

static void
worker_main(int fd, const char *sock, const char *user, const char *pass)
{
	static struct worker w;
	FCGX_Request r;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, SIG_DFL);
	worker_init(&w, sock, user, pass);
	FCGX_Init();
	FCGX_InitRequest(&r, fd, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		serve(&w, &r);
		FCGX_Finish_r(&r);
	}
	exit(0);
}

int
main(int argc, char **argv)
{
	const char *listen = NULL, *sock = NULL, *user = NULL, *pass = NULL;
	int workers = 4, opt, fd;
	pid_t *kids;

	while ((opt = getopt(argc, argv, "l:w:S:u:p:")) != -1) {
		switch (opt) {
		case 'l': listen = optarg; break;
		case 'w': workers = atoi(optarg); break;
		case 'S': sock = optarg; break;
		case 'u': user = optarg; break;
		case 'p': pass = optarg; break;
		default: goto usage;
		}
	}
	if (listen == NULL || sock == NULL || user == NULL || workers < 1 || workers > 256)
		goto usage;
	mysql_library_init(0, NULL, NULL);
	FCGX_Init();
	(void)unlink(listen);
	if ((fd = FCGX_OpenSocket(listen, 1024)) < 0)
		die("FCGX_OpenSocket", NULL);
	(void)chmod(listen, 0666);
	kids = calloc((size_t)workers, sizeof(pid_t));
	{
		/* No SA_RESTART: the signal must interrupt waitpid() below. */
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			signal(SIGINT, SIG_DFL);
			worker_main(fd, sock, user, pass);
		}
		kids[i] = pid;
	}
	fprintf(stderr, "baseline_fcgi: %d workers on %s\n", workers, listen);
	while (!got_term) {
		int status;

		if (waitpid(-1, &status, 0) == -1 && errno != EINTR)
			break;
		if (!got_term)
			fprintf(stderr, "baseline_fcgi: a worker exited (status %d)\n", status);
	}
	for (int i = 0; i < workers; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	while (waitpid(-1, NULL, 0) > 0)
		;
	(void)unlink(listen);
	return 0;
usage:
	fprintf(stderr,
	    "usage: baseline_fcgi -l SOCKET -w WORKERS -S MYSQL_SOCKET -u USER [-p PASSWORD]\n");
	return 2;
}
