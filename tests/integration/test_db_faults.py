"""Database faults that only the real server's protocol shows, driven through
src/core/db.c by tests/tools/dbprobe (built with the daemons) against
the suite's own MariaDB."""

import os
import subprocess

from conftest import BUILD_DIR

PROBE = os.path.join(BUILD_DIR, "tests", "tools", "dbprobe")


def _probe(stack, *args, env=None, timeout=60):
    e = dict(stack.env)
    e.update(env or {})
    try:
        p = subprocess.run([PROBE, stack.config] + list(args), env=e,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("dbprobe %s hung for %d s; it printed: %r" % (
            " ".join(args), timeout, exc.stdout)) from None
    steps = {}
    for line in p.stdout.decode().splitlines():
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        steps[kv.get("step")] = kv
    return p.returncode, steps, p.stderr.decode("utf-8", "replace")


def test_select_failing_while_rows_are_sent_is_retried(stack):
    """A SELECT chosen as deadlock victim while the server sends its rows
    (issue 15: claim against claim) fails mysql_stmt_store_result. The
    statement must not be reused as it is: the retry's execute used to wait
    in poll(-1) for the rest of the old result until the server killed the
    connection. Here the retry (db_txn) and the next call answer at once."""
    rc, steps, err = _probe(stack, "midresult", timeout=30)
    assert steps.get("txn") == {"step": "txn", "rc": "0", "attempts": "2", "rows": "5000"}, \
        (steps, err)
    assert steps["query"]["rc"] == "-1" and steps["query"]["retryable"] == "1", steps
    assert steps["query"]["errno"] == "1213", steps
    assert steps["again"] == {"step": "again", "rc": "0", "rows": "5000"}, steps
    assert rc == 0, (steps, err)


def test_no_database_call_waits_past_io_timeout(stack):
    """database.io_timeout_s bounds every wait for the server: a statement
    that gets no answer fails as a lost connection (retryable) instead of
    hanging the caller. db_query re-runs it once on a fresh connection, so
    the call ends after about twice the timeout, well before the statement
    would have."""
    rc, steps, err = _probe(stack, "sleep", "20",
                            env={"AGENTRUN_DATABASE_IO_TIMEOUT_S": "2"}, timeout=60)
    s = steps.get("sleep")
    assert rc == 0 and s is not None, (rc, steps, err)
    assert s["rc"] == "-1" and s["retryable"] == "1", s
    assert 1500 <= float(s["elapsed_ms"]) <= 8000, s
