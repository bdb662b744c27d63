/*
 * db.c without a server: the error text a connection failure leaves in
 * db_errmsg() is what the daemons log (log.c's key="value" lines), and
 * MariaDB's messages quote whatever they were given (a socket path, a
 * duplicate value, a string it could not convert), so it is kept escaped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/db.h"

/* Issue 14 item 9: no raw newline, quote or control byte reaches a log line. */
static void
test_errmsg_is_escaped(void **state)
{
	static struct config cfg;
	char err[256];
	const char *msg;
	struct db *db;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "database", "socket",
			     "/nonexistent/a\"b\nlevel=warn msg=\"forged\"\x01", err, sizeof(err)),
	    0);
	db_global_init();
	db = db_new(&cfg);
	assert_non_null(db);
	assert_int_equal(db_connect(db), -1);
	msg = db_errmsg(db);
	assert_non_null(strstr(msg, "nonexistent")); /* still says what failed */
	assert_null(strchr(msg, '\n'));
	assert_null(strchr(msg, '"'));
	assert_null(strchr(msg, '\x01'));
	assert_non_null(strstr(msg, "a\\x22b\\x0alevel=warn"));
	db_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errmsg_is_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
